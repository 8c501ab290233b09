// The JSON form of tuning-database winners (mf-db export / import, docs/tuning-db.md):
// {"format": "mfjit-tuning/1", "winners": [...]}.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "mf/tuner/db/records.h"

namespace mf::tools {

constexpr const char* kTuningFormat = "mfjit-tuning/1";

nlohmann::json to_json(const std::vector<tuner::db::WinnerRecord>& winners);
// Throws std::runtime_error naming the winner index and field that is wrong.
std::vector<tuner::db::WinnerRecord> winners_from_json(const nlohmann::json& document);

// Which of two winners for the same (device, problem, generator hash) to keep: the faster
// one when their times (the decisions' times) differ by more than 2 %, else the one whose
// decision was not noisy (no noise note), else the one of the more thorough search (more
// trials), else the older one. True keeps `existing`.
bool keep_existing(const tuner::db::WinnerRecord& existing, const tuner::db::WinnerRecord& incoming);

}  // namespace mf::tools
