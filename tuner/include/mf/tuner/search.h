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

struct SearchResult {
  std::vector<Trial> trials;       // every measurement, finalists' re-measurements included
  std::optional<std::size_t> best; // index into trials of the winner's deciding measurement
  double margin = 0.0;             // runner-up median / winner median − 1 (0 without a runner-up)
  std::int64_t configurations = 0; // distinct configurations measured
};

// How finalists are decided: configurations whose median lies within the best one's
// median plus both spreads are re-measured `remeasure_rounds` times; among those whose
// re-measured median is still within both spreads (or `tie`, relative) of the best, the
// first in canonical order (ir::to_string) wins, so that noise does not pick the winner.
struct Decision {
  int remeasure_rounds = 2;
  int max_finalists = 4;
  double tie = 0.01;
};

SearchResult run_search(Strategy& strategy, const MeasureBatch& measure, const Budget& budget,
                        const Decision& decision = {});

}  // namespace mf::tuner
