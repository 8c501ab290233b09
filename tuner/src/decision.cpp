#include "decision.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>

namespace mf::tuner::detail {
namespace {

using Id = std::string;  // a configuration, as ir::to_string writes it

// Every successful measurement of each configuration, as indices into the trials (which
// grow as the decision re-measures: take() each one appended); what the decision knows of
// a configuration is computed from them.
class Evidence {
 public:
  explicit Evidence(const std::vector<Trial>& trials) : trials_(trials) {
    for (std::size_t i = 0; i < trials.size(); ++i) take(i);
  }
  // Takes trial i, just appended, into account.
  void take(std::size_t i) {
    const Trial& t = trials_[i];
    if (!t.measurement.ok) return;
    Of& of = of_[ir::to_string(t.config)];
    of.config = t.config;
    of.trials.push_back(i);
  }

  bool empty() const { return of_.empty(); }
  bool has(const Id& id) const { return of_.count(id) != 0; }
  const ir::TileConfig& config(const Id& id) const { return of_.at(id).config; }
  const std::vector<std::size_t>& trials_of(const Id& id) const { return of_.at(id).trials; }
  std::size_t count(const Id& id) const { return trials_of(id).size(); }
  const Measurement& measurement(std::size_t trial) const { return trials_[trial].measurement; }

  // The trial of the configuration's fastest median (the earliest of equal ones).
  std::size_t fastest(const Id& id) const {
    const auto& indices = of_.at(id).trials;
    return *std::min_element(indices.begin(), indices.end(), [&](std::size_t a, std::size_t b) {
      return measurement(a).median_us < measurement(b).median_us;
    });
  }
  // The configuration's time: its fastest median.
  double time(const Id& id) const { return measurement(fastest(id)).median_us; }
  // The spread of the measurement that gave the time.
  double spread(const Id& id) const { return measurement(fastest(id)).spread_us; }
  // Its fastest single sample, the least disturbed run it had.
  double fastest_sample(const Id& id) const {
    double out = 1e300;
    for (std::size_t i : of_.at(id).trials) out = std::min(out, measurement(i).min_us);
    return out;
  }
  // The medians, fastest first.
  std::vector<double> medians(const Id& id) const {
    std::vector<double> out;
    for (std::size_t i : of_.at(id).trials) out.push_back(measurement(i).median_us);
    std::sort(out.begin(), out.end());
    return out;
  }
  // Every configuration, in canonical order.
  std::vector<Id> ids() const {
    std::vector<Id> out;
    for (const auto& [id, of] : of_) out.push_back(id);
    return out;
  }
  // Every configuration, fastest first (equal times in canonical order).
  std::vector<Id> ranked() const {
    std::vector<Id> out = ids();
    std::stable_sort(out.begin(), out.end(), [&](const Id& a, const Id& b) { return time(a) < time(b); });
    return out;
  }

 private:
  struct Of {
    ir::TileConfig config;
    std::vector<std::size_t> trials;
  };
  const std::vector<Trial>& trials_;
  std::map<Id, Of> of_;
};

// Slowest median over fastest, minus 1: how far two measurements of it disagreed.
double disagreement(const Evidence& e, const Id& id) {
  const auto m = e.medians(id);
  return m.back() / m.front() - 1.0;
}

// A configuration's time is confirmed when a second measurement came within `agree` of
// the fastest: the fastest was not a fluke of the timer, nor the only quiet moment.
bool confirmed(const Evidence& e, const Id& id, const Decision& d) {
  const auto m = e.medians(id);
  return m.size() >= 2 && m[1] <= m[0] * (1.0 + d.agree);
}

// The widest disagreement between two measurements of one configuration: how much the
// machine's noise can hide.
double widest_disagreement(const Evidence& e) {
  double out = 0.0;
  for (const Id& id : e.ids()) out = std::max(out, disagreement(e, id));
  return out;
}

// What made the machine look noisy.
struct NoiseSeen {
  int measurements = 0;  // successful measurements looked at
  int spread = 0;        // of them, those whose interquartile range exceeds noisy_spread of the median
  int disagreeing = 0;   // re-measured configurations whose time is not confirmed
  double widest = 0.0;   // widest disagreement between two measurements of one configuration
  bool noisy() const { return spread > 0 || disagreeing > 0; }
};

NoiseSeen examine(const Evidence& e, const Decision& d) {
  NoiseSeen seen;
  for (const Id& id : e.ids()) {
    for (std::size_t i : e.trials_of(id)) {
      const Measurement& m = e.measurement(i);
      ++seen.measurements;
      if (m.spread_us > d.noisy_spread * m.median_us) ++seen.spread;
    }
    if (e.count(id) >= 2 && !confirmed(e, id, d)) ++seen.disagreeing;
    seen.widest = std::max(seen.widest, disagreement(e, id));
  }
  return seen;
}

// Measures each of `ids` once more, in one batch, appending the measurements to `trials`.
std::int64_t remeasure(std::vector<Trial>& trials, Evidence& e, const MeasureBatch& measure,
                       const std::vector<Id>& ids) {
  if (ids.empty()) return 0;
  std::vector<ir::TileConfig> configs;
  for (const Id& id : ids) configs.push_back(e.config(id));
  const auto measurements = measure(configs);
  for (std::size_t i = 0; i < configs.size(); ++i) {
    trials.push_back({configs[i], measurements.at(i)});
    e.take(trials.size() - 1);
  }
  return std::int64_t(configs.size());
}

// The fastest, the baseline, and up to max_finalists others whose times overlap the
// fastest's within both spreads.
std::vector<Id> finalists(const Evidence& e, const Decision& d, const std::optional<Id>& baseline) {
  const auto order = e.ranked();
  const Id& fastest = order.front();
  std::vector<Id> out{fastest};
  if (baseline && *baseline != fastest) out.push_back(*baseline);
  int others = 0;
  for (const Id& id : order) {
    if (others == d.max_finalists) break;
    if (id == fastest || id == baseline) continue;
    if (e.time(id) <= e.time(fastest) + e.spread(fastest) + e.spread(id)) out.push_back(id), ++others;
  }
  return out;
}

// Configurations that could still be the fastest and whose time is not confirmed: within
// the noise seen of the fastest (at least max_tie), fastest first. None when the only one
// is the fastest itself: no rival is left that could beat it, whatever its exact time.
std::vector<Id> contenders(const Evidence& e, const Decision& d) {
  const auto order = e.ranked();
  const double reach = e.time(order.front()) * (1.0 + std::max(d.max_tie, widest_disagreement(e)));
  std::vector<Id> out;
  for (const Id& id : order)
    if (e.time(id) <= reach && !confirmed(e, id, d)) out.push_back(id);
  if (out.size() == 1 && out.front() == order.front()) out.clear();
  return out;
}

// Re-measures a noisy decision within the budget: every configuration measured once
// again (a measurement may have been one busy moment), then the unconfirmed contenders
// round by round.
void settle(SearchResult& result, Evidence& e, const MeasureBatch& measure, const Decision& d) {
  std::vector<Id> once;
  for (const Id& id : e.ranked())
    if (e.count(id) == 1) once.push_back(id);
  std::stable_sort(once.begin(), once.end(),
                   [&](const Id& a, const Id& b) { return e.fastest_sample(a) < e.fastest_sample(b); });
  if (once.size() > std::size_t(d.noise_recheck)) once.resize(std::size_t(d.noise_recheck));
  if (!once.empty()) {
    result.noise.measurements += remeasure(result.trials, e, measure, once);
    ++result.noise.rounds;
  }
  for (int round = 0; round < d.noise_rounds; ++round) {
    auto ids = contenders(e, d);
    if (ids.empty()) break;
    if (ids.size() > std::size_t(d.noise_contenders)) ids.resize(std::size_t(d.noise_contenders));
    result.noise.measurements += remeasure(result.trials, e, measure, ids);
    ++result.noise.rounds;
  }
  result.noise.settled = contenders(e, d).empty();
}

// Among the configurations measured at least twice whose times lie within both spreads
// (between tie and max_tie, relative) of the fastest: the baseline if it is one of them,
// else the first in canonical order; never one slower than the baseline.
Id pick(const Evidence& e, const Decision& d, const std::optional<Id>& baseline) {
  const auto order = e.ranked();
  const Id& fastest = order.front();
  const double t = e.time(fastest);
  std::vector<Id> tied;
  for (const Id& id : order) {
    if (id != fastest && e.count(id) < 2) continue;
    const double tolerance = std::min(std::max(e.spread(fastest) + e.spread(id), d.tie * t), d.max_tie * t);
    if (e.time(id) <= t + tolerance) tied.push_back(id);
  }
  if (baseline && std::find(tied.begin(), tied.end(), *baseline) != tied.end()) return *baseline;
  const Id winner = *std::min_element(tied.begin(), tied.end());
  return baseline && e.time(*baseline) < e.time(winner) ? *baseline : winner;
}

// The fastest other configuration's time over the winner's, minus 1.
double margin_of(const Evidence& e, const Id& winner) {
  for (const Id& id : e.ranked())
    if (id != winner) return e.time(id) / e.time(winner) - 1.0;
  return 0.0;
}

// "1 round", "2 rounds".
std::string count_of(std::int64_t n, const char* word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

// The winner's note: what was noisy, and what the decision did about it.
std::string note_of(const NoiseSeen& seen, const NoiseReport& report, const Decision& d) {
  std::string text = fmt::format("noisy: {} of {} spread over {:.0f} % of their median", seen.spread,
                                 count_of(seen.measurements, "measurement"), 100 * d.noisy_spread);
  if (seen.disagreeing > 0)
    text += fmt::format(", {} disagreed by up to {:.0f} %", count_of(seen.disagreeing, "re-measured configuration"),
                        100 * seen.widest);
  if (report.kept_default) return text + "; kept the default configuration (on-noise policy: default)";
  if (d.on_noise == OnNoise::kKeepDefault) return text + "; the default did not measure: decided as measured";
  return text + fmt::format("; {} after {} ({})", report.settled ? "settled" : "unsettled (budget spent)",
                            count_of(report.rounds, "re-measurement round"),
                            count_of(report.measurements, "measurement"));
}

}  // namespace

void decide(SearchResult& result, const MeasureBatch& measure, const Decision& d) {
  Evidence e(result.trials);
  if (e.empty()) return;
  // The baseline, when it measured (an empty configuration's id is "": optional, not "").
  std::optional<Id> baseline;
  if (d.baseline && e.has(ir::to_string(*d.baseline))) baseline = ir::to_string(*d.baseline);

  const auto chosen = finalists(e, d, baseline);
  for (int round = 0; round < d.remeasure_rounds; ++round) remeasure(result.trials, e, measure, chosen);

  const NoiseSeen seen = examine(e, d);
  result.noise.noisy = seen.noisy();
  if (seen.noisy() && d.on_noise == OnNoise::kRemeasure) settle(result, e, measure, d);

  Id winner = pick(e, d, baseline);
  if (seen.noisy() && d.on_noise == OnNoise::kKeepDefault) {
    // No default to keep (it failed, or the search never measured it): decided as measured,
    // nothing re-measured, so not settled either.
    result.noise.kept_default = baseline.has_value();
    result.noise.settled = false;
    if (baseline) winner = *baseline;
  }
  if (seen.noisy()) result.noise.note = note_of(seen, result.noise, d);
  result.best = e.fastest(winner);
  result.time_us = e.time(winner);
  if (baseline) result.baseline_us = e.time(*baseline);
  result.margin = margin_of(e, winner);
}

}  // namespace mf::tuner::detail
