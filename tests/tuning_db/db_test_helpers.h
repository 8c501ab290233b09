// Shared pieces of the tuning-database tests: a scratch folder, sample records.
#pragma once

#include <filesystem>
#include <string>

#include "mf/tuning_db/database.h"

namespace mf::tuning_db::testing {

// A fresh folder under the system's temporary directory, removed with its contents.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

DeviceRecord h200(std::int64_t driver = 13000);
ProblemRecord problem(const std::string& key, const std::string& family = "v1;op=evo_attention;fam=a");
TrialRecord ok_trial(const std::string& config, double median_us, const std::string& hash = "hash1");
TrialRecord failed_trial(const std::string& config, TrialStatus status, const std::string& hash = "hash1");

}  // namespace mf::tuning_db::testing
