// Search over a generator's configurations: strategies propose batches of configurations
// (so that a batch compiles in parallel while the device measures), run_search measures
// them within a budget and picks the winner robustly against timing noise.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mf/ir/tile_config.h"

namespace mf::tuner {

// One configuration's measurement; `ok` false when it failed to compile, launch or verify.
struct Measurement {
  bool ok = false;
  double median_us = 0.0;
  double min_us = 0.0;
  double spread_us = 0.0;  // interquartile range
  std::int64_t samples = 0;
  std::string failure;     // why, when not ok
};

struct Trial {
  ir::TileConfig config;
  Measurement measurement;
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string name() const = 0;
  // The next configurations to measure given every trial so far; empty when done.
  virtual std::vector<ir::TileConfig> propose(const std::vector<Trial>& history) = 0;
};

enum class StrategyKind { kExhaustive, kRandom, kDescent };
std::optional<StrategyKind> strategy_from(const std::string& name);  // "exhaustive", "random", "descent"
const char* name_of(StrategyKind kind);

// `candidates` is the whole space, in the generator's order; `start` the generator's
// default (where descent begins); `seed` fixes every random choice.
std::unique_ptr<Strategy> make_strategy(StrategyKind kind, std::vector<ir::TileConfig> candidates,
                                        const ir::TileConfig& start, std::uint64_t seed);

// Runs each of `parts` to its end in turn, each proposing from its own trials alone (one
// search per generator's space); named after the first part.
std::unique_ptr<Strategy> make_sequence_strategy(std::vector<std::unique_ptr<Strategy>> parts);

// Measures exactly `configs`, in their order, and nothing else: re-verification of stored
// winners and their runners-up (mf-db verify), named `name` in the winner's provenance.
std::unique_ptr<Strategy> make_list_strategy(std::string name, std::vector<ir::TileConfig> configs);

struct Budget {
  std::int64_t trials = 0;  // most configurations to measure; 0 = no limit
  double seconds = 0.0;     // no new batch after this long; 0 = no limit
};

// Measures a batch and returns one measurement per configuration, in order.
using MeasureBatch = std::function<std::vector<Measurement>(const std::vector<ir::TileConfig>&)>;

// How a decision treats a noisy machine (mf-tune --on-noise).
enum class OnNoise {
  kRemeasure,    // re-measure the contenders within Decision's noise budget, then decide
  kKeepDefault,  // decide nothing: the default configuration wins, and its record says why
};
std::optional<OnNoise> on_noise_from(const std::string& name);  // "remeasure", "default"
const char* name_of(OnNoise policy);

// The widest tie: a configuration wins a tie only within this share of the fastest time, so
// that no spread, however wide, makes a slower configuration the winner. A decided winner's
// margin is therefore never below -kMaxTie / (1 + kMaxTie) (> -3 %), which the database's
// schema checks for every winner whose record does not say why (tuning_db/src/schema.cpp).
inline constexpr double kMaxTie = 0.03;

// How the winner is decided (docs/tuning.md, "Decide"). A configuration's time is the
// fastest of its measurements' medians: contention on the machine only ever adds time, so
// the least disturbed measurement is the best estimate of the configuration's own, and it
// is one measurement's median, so that the winner's stored trial holds exactly the time
// the decision used.
//
// 1. Finalists — the fastest, the baseline, and up to `max_finalists` others whose times
//    lie within the fastest's plus both spreads — are measured `remeasure_rounds` more times.
// 2. The machine is noisy when a measurement's interquartile range exceeds `noisy_spread`
//    of its median, or when a re-measured configuration's two fastest medians disagree by
//    more than `agree`.
// 3. Noisy, with OnNoise::kRemeasure: every configuration measured once (the `noise_recheck`
//    with the fastest samples) is measured again; then, for at most `noise_rounds` rounds,
//    every contender not yet confirmed (its two fastest medians within `agree`) is measured
//    again, at most `noise_contenders` a round, the fastest first. A contender is a
//    configuration whose time lies within the noise seen (the widest disagreement between
//    two measurements of one configuration) of the fastest. Settled when none is left.
//    With OnNoise::kKeepDefault the baseline wins instead, if it measured.
// 4. Among the configurations measured at least twice whose times lie within both spreads
//    (at least `tie`, at most `max_tie`, relative) of the fastest, the baseline wins if it
//    is one of them, else the first in canonical order (ir::to_string), so that noise does
//    not pick between equals; and a winner is never slower than the baseline.
struct Decision {
  int remeasure_rounds = 2;
  int max_finalists = 4;
  double tie = 0.01;
  double max_tie = kMaxTie;
  double noisy_spread = 0.10;
  double agree = 0.05;
  OnNoise on_noise = OnNoise::kRemeasure;
  int noise_recheck = 64;
  int noise_rounds = 6;
  int noise_contenders = 16;
  // The configuration untuned plans use (the generator's default), when the search
  // measured it: a finalist, preferred in ties, and never beaten by a slower winner.
  std::optional<ir::TileConfig> baseline;
};

// What the decision saw of noise and did about it.
struct NoiseReport {
  bool noisy = false;          // a measurement spread, or re-measurements disagreed
  bool settled = true;         // false: the noise budget ran out with contenders unconfirmed (or,
                               // OnNoise::kKeepDefault, nothing was re-measured)
  bool kept_default = false;   // OnNoise::kKeepDefault made the baseline the winner
  int rounds = 0;              // re-measurement rounds spent on noise (the recheck included)
  std::int64_t measurements = 0;  // measurements those rounds took
  std::string note;            // for the winner's record: why it was noisy and what was done; "" when quiet
};

struct SearchResult {
  std::vector<Trial> trials;       // every measurement, finalists' re-measurements included
  // Index into trials of the winner's fastest measurement: its median is time_us.
  std::optional<std::size_t> best;
  double time_us = 0.0;            // the winner's time as the decision used it
  std::optional<double> baseline_us;  // the baseline's time, the same statistic, when it measured
  double margin = 0.0;             // fastest other configuration's time / winner's time − 1 (0 without one)
  std::int64_t configurations = 0; // distinct configurations measured
  NoiseReport noise;
};

SearchResult run_search(Strategy& strategy, const MeasureBatch& measure, const Budget& budget,
                        const Decision& decision = {});

}  // namespace mf::tuner
