// mf-db report: one self-contained HTML page of a tuning database (inline CSS and SVG; no
// script, font or link outside it) — its winners per device and problem, and per winner
// the configurations its search measured as a chart (tools/mf-db/bar_chart.h), the winner
// and the default marked. docs/tuning.md ("The database") describes the page.
#pragma once

#include <cstddef>
#include <string>

#include "mf/tuning_db/database.h"

namespace mf::tools {

// The most configurations one problem's chart shows: the fastest, and then the winner and
// the default where they are slower (so a chart has at most two more); the page says how
// many of how many each shows. Keeps the page of a database of exhaustive searches (648
// configurations a problem) small: a chart of 31 EvoAttention forward configurations is 18 KB.
inline constexpr std::size_t kChartConfigurations = 30;

struct Report {
  std::string html;
  std::size_t winners = 0;
  std::size_t devices = 0;
};

// The page of `db`. Throws NotUtf8 (tools/mf-db/html.h) when the database holds text that
// is not UTF-8, and what the database's reads throw for a damaged one.
Report html_report(const tuning_db::Database& db);

}  // namespace mf::tools
