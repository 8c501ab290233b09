// What the tuning database stores, as plain values: the device a result was measured on,
// one trial (a configuration measured or failed), and a chosen winner with its provenance.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace mf::tuning_db {

// Everything that can change which kernel is fastest, or whether an old result still holds.
struct DeviceRecord {
  std::string vendor;  // "nvidia", "amd", "cpu"
  std::string name;    // "NVIDIA H200"
  std::string arch;    // "sm_90", "gfx942", "x86_64"
  std::int64_t multiprocessors = 0;
  std::int64_t l2_bytes = 0;
  std::int64_t memory_bytes = 0;
  std::int64_t driver_version = 0;  // 13000 for CUDA 13.0
  std::string toolkit_version;      // the run-time compiler's version, "nvrtc 13.0"

  friend bool operator==(const DeviceRecord&, const DeviceRecord&) = default;
};

// The problem as the runtime keys it (ir::problem_key, ir::key_family) and its JSON.
struct ProblemRecord {
  std::string key;
  std::string family;
  std::string json;
};

enum class TrialStatus { kOk, kCompileError, kWrongResult, kLaunchError, kTimeout };
const char* name_of(TrialStatus status);
std::optional<TrialStatus> trial_status_from(const std::string& name);

// Device-event timing of one configuration, in microseconds.
struct Timing {
  double median_us = 0.0;
  double min_us = 0.0;
  double spread_us = 0.0;  // interquartile range of the samples
  std::int64_t samples = 0;
};

struct TrialRecord {
  std::string generator;       // "template"
  std::string generator_hash;  // the generator's source hash: results of other code never apply
  std::string config;          // the tile configuration as a JSON object
  TrialStatus status = TrialStatus::kOk;
  std::string message;            // why a failed trial failed
  std::optional<Timing> timing;   // present when status is kOk
  std::int64_t id = 0;            // the row's id, when read from the database (0 before it is written)
};

// How a winner was chosen.
struct Provenance {
  std::string strategy;    // "exhaustive", "random", "descent" (an imported winner keeps its own)
  std::int64_t trials = 0; // trials the search measured
  double margin = 0.0;     // runner-up's time / winner's time − 1 (0 without a runner-up)
  // Why the decision was noisy and what the tuner did about it ("" when its measurements
  // agreed). A winner without one has a margin of at least kMarginFloor.
  std::string noise{};
};

// The lowest margin of a winner without a noise note: a decided winner's margin is at
// least −kMaxTie / (1 + kMaxTie) (mf/tuner/search.h), above this; the schema checks it.
inline constexpr double kMarginFloor = -0.03;
// The note of a winner below the floor from before schema version 3 (migrated, or imported
// from an older export).
inline constexpr const char* kNoiseNoteBeforeVersion3 =
    "decided before mfjit looked for noise, with a margin below -3 %";

// A winner as stored, with what it was measured on.
struct WinnerRecord {
  std::string key;
  std::string family;
  std::string problem_json;
  DeviceRecord device;
  TrialRecord trial;
  Provenance provenance;
  std::string created_at;  // UTC, ISO 8601
};

// A problem a plan asked for that had no winner, for `mf-tune --untuned`.
struct MissRecord {
  std::string key;
  std::string family;
  std::string problem_json;
  DeviceRecord device;
  std::string generator_hash;
  std::int64_t count = 0;
  std::string last_seen;
};

}  // namespace mf::tuning_db
