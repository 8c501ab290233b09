#include "report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "bar_chart.h"
#include "html.h"
#include "mf/compiler/evo_attention_generator.h"
#include "mf/compiler/layer_norm_linear_generator.h"
#include "mf/compiler/target.h"
#include "mf/compiler/transition_generator.h"
#include "mf/ir/error.h"
#include "mf/ir/json.h"

namespace mf::tools {
namespace {

using tuning_db::Database;
using tuning_db::DeviceRecord;
using tuning_db::TrialRecord;
using tuning_db::WinnerRecord;

// ---- the default configuration, from a record alone ----

// The template generator's target on a record's GPU, as runtime's record_target makes it
// for tuning_record_space (which keeps it to itself): the arch the driver reported ("sm_90")
// as NVRTC compiles for it ("sm_90a"), AMD's as it is, and unlimited shared memory, which
// the record does not say. nullopt for an arch this mfjit does not know.
std::optional<compiler::Target> record_target(const DeviceRecord& device) {
  const int multiprocessors = int(std::clamp<std::int64_t>(device.multiprocessors, 1, INT_MAX));
  if (device.vendor == "amd")
    return device.arch.rfind("gfx", 0) == 0 ? std::optional(compiler::Target{device.arch, multiprocessors, INT_MAX})
                                            : std::nullopt;
  const std::string digits = device.arch.rfind("sm_", 0) == 0 ? device.arch.substr(3) : "";
  const bool numeric = digits.size() >= 2 && digits.size() <= 4 &&
                       std::all_of(digits.begin(), digits.end(), [](char c) { return std::isdigit(c & 0xFF) != 0; });
  if (!numeric) return std::nullopt;
  const std::string arch = compiler::nvrtc_arch(std::stoi(digits.substr(0, digits.size() - 1)), digits.back() - '0');
  return compiler::Target{arch, multiprocessors, INT_MAX};
}

ir::TileConfig template_default(const ir::Problem& problem, const compiler::Target& target) {
  if (const auto* op = std::get_if<ir::EvoAttention>(&problem.op))
    return compiler::EvoAttentionGenerator::default_config(*op, problem.direction, target);
  if (const auto* op = std::get_if<ir::LayerNormLinear>(&problem.op))
    return compiler::LayerNormLinearGenerator::default_config(*op, problem.direction, target);
  return compiler::TransitionGenerator::default_config(std::get<ir::Transition>(problem.op), problem.direction, target);
}

// The configuration an untuned plan uses for the winner's problem on the winner's device
// (runtime's Backend::default_config there), from the record alone, as the report may be
// of any machine's database: the cpu backend's is empty; a GPU backend's is the template
// generator's default unless the MLIR kernels come first (the generator hash lists the
// offered generators in order: "<template hash> + mlir-gpu/..."), or the MLIR kernels' where
// none of the template generator's configurations fits. nullopt where the record does not
// tell (a problem that is not an IR problem, an unknown arch or vendor).
std::optional<ir::TileConfig> record_default_config(const WinnerRecord& w) {
  const std::string& hash = w.trial.generator_hash;
  try {
    const auto problem = nlohmann::json::parse(w.problem_json).get<ir::Problem>();
    if (w.device.vendor == "cpu") return ir::TileConfig{};
    if (w.device.vendor != "nvidia" && w.device.vendor != "amd") return std::nullopt;
    if (hash.rfind("mlir-gpu/", 0) == 0) return ir::TileConfig{};  // the MLIR kernels have no tile parameters
    const auto target = record_target(w.device);
    if (!target) return std::nullopt;
    try {
      return template_default(problem, *target);
    } catch (const ir::Error& error) {
      if (error.kind() != ir::ErrorKind::kUnsupported || hash.find(" + mlir-gpu/") == std::string::npos) throw;
      ir::TileConfig mlir;
      mlir.generator = "mlir";
      return mlir;
    }
  } catch (const std::exception&) {  // a record mfjit would not have written: no default to show
    return std::nullopt;
  }
}

// ---- what a winner's search measured ----

// One configuration as the page shows it: `identity` tells configurations apart whatever
// the order of their JSON's fields ({"warps":4,"stages":2} is {"stages":2,"warps":4}).
struct ConfigName {
  std::string identity;
  std::string label;  // "block_k=64,stages=2,warps=4", or the stored text where it is no configuration
};

ConfigName name_of(const ir::TileConfig& config) {
  const std::string text = ir::to_string(config);
  return {text, text.empty() ? "(no parameters)" : text};
}

ConfigName name_of(const std::string& config_json) {
  try {
    return name_of(nlohmann::json::parse(config_json).get<ir::TileConfig>());
  } catch (const std::exception&) {  // a damaged or foreign row: shown as stored
    return {"stored:" + config_json, config_json};
  }
}

// A configuration's time as the tuner's decision takes it: the fastest of its
// measurements' medians (docs/tuning.md, "Decide").
struct Measured {
  ConfigName name;
  std::string json;  // as stored
  double time_us = 0.0;
  int measurements = 0;
};

// A winner with the configurations of its search: the trials of its device, problem and
// generator code, fastest first.
struct Tuned {
  WinnerRecord winner;
  std::vector<Measured> configs;
  std::optional<ConfigName> default_config;  // nullopt: the record does not tell
  std::map<std::string, int> failures;       // failed trials by status
};

std::vector<Measured> measured(const std::vector<TrialRecord>& trials) {
  std::map<std::string, Measured> by_identity;
  for (const auto& t : trials) {
    if (!t.timing) continue;
    const ConfigName name = name_of(t.config);
    const auto it = by_identity.try_emplace(name.identity, Measured{name, t.config, t.timing->median_us, 0}).first;
    it->second.time_us = std::min(it->second.time_us, t.timing->median_us);
    ++it->second.measurements;
  }
  std::vector<Measured> out;
  for (auto& [identity, m] : by_identity) out.push_back(std::move(m));
  std::stable_sort(out.begin(), out.end(), [](const Measured& a, const Measured& b) { return a.time_us < b.time_us; });
  return out;
}

Tuned tuned(const Database& db, const WinnerRecord& w) {
  Tuned out{w, {}, std::nullopt, {}};
  std::vector<TrialRecord> trials;
  for (auto& t : db.trials(w.device, w.key)) {
    if (t.generator_hash != w.trial.generator_hash) continue;  // another code's search
    if (!t.timing) ++out.failures[tuning_db::name_of(t.status)];
    trials.push_back(std::move(t));
  }
  out.configs = measured(trials);
  if (const auto config = record_default_config(w)) out.default_config = name_of(*config);
  return out;
}

const Measured* find(const Tuned& t, const std::string& identity) {
  const auto it = std::find_if(t.configs.begin(), t.configs.end(),
                               [&](const Measured& m) { return m.name.identity == identity; });
  return it == t.configs.end() ? nullptr : &*it;
}

const Measured* winner_of(const Tuned& t) { return find(t, name_of(t.winner.trial.config).identity); }
const Measured* default_of(const Tuned& t) { return t.default_config ? find(t, t.default_config->identity) : nullptr; }

// The configurations a chart shows: the kChartConfigurations fastest, then the winner and
// the default where they are slower.
std::vector<const Measured*> charted(const Tuned& t) {
  std::vector<const Measured*> out;
  for (std::size_t i = 0; i < t.configs.size() && i < kChartConfigurations; ++i) out.push_back(&t.configs[i]);
  for (const Measured* marked : {winner_of(t), default_of(t)})
    if (marked && std::find(out.begin(), out.end(), marked) == out.end()) out.push_back(marked);
  std::stable_sort(out.begin(), out.end(), [](const Measured* a, const Measured* b) { return a->time_us < b->time_us; });
  return out;
}

// ---- the page ----

std::string device_name(const DeviceRecord& d) { return d.name + " " + d.arch; }

std::string device_identity(const DeviceRecord& d) {
  return fmt::format("{} {} ({}, {} multiprocessors, driver {}, {})", d.name, d.arch, d.vendor, d.multiprocessors,
                     d.driver_version, d.toolkit_version);
}

std::string operator_of(const WinnerRecord& w) {
  const auto problem = nlohmann::json::parse(w.problem_json, nullptr, false);
  if (problem.is_object() && problem.contains("op") && problem["op"].is_string()) return problem["op"].get<std::string>();
  return "unknown operator";
}

std::string micros(double us) { return fmt::format("{:.2f} \u00b5s", us); }
std::string percent(double fraction) { return fmt::format("{:.1f} %", 100 * fraction); }
std::string anchor(std::size_t index) { return fmt::format("problem-{}", index + 1); }

// The default's cell of the table: its time and how much slower than the winner it is.
std::string default_time_cell(const Tuned& t) {
  if (!t.default_config) return R"(<td class="num">unknown</td>)";
  const Measured* d = default_of(t);
  if (!d) return fmt::format(R"(<td class="num" title="{}">not measured</td>)", escaped(t.default_config->label));
  return fmt::format(R"(<td class="num" title="{}">{} ({:.2f}&#215;)</td>)", escaped(d->name.label),
                     micros(d->time_us), d->time_us / t.winner.trial.timing->median_us);
}

std::string table_row(const Tuned& t, std::size_t index) {
  const WinnerRecord& w = t.winner;
  return fmt::format(
      "<tr><td>{}</td><td><b>{}</b><br/><span class=\"key\">{}</span></td>"
      "<td class=\"key\"><a href=\"#{}\">{}</a></td><td>{}</td><td><code title=\"{}\">{}</code></td>"
      "<td class=\"num\">{}</td>{}<td class=\"num\">{}</td><td class=\"{}\">{}</td></tr>\n",
      escaped(device_name(w.device)), escaped(operator_of(w)), escaped(w.family), anchor(index), escaped(w.key),
      escaped(w.trial.generator), escaped(w.trial.config), escaped(name_of(w.trial.config).label),
      micros(w.trial.timing->median_us), default_time_cell(t), percent(w.provenance.margin),
      w.provenance.noise.empty() ? "quiet" : "noisy", w.provenance.noise.empty() ? "&#8212;" : escaped(w.provenance.noise));
}

std::string winners_table(const std::vector<Tuned>& all) {
  std::string out =
      "<table id=\"winners\">\n<thead><tr><th>device</th><th>operator / family</th><th>problem key</th>"
      "<th>generator</th><th>winning configuration</th><th>its time</th><th>the default&#8217;s time</th>"
      "<th>margin</th><th>noise</th></tr></thead>\n";
  std::string device;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const std::string identity = device_identity(all[i].winner.device);
    if (identity != device) {  // one group a device: its whole identity heads it
      out += std::string(device.empty() ? "" : "</tbody>\n") + "<tbody>\n" +
             fmt::format("<tr class=\"device\"><th colspan=\"9\">{}</th></tr>\n", escaped(identity));
      device = identity;
    }
    out += table_row(all[i], i);
  }
  return out + (all.empty() ? "" : "</tbody>\n") + "</table>\n";
}

BarChart chart_of(const Tuned& t) {
  BarChart chart{fmt::format("Time per configuration of {} on {}", t.winner.key, device_name(t.winner.device)), {}};
  const Measured *winner = winner_of(t), *default_config = default_of(t);
  for (const Measured* m : charted(t))
    chart.bars.push_back({m->name.label,
                          fmt::format("{}: {} ({} measurement{})", m->json, micros(m->time_us), m->measurements,
                                      m->measurements == 1 ? "" : "s"),
                          m->time_us, m == winner, m == default_config});
  return chart;
}

// What the chart leaves out or could not mark, said under it.
std::string chart_notes(const Tuned& t, std::size_t shown) {
  std::string out;
  if (shown < t.configs.size())
    out += fmt::format("<p class=\"note\">Showing {} of the {} configurations measured: the {} fastest, and the "
                       "winner and the default where they are slower.</p>\n",
                       shown, t.configs.size(), kChartConfigurations);
  if (!t.default_config)
    out += "<p class=\"note\">The default configuration of this device is not known from the record.</p>\n";
  else if (!default_of(t))
    out += fmt::format("<p class=\"note\">The default configuration ({}) was not measured by this search.</p>\n",
                       escaped(t.default_config->label));
  if (!t.failures.empty()) {
    int total = 0;
    std::string kinds;
    for (const auto& [status, count] : t.failures) {
      total += count;
      kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", escaped(status), count);
    }
    out += fmt::format("<p class=\"note\">{} failed trial{} not drawn: {}.</p>\n", total, total == 1 ? "" : "s", kinds);
  }
  return out;
}

std::string problem_section(const Tuned& t, std::size_t index) {
  const WinnerRecord& w = t.winner;
  const BarChart chart = chart_of(t);
  std::string out = fmt::format(
      "<section id=\"{}\">\n<h3 class=\"key\">{}</h3>\n<p>{} &#183; {}, generator {} &#183; {} search of {} "
      "trials, decided {} &#183; margin {}</p>\n",
      anchor(index), escaped(w.key), escaped(device_identity(w.device)), escaped(operator_of(w)),
      escaped(w.trial.generator), escaped(w.provenance.strategy), w.provenance.trials, escaped(w.created_at),
      percent(w.provenance.margin));
  if (!w.provenance.noise.empty()) out += fmt::format("<p class=\"noisy\">{}</p>\n", escaped(w.provenance.noise));
  return out + svg_bar_chart(chart) + "\n" + chart_notes(t, chart.bars.size()) + "</section>\n";
}

constexpr const char* kStyle = R"(
body { font-family: system-ui, sans-serif; color: #212529; margin: 2em; max-width: 1500px; }
h1 { margin-bottom: 0.2em; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #dee2e6; padding: 4px 6px; text-align: left; vertical-align: top; }
thead th { background: #e9ecef; }
tr.device th { background: #f8f9fa; font-weight: 600; }
td.num { text-align: right; white-space: nowrap; }
td.noisy, p.noisy { color: #c92a2a; }
code, .key { font-family: monospace; font-size: 12px; word-break: break-all; }
section { margin: 2.5em 0; }
.note { color: #495057; font-size: 13px; }
svg.chart { display: block; max-width: 100%; height: auto; }
)";

std::string introduction(const Database& db, const std::vector<Tuned>& all, std::size_t devices) {
  return fmt::format(
      "<h1>Tuning database</h1>\n<p class=\"key\">{}</p>\n"
      "<p>{} winner{} on {} device{}; schema version {}.</p>\n"
      "<p class=\"note\">A configuration&#8217;s time is the one the tuner decided on: the fastest median of its "
      "measurements. The default is the configuration an untuned plan uses on that device (the first generator&#8217;s "
      "default), worked out from the record, which does not say the device&#8217;s shared memory: taken as unlimited. "
      "The margin is the fastest other configuration&#8217;s time over the winner&#8217;s, minus 1. Each chart shows "
      "the configurations of the winner&#8217;s search (same device and generator code), at most the {} fastest, and "
      "the winner and the default where they are slower.</p>\n",
      escaped(as_utf8(db.path())), all.size(), all.size() == 1 ? "" : "s", devices, devices == 1 ? "" : "s",
      db.schema_version(), kChartConfigurations);
}

// The winners, those of one device together (the database orders them by device name and
// driver, then key: devices differing only in toolkit would interleave).
std::vector<WinnerRecord> winners_by_device(const Database& db) {
  std::vector<WinnerRecord> winners = db.winners();
  std::stable_sort(winners.begin(), winners.end(), [](const WinnerRecord& a, const WinnerRecord& b) {
    return device_identity(a.device) < device_identity(b.device);
  });
  return winners;
}

}  // namespace

Report html_report(const Database& db) {
  std::vector<Tuned> all;
  std::vector<std::string> devices;
  for (const auto& w : winners_by_device(db)) {
    all.push_back(tuned(db, w));
    if (devices.empty() || devices.back() != device_identity(w.device)) devices.push_back(device_identity(w.device));
  }
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n";
  html += fmt::format("<title>mfjit tuning database: {}</title>\n<style>{}</style>\n</head>\n<body>\n",
                      escaped(as_utf8(db.path())), kStyle);
  html += introduction(db, all, devices.size());
  html += "<h2>Winners</h2>\n";
  html += all.empty() ? "<p>No winners: no search has decided a problem in this database yet.</p>\n" : winners_table(all);
  if (!all.empty()) html += "<h2>Measured configurations</h2>\n";
  for (std::size_t i = 0; i < all.size(); ++i) html += problem_section(all[i], i);
  html += "</body>\n</html>\n";
  return {std::move(html), all.size(), devices.size()};
}

}  // namespace mf::tools
