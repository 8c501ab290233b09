#include "config_provider.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "mf/ir/error.h"
#include "mf/ir/json.h"
#include "mf/ir/problem_key.h"

namespace mf::runtime {
namespace {

// $MFJIT_TILE_CONFIG ("warps=8,block_k=64"): parameters that replace the chosen ones where
// the choice has them, so that one setting can serve a forward and a backward plan. For
// measuring configurations by hand; the plan's generator still checks the result, so a bad
// value fails plan creation with the rule it breaks.
void apply_override(ir::TileConfig& config, std::string_view text) {
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const std::size_t equals = item.find('=');
    const std::string name(item.substr(0, equals));
    char* end = nullptr;
    const std::string value = equals == std::string_view::npos ? "" : std::string(item.substr(equals + 1));
    const long long number = std::strtoll(value.c_str(), &end, 10);
    if (name.empty() || value.empty() || *end != '\0')
      ir::fail(ir::ErrorKind::kInvalidArgument,
               "MFJIT_TILE_CONFIG: '" + std::string(item) + "' is not name=integer (example: warps=8,block_k=64)");
    if (config.get(name)) config.set(name, number);
  }
}

const char* vendor_of(mf_backend backend) {
  switch (backend) {
    case MF_BACKEND_CUDA: return "nvidia";
    case MF_BACKEND_HIP: return "amd";
    default: return "cpu";
  }
}

// The size buckets of a key ("bucket_n=512" → {"bucket_n", 512}). A key read from a
// database may be anything: a field without a value, or whose value is no finite number,
// is no bucket (so that every distance is a finite number and sorting by it is sound).
std::vector<std::pair<std::string, double>> buckets(const std::string& key) {
  std::vector<std::pair<std::string, double>> out;
  std::size_t at = 0;
  while ((at = key.find(";bucket_", at)) != std::string::npos) {
    const std::size_t end = std::min(key.find(';', at + 1), key.size()), equals = key.find('=', at);
    if (equals < end) {
      const double value = std::strtod(key.substr(equals + 1, end - equals - 1).c_str(), nullptr);
      if (std::isfinite(value)) out.emplace_back(key.substr(at + 1, equals - at - 1), std::max(1.0, value));
    }
    at = end;
  }
  return out;
}

ir::TileConfig config_of(const tuning_db::WinnerRecord& winner) {
  return nlohmann::json::parse(winner.trial.config).get<ir::TileConfig>();
}

// Whether mf-tune has anything to choose for the problem: tile parameters, or more than one
// generator (the cpu backend's generators have no parameters, but which one wins is measured).
bool worth_tuning(const ir::Problem& problem, const Backend& backend, const ir::TileConfig& default_config) {
  return !default_config.params.empty() || backend.spaces(problem).size() > 1;
}

}  // namespace

double bucket_distance(const std::string& a, const std::string& b) {
  const auto left = buckets(a), right = buckets(b);
  double distance = 0.0;
  for (const auto& [name, value] : left)
    for (const auto& [other_name, other_value] : right)
      if (name == other_name) distance += std::abs(std::log2(value) - std::log2(other_value));
  return distance;
}

tuning_db::DeviceRecord device_record(const Backend& backend) {
  const mf_device_info& info = backend.device();
  return {vendor_of(backend.kind()),  info.name,           info.arch,
          info.multiprocessors,       info.l2_cache_bytes, info.memory_bytes,
          info.driver_version,        backend.toolkit_version()};
}

void apply_tile_config_override(ConfigChoice& choice) {
  const char* text = std::getenv("MFJIT_TILE_CONFIG");
  if (text == nullptr || *text == '\0') return;
  const ir::TileConfig before = choice.config;
  apply_override(choice.config, text);
  if (!(choice.config == before)) choice.source = "override";
}

TunedConfigProvider::TunedConfigProvider(std::string db_path) : path_(std::move(db_path)) {}

ConfigChoice TunedConfigProvider::choose(const ir::Problem& problem, const std::string& problem_key,
                                         const Backend& backend) {
  ConfigChoice choice{backend.default_config(problem), "default", "", ""};
  const auto device = device_record(backend);
  const auto hash = backend.generator_hash(problem);
  {
    const std::lock_guard lock(mutex_);
    warning_.clear();
    try {
      if (auto found = tuned(problem, problem_key, backend, device, hash)) {
        choice = std::move(*found);
      } else if (worth_tuning(problem, backend, choice.config)) {
        record_miss(problem, problem_key, device, hash);
      }
    } catch (const std::exception& error) {
      warn(error.what());
    }
    choice.db_warning = warning_;  // this plan's, not an earlier one's
  }
  apply_tile_config_override(choice);
  return choice;
}

std::optional<ConfigChoice> TunedConfigProvider::tuned(const ir::Problem& problem, const std::string& key,
                                                       const Backend& backend, const tuning_db::DeviceRecord& device,
                                                       const std::string& hash) {
  if (!reader_) {
    if (!std::filesystem::exists(path_)) return std::nullopt;  // nothing tuned yet
    try {
      reader_.emplace(tuning_db::Database::open(path_, {tuning_db::Mode::kReadOnly}));
    } catch (const tuning_db::Error& error) {
      warn(error.what());
      return std::nullopt;
    }
  }
  if (auto exact = reader_->winner(device, key, hash)) {
    ir::TileConfig config = config_of(*exact);
    const auto why = backend.rejects(problem, config);
    if (!why) return ConfigChoice{std::move(config), "tuned:exact", key, ""};
    warn(fmt::format("the tuned configuration of {} does not fit it ({})", key, *why), "trying its key family");
  }
  // The nearest neighbour of the family whose configuration fits this problem.
  auto family = reader_->family_winners(device, ir::key_family(problem), hash);
  std::stable_sort(family.begin(), family.end(), [&](const auto& a, const auto& b) {
    return bucket_distance(key, a.key) < bucket_distance(key, b.key);
  });
  for (const auto& neighbour : family) {
    if (neighbour.key == key) continue;  // the exact winner, refused above
    ir::TileConfig config = config_of(neighbour);
    if (!backend.rejects(problem, config)) return ConfigChoice{std::move(config), "tuned:nearest", neighbour.key, ""};
  }
  return std::nullopt;
}

void TunedConfigProvider::record_miss(const ir::Problem& problem, const std::string& key,
                                      const tuning_db::DeviceRecord& device, const std::string& hash) {
  // A miss is worth little next to plan creation's latency: while another process (mf-tune)
  // holds the write lock, it is dropped rather than waited for.
  tuning_db::OpenOptions quick;
  quick.busy_timeout_ms = 50;
  quick.busy_retries = 0;
  try {
    if (!writer_) {
      std::error_code ignored;
      std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ignored);
      writer_.emplace(tuning_db::Database::open(path_, quick));
    }
    writer_->record_miss(device, {key, ir::key_family(problem), nlohmann::json(problem).dump()}, hash);
  } catch (const tuning_db::Error& error) {
    if (error.kind() != tuning_db::ErrorKind::kBusy) throw;
  }
}

void TunedConfigProvider::warn(const std::string& message, const char* consequence) {
  const std::string where = message.find(path_) == std::string::npos ? fmt::format("tuning database {}: ", path_) : "";
  const std::string text = fmt::format("{}{}; {}", where, message, consequence);
  // Once per distinct problem, on stderr: a degraded tuning database is worth knowing of,
  // never worth failing for.
  static std::mutex printed_mutex;
  static std::set<std::string> printed;
  {
    const std::lock_guard lock(printed_mutex);
    if (printed.insert(text).second) std::fprintf(stderr, "mfjit: warning: %s\n", text.c_str());
  }
  warning_ = text;
}

}  // namespace mf::runtime
