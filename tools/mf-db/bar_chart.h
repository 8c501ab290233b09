// The chart of mf-db report's page (tools/mf-db/report.h): one inline SVG of horizontal
// bars, time per configuration, the winner and the default marked, with a legend and axis
// labels. Self-contained: no fonts, scripts or links outside it.
#pragma once

#include <string>
#include <vector>

namespace mf::tools {

struct Bar {
  std::string label;   // the configuration as the page shows it (UTF-8; escaped when drawn)
  std::string detail;  // its tooltip: the whole configuration, its measurements
  double time_us = 0.0;
  bool winner = false;
  bool is_default = false;
};

struct BarChart {
  std::string title;      // what the chart is of, for screen readers and the SVG's title
  std::vector<Bar> bars;  // top to bottom
};

// Labels longer than this are cut (with …); the tooltip keeps the whole configuration.
inline constexpr std::size_t kLabelCharacters = 100;

// The chart as an <svg> element. Throws NotUtf8 (tools/mf-db/html.h) when a text is not UTF-8.
std::string svg_bar_chart(const BarChart& chart);

}  // namespace mf::tools
