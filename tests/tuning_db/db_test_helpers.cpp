#include "db_test_helpers.h"

#include <unistd.h>

#include <atomic>
#include <system_error>

namespace mf::tuning_db::testing {

ScratchDir::ScratchDir() {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          ("mf_tuner_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

DeviceRecord h200(std::int64_t driver) {
  return {"nvidia", "NVIDIA H200", "sm_90", 132, 60 << 20, 141LL << 30, driver, "nvrtc 13.0"};
}

ProblemRecord problem(const std::string& key, const std::string& family) { return {key, family, "{\"op\": \"evo_attention\", \"n\": 1}"}; }

TrialRecord ok_trial(const std::string& config, double median_us, const std::string& hash) {
  return {"template", hash, config, TrialStatus::kOk, "", Timing{median_us, median_us * 0.98, median_us * 0.01, 50}};
}

TrialRecord failed_trial(const std::string& config, TrialStatus status, const std::string& hash) {
  return {"template", hash, config, status, "it failed", std::nullopt};
}

}  // namespace mf::tuning_db::testing
