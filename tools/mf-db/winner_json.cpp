#include "winner_json.h"

#include <fmt/format.h>

#include <stdexcept>

namespace mf::tools {

using tuner::db::WinnerRecord;

nlohmann::json to_json(const std::vector<WinnerRecord>& winners) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& w : winners) {
    const auto& t = *w.trial.timing;
    list.push_back({
        {"key", w.key},
        {"family", w.family},
        {"problem", nlohmann::json::parse(w.problem_json)},
        {"device",
         {{"vendor", w.device.vendor},
          {"name", w.device.name},
          {"arch", w.device.arch},
          {"multiprocessors", w.device.multiprocessors},
          {"l2_bytes", w.device.l2_bytes},
          {"memory_bytes", w.device.memory_bytes},
          {"driver_version", w.device.driver_version},
          {"toolkit_version", w.device.toolkit_version}}},
        {"generator", w.trial.generator},
        {"generator_hash", w.trial.generator_hash},
        {"config", nlohmann::json::parse(w.trial.config)},
        {"timing", {{"median_us", t.median_us}, {"min_us", t.min_us}, {"spread_us", t.spread_us}, {"samples", t.samples}}},
        {"provenance",
         {{"strategy", w.provenance.strategy}, {"trials", w.provenance.trials}, {"margin", w.provenance.margin}}},
        {"created_at", w.created_at},
    });
  }
  return {{"format", kTuningFormat}, {"winners", list}};
}

std::vector<WinnerRecord> winners_from_json(const nlohmann::json& document) {
  if (!document.is_object() || document.value("format", "") != kTuningFormat)
    throw std::runtime_error(fmt::format("not an mfjit tuning export: \"format\" must be \"{}\"", kTuningFormat));
  std::vector<WinnerRecord> out;
  const auto& list = document.at("winners");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& item = list[i];
    auto field = [&](const nlohmann::json& object, const char* name) -> const nlohmann::json& {
      if (!object.contains(name)) throw std::runtime_error(fmt::format("winners[{}]: missing \"{}\"", i, name));
      return object.at(name);
    };
    try {
      WinnerRecord w;
      w.key = field(item, "key").get<std::string>();
      w.family = field(item, "family").get<std::string>();
      w.problem_json = field(item, "problem").dump();
      const auto& d = field(item, "device");
      w.device = {field(d, "vendor").get<std::string>(),   field(d, "name").get<std::string>(),
                  field(d, "arch").get<std::string>(),     field(d, "multiprocessors").get<std::int64_t>(),
                  field(d, "l2_bytes").get<std::int64_t>(), field(d, "memory_bytes").get<std::int64_t>(),
                  field(d, "driver_version").get<std::int64_t>(), field(d, "toolkit_version").get<std::string>()};
      w.trial.generator = field(item, "generator").get<std::string>();
      w.trial.generator_hash = field(item, "generator_hash").get<std::string>();
      const auto& config = field(item, "config");
      if (!config.is_object()) throw std::runtime_error(fmt::format("winners[{}]: \"config\" must be an object", i));
      w.trial.config = config.dump();
      const auto& t = field(item, "timing");
      w.trial.timing = tuner::db::Timing{field(t, "median_us").get<double>(), field(t, "min_us").get<double>(),
                                         field(t, "spread_us").get<double>(), field(t, "samples").get<std::int64_t>()};
      const auto& p = field(item, "provenance");
      w.provenance = {field(p, "strategy").get<std::string>(), field(p, "trials").get<std::int64_t>(),
                      field(p, "margin").get<double>()};
      w.created_at = field(item, "created_at").get<std::string>();
      out.push_back(std::move(w));
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(fmt::format("winners[{}]: {}", i, e.what()));
    }
  }
  return out;
}

bool keep_existing(const WinnerRecord& existing, const WinnerRecord& incoming) {
  const double a = existing.trial.timing->median_us, b = incoming.trial.timing->median_us;
  if (b < a * 0.98) return false;
  if (a < b * 0.98) return true;
  if (existing.provenance.trials != incoming.provenance.trials)
    return existing.provenance.trials > incoming.provenance.trials;
  return existing.created_at <= incoming.created_at;
}

}  // namespace mf::tools
