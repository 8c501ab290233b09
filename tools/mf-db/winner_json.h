// The JSON form of tuning-database winners (mf-db export / import, docs/tuning-db.md):
// {"format": "mfjit-tuning/1", "winners": [...]}.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "mf/tuning_db/records.h"

namespace mf::tools {

constexpr const char* kTuningFormat = "mfjit-tuning/1";

nlohmann::json to_json(const std::vector<tuning_db::WinnerRecord>& winners);
// Throws std::runtime_error naming the winner index and field that is wrong. Every winner
// is read field by field (kinds and ranges), then checked as check_winner does.
std::vector<tuning_db::WinnerRecord> winners_from_json(const nlohmann::json& document);

// Checks a winner measured elsewhere (an export's, another database's) against the IR and
// the generator spaces of this mfjit: its problem is an IR problem that validates, its key
// and family are the ones the IR derives from that problem, its generator is one the
// device's backend has and serves the problem, and its configuration names that generator
// (or none) and is a configuration of the generator's space — no unknown parameter, every
// value one of the space's, every constraint but the device's shared memory met (which the
// record does not say; plans check it on the device). Rewrites problem_json in the IR's own
// form. Throws std::runtime_error "<path>.<field>: why" ("winners[2].config.warps: ...").
void check_winner(tuning_db::WinnerRecord& winner, const std::string& path);

// Which of two winners for the same (device, problem, generator hash) to keep: the faster
// one when their times (the decisions' times) differ by more than 2 %, else the one whose
// decision was not noisy (no noise note), else the one of the more thorough search (more
// trials), else the older one. True keeps `existing`.
bool keep_existing(const tuning_db::WinnerRecord& existing, const tuning_db::WinnerRecord& incoming);

}  // namespace mf::tools
