// Where a plan's tile configuration comes from: the tuning database (the exact problem,
// then the nearest tuned problem of its key family that the configuration still fits),
// else the generator's default; $MFJIT_TILE_CONFIG then replaces the parameters it names
// (docs/c-api.md).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "backend.h"
#include "mf/tuning_db/database.h"

namespace mf::runtime {

struct ConfigChoice {
  ir::TileConfig config;
  std::string source;      // "default", "tuned:exact", "tuned:nearest", "override"
  std::string tuned_from;  // the problem key whose winner was taken (tuned sources)
  std::string db_warning;  // why the tuning database could not be used, if it could not
};

class ConfigProvider {
 public:
  virtual ~ConfigProvider() = default;
  virtual ConfigChoice choose(const ir::Problem& problem, const std::string& problem_key,
                              const Backend& backend) = 0;
};

// How far two problems of one family are apart: the summed log2 ratio of the size buckets
// their keys share ("bucket_n=512"). Keys come from the database, so any text is taken.
double bucket_distance(const std::string& a, const std::string& b);

// The tuning database's device identity of a backend's device.
tuning_db::DeviceRecord device_record(const Backend& backend);

// The database is opened on first use, read-only for lookups (a missing file means nothing
// is tuned yet) and read-write when a miss is recorded, which creates it. Any failure of
// the database degrades to the generator's default with a warning (stderr once per path,
// and the plan's description); plan creation never fails because of it. Thread-safe.
class TunedConfigProvider final : public ConfigProvider {
 public:
  explicit TunedConfigProvider(std::string db_path);
  ConfigChoice choose(const ir::Problem& problem, const std::string& problem_key, const Backend& backend) override;

 private:
  std::optional<ConfigChoice> tuned(const ir::Problem& problem, const std::string& key, const Backend& backend,
                                    const tuning_db::DeviceRecord& device, const std::string& hash);
  void record_miss(const ir::Problem& problem, const std::string& key, const tuning_db::DeviceRecord& device,
                   const std::string& hash);
  void warn(const std::string& message, const char* consequence = "plans use the generators' defaults");

  std::string path_;
  std::mutex mutex_;
  std::optional<tuning_db::Database> reader_, writer_;
  std::string warning_;  // of the choice being made
};

// Applies $MFJIT_TILE_CONFIG to a choice (source "override" when it changes anything).
void apply_tile_config_override(ConfigChoice& choice);

}  // namespace mf::runtime
