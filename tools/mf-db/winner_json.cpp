#include "winner_json.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "mf/ir/json.h"
#include "mf/ir/problem_key.h"
#include "mf/ir/validate.h"
#include "mf/runtime/tuning_identity.h"

namespace mf::tools {

using tuning_db::WinnerRecord;

namespace {

// A JSON column of a winner read from a database: a damaged or hostile file may hold
// anything there.
nlohmann::json json_column(const WinnerRecord& w, const std::string& text, const char* what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    throw std::runtime_error(fmt::format("the winner of {} has a {} that is not JSON: the database is damaged", w.key,
                                         what));
  }
}

}  // namespace

nlohmann::json to_json(const std::vector<WinnerRecord>& winners) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& w : winners) {
    if (!w.trial.timing)
      throw std::runtime_error(fmt::format("the winner of {} has no timing: the database is damaged", w.key));
    const auto& t = *w.trial.timing;
    list.push_back({
        {"key", w.key},
        {"family", w.family},
        {"problem", json_column(w, w.problem_json, "problem")},
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
        {"config", json_column(w, w.trial.config, "configuration")},
        {"timing", {{"median_us", t.median_us}, {"min_us", t.min_us}, {"spread_us", t.spread_us}, {"samples", t.samples}}},
        {"provenance",
         {{"strategy", w.provenance.strategy},
          {"trials", w.provenance.trials},
          {"margin", w.provenance.margin},
          {"noise", w.provenance.noise}}},
        {"created_at", w.created_at},
    });
  }
  return {{"format", kTuningFormat}, {"winners", list}};
}

namespace {

// One JSON object of an export, read field by field: each read checks the field's kind and
// value and throws std::runtime_error naming its path ("winners[2].timing.samples").
class Fields {
 public:
  Fields(const nlohmann::json& object, std::string path) : object_(object), path_(std::move(path)) {
    if (!object_.is_object()) throw std::runtime_error(fmt::format("{} must be an object", path_));
  }

  bool has(const char* name) const { return object_.contains(name); }
  const nlohmann::json& at(const char* name) const {
    if (!object_.contains(name)) throw std::runtime_error(fmt::format("{}: missing \"{}\"", path_, name));
    return object_.at(name);
  }
  Fields object(const char* name) const { return Fields(at(name), where(name)); }
  std::string text(const char* name) const {
    const auto& value = at(name);
    if (!value.is_string() || value.get<std::string>().empty())
      throw std::runtime_error(fmt::format("{} must be a non-empty string", where(name)));
    return value.get<std::string>();
  }
  std::int64_t integer(const char* name, std::int64_t at_least) const {
    const auto& value = at(name);
    if (!value.is_number_integer() || value.get<std::int64_t>() < at_least)
      throw std::runtime_error(fmt::format("{} must be an integer of at least {}, not {}", where(name), at_least,
                                           value.dump()));
    return value.get<std::int64_t>();
  }
  // A finite number; `positive` also refuses 0 and below, else below 0 only.
  double number(const char* name, bool positive) const {
    const auto& value = at(name);
    const bool ok = value.is_number() && std::isfinite(value.get<double>()) &&
                    (positive ? value.get<double>() > 0.0 : value.get<double>() >= 0.0);
    if (!ok)
      throw std::runtime_error(fmt::format("{} must be a finite number {}, not {}", where(name),
                                           positive ? "above 0" : "of at least 0", value.dump()));
    return value.get<double>();
  }
  const std::string& path() const { return path_; }

 private:
  std::string where(const char* name) const { return path_ + "." + name; }
  const nlohmann::json& object_;
  std::string path_;
};

// The generators a tuning database can name (ir::TileConfig::generator; "" is the
// backend's first).
bool known_generator(const std::string& name) {
  return name.empty() || name == "template" || name == "mlir" || name == "reference";
}

// "2026-12-07T01:23:45Z" or with fractional seconds, as the database writes created_at.
// Checked by hand: GCC 12's <regex> trips -Wmaybe-uninitialized in the sanitized build.
bool iso_timestamp(const std::string& text) {
  constexpr std::string_view kForm = "dddd-dd-ddTdd:dd:dd";  // d: a digit
  if (text.size() < kForm.size() + 1 || text.back() != 'Z') return false;
  for (std::size_t i = 0; i < kForm.size(); ++i)
    if (kForm[i] == 'd' ? std::isdigit(static_cast<unsigned char>(text[i])) == 0 : text[i] != kForm[i]) return false;
  const std::string_view rest = std::string_view(text).substr(kForm.size(), text.size() - kForm.size() - 1);
  if (rest.empty()) return true;
  if (rest.size() < 2 || rest[0] != '.') return false;
  for (const char c : rest.substr(1))
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) return false;
  return true;
}

// provenance.noise: the tuner's note on a noisy decision, "" when there was none. Exports
// of mfjit before schema version 3 have no such field: a winner among them whose margin is
// below the floor gets the note the database's migration gives one (tuning_db/src/schema.cpp).
std::string noise_note(const Fields& provenance, double margin) {
  if (!provenance.has("noise"))
    return margin < tuning_db::kMarginFloor ? tuning_db::kNoiseNoteBeforeVersion3 : "";
  const auto& noise = provenance.at("noise");
  if (!noise.is_string())
    throw std::runtime_error(fmt::format("{}.noise must be a string, not {}", provenance.path(), noise.dump()));
  if (noise.get<std::string>().empty() && margin < tuning_db::kMarginFloor)
    throw std::runtime_error(fmt::format("{}.margin is {:.1f} %, below {:.0f} %, and {}.noise does not say why",
                                         provenance.path(), 100 * margin, 100 * tuning_db::kMarginFloor,
                                         provenance.path()));
  return noise.get<std::string>();
}

WinnerRecord winner_from_json(const Fields& item) {
  WinnerRecord w;
  w.key = item.text("key");
  w.family = item.text("family");
  w.problem_json = item.object("problem").at("op").is_string() ? item.at("problem").dump() : "";
  if (w.problem_json.empty()) throw std::runtime_error(fmt::format("{}.problem.op must be a string", item.path()));
  const Fields d = item.object("device");
  w.device = {d.text("vendor"), d.text("name"), d.text("arch"), d.integer("multiprocessors", 1),
              d.integer("l2_bytes", 0), d.integer("memory_bytes", 0), d.integer("driver_version", 0),
              d.text("toolkit_version")};
  if (w.device.vendor != "nvidia" && w.device.vendor != "amd" && w.device.vendor != "cpu")
    throw std::runtime_error(fmt::format("{}.device.vendor must be nvidia, amd or cpu, not \"{}\"", item.path(),
                                         w.device.vendor));
  const auto& generator = item.at("generator");
  if (!generator.is_string() || !known_generator(generator.get<std::string>()))
    throw std::runtime_error(fmt::format("{}.generator must be template, mlir or reference, not {}", item.path(),
                                         generator.dump()));
  w.trial.generator = generator.get<std::string>();
  w.trial.generator_hash = item.text("generator_hash");
  const Fields config = item.object("config");
  for (const auto& [name, value] : item.at("config").items()) {
    if (name == "generator") {  // the generator the configuration names, where not the backend's first
      if (!value.is_string() || value.get<std::string>() != w.trial.generator)
        throw std::runtime_error(fmt::format("{}.config.generator must be the winner's generator \"{}\", not {}",
                                             item.path(), w.trial.generator, value.dump()));
    } else if (!value.is_number_integer()) {
      throw std::runtime_error(fmt::format("{}.config.{} must be an integer, not {}", item.path(), name, value.dump()));
    }
  }
  w.trial.config = item.at("config").dump();
  const Fields t = item.object("timing");
  w.trial.timing = tuning_db::Timing{t.number("median_us", true), t.number("min_us", true), t.number("spread_us", false),
                                     t.integer("samples", 1)};
  if (w.trial.timing->min_us > w.trial.timing->median_us)
    throw std::runtime_error(fmt::format("{}.timing.min_us is above its median_us", item.path()));
  const Fields p = item.object("provenance");
  const auto& margin = p.at("margin");
  if (!margin.is_number() || !std::isfinite(margin.get<double>()))
    throw std::runtime_error(fmt::format("{}.provenance.margin must be a finite number, not {}", item.path(),
                                         margin.dump()));
  w.provenance = {p.text("strategy"), p.integer("trials", 1), margin.get<double>()};
  w.provenance.noise = noise_note(p, w.provenance.margin);
  w.created_at = item.text("created_at");
  if (!iso_timestamp(w.created_at))
    throw std::runtime_error(fmt::format("{}.created_at must be a UTC time like 2026-12-07T01:23:45Z, not \"{}\"",
                                         item.path(), w.created_at));
  return w;
}

// "a, b, c" of a space's parameter names or one axis's values.
template <class T>
std::string listed(const std::vector<T>& items) {
  std::string out;
  for (const auto& item : items) out += fmt::format("{}{}", out.empty() ? "" : ", ", item);
  return out;
}

}  // namespace

void check_winner(WinnerRecord& w, const std::string& path) {
  ir::Problem problem;
  try {
    problem = nlohmann::json::parse(w.problem_json).get<ir::Problem>();
    ir::validate(problem);
  } catch (const ir::Error& error) {
    // from_json names the field from "problem" down ("problem.op: unknown operator ...");
    // validation names the tensor ("q: ...").
    const std::string what = error.what();
    throw std::runtime_error(what.rfind("problem", 0) == 0 ? fmt::format("{}.{}", path, what)
                                                           : fmt::format("{}.problem: {}", path, what));
  } catch (const nlohmann::json::exception&) {
    throw std::runtime_error(fmt::format("{}.problem: not JSON", path));
  }
  const std::string key = ir::problem_key(problem), family = ir::key_family(problem);
  if (w.key != key)
    throw std::runtime_error(fmt::format("{}.key: \"{}\" is not the key of its problem, \"{}\"", path, w.key, key));
  if (w.family != family)
    throw std::runtime_error(
        fmt::format("{}.family: \"{}\" is not the key family of its problem, \"{}\"", path, w.family, family));
  w.problem_json = nlohmann::json(problem).dump();

  compiler::ParameterSpace space;
  try {
    space = runtime::tuning_record_space(w.device, problem, w.trial.generator);
  } catch (const std::invalid_argument& error) {  // names the field: "generator: ...", "device.arch: ..."
    throw std::runtime_error(fmt::format("{}.{}", path, error.what()));
  } catch (const ir::Error& error) {
    throw std::runtime_error(fmt::format("{}.generator: {}", path, error.what()));
  }
  ir::TileConfig config;
  try {
    config = nlohmann::json::parse(w.trial.config).get<ir::TileConfig>();
  } catch (const std::exception&) {
    throw std::runtime_error(fmt::format("{}.config: not an object of integer parameters", path));
  }
  if (!config.generator.empty() && config.generator != w.trial.generator)
    throw std::runtime_error(fmt::format("{}.config.generator: \"{}\" is not the winner's generator \"{}\"", path,
                                         config.generator, w.trial.generator));
  std::vector<std::string> names;
  for (const auto& [name, values] : space.axes) names.push_back(name);
  for (const auto& [name, value] : config.params) {
    const auto axis = std::find_if(space.axes.begin(), space.axes.end(), [&](const auto& a) { return a.first == name; });
    if (axis == space.axes.end())
      throw std::runtime_error(
          names.empty() ? fmt::format("{}.config.{}: the {} generator has no tile parameters", path, name, w.trial.generator)
                        : fmt::format("{}.config.{}: not a parameter of the {} generator for this problem (its "
                                      "parameters: {})",
                                      path, name, w.trial.generator, listed(names)));
    if (std::find(axis->second.begin(), axis->second.end(), value) == axis->second.end())
      throw std::runtime_error(fmt::format("{}.config.{}: {} is not one of the {} generator's values ({})", path, name,
                                           value, w.trial.generator, listed(axis->second)));
  }
  for (const auto& name : names)
    if (!config.get(name))
      throw std::runtime_error(
          fmt::format("{}.config: missing \"{}\", a parameter of the {} generator", path, name, w.trial.generator));
  if (space.reject)
    if (const auto why = space.reject(config)) throw std::runtime_error(fmt::format("{}.config: {}", path, *why));
}

std::vector<WinnerRecord> winners_from_json(const nlohmann::json& document) {
  const bool ours = document.is_object() && document.contains("format") && document.at("format").is_string() &&
                    document.at("format").get<std::string>() == kTuningFormat;
  if (!ours)
    throw std::runtime_error(fmt::format("not an mfjit tuning export: \"format\" must be \"{}\"", kTuningFormat));
  if (!document.contains("winners") || !document.at("winners").is_array())
    throw std::runtime_error("an mfjit tuning export's \"winners\" must be an array");
  std::vector<WinnerRecord> out;
  const auto& list = document.at("winners");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string path = fmt::format("winners[{}]", i);
    out.push_back(winner_from_json(Fields(list[i], path)));
    check_winner(out.back(), path);
  }
  return out;
}

bool keep_existing(const WinnerRecord& existing, const WinnerRecord& incoming) {
  const double a = existing.trial.timing->median_us, b = incoming.trial.timing->median_us;
  if (b < a * 0.98) return false;
  if (a < b * 0.98) return true;
  if (existing.provenance.noise.empty() != incoming.provenance.noise.empty()) return existing.provenance.noise.empty();
  if (existing.provenance.trials != incoming.provenance.trials)
    return existing.provenance.trials > incoming.provenance.trials;
  return existing.created_at <= incoming.created_at;
}

}  // namespace mf::tools
