// Tuning one problem: a strategy's batches compile on a thread pool while the device
// measures the configurations already compiled; every candidate is verified against the
// reference result before it is timed; every trial is written to the database as soon as
// it is measured (so an interrupted run resumes where it stopped), then the winner.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mf/compiler/parameter_space.h"
#include "mf/tuner/db.h"
#include "mf/tuner/search.h"

namespace mf::tuner {

// A compiled configuration, as the bench that made it understands it.
class Compiled {
 public:
  virtual ~Compiled() = default;
};

// One problem on one device, ready to measure configurations: what the tuner needs of a
// backend. compile() may run on several threads at once; the rest on one.
class Bench {
 public:
  virtual ~Bench() = default;
  // One space per generator the backend offers, the first generator's first.
  virtual std::vector<compiler::ParameterSpace> spaces() const = 0;
  // The first generator's default (where a descent of its space starts).
  virtual ir::TileConfig default_config() const = 0;
  // Throws (any std::exception) when the configuration does not compile.
  virtual std::unique_ptr<Compiled> compile(const ir::TileConfig& config) const = 0;
  // Runs once on poisoned outputs and compares with the reference result: "" when right,
  // else why not. Throws when it cannot run (a launch error).
  virtual std::string verify(Compiled& candidate) = 0;
  // Device times in microseconds of `repeats` runs after `warmup` runs, each run after the
  // outputs and accumulators are reset and the L2 cache flushed, outside the timed region.
  virtual std::vector<double> time(Compiled& candidate, int warmup, int repeats) = 0;
};

struct TuneOptions {
  StrategyKind strategy = StrategyKind::kDescent;
  Budget budget;
  std::uint64_t seed = 1;
  int compile_threads = 0;  // 0: hardware concurrency
  int warmup = 3;
  int repeats = 20;
  double compile_timeout_s = 120.0;  // a compile slower than this counts as a timeout
  bool resume = true;  // take earlier trials of this device and code instead of measuring again
  // How the winner is decided, noise included (search.h); its baseline is the bench's
  // default configuration (none when `only` is given).
  Decision decision;
  // Not empty: measure exactly these configurations (verifying stored winners) instead of
  // the strategy's search of the space; the winner's provenance names `only_name`.
  std::vector<ir::TileConfig> only;
  std::string only_name = "verify";
  // Called after each measured configuration: (measured so far, planned batch total).
  std::function<void(const Trial&, std::size_t done)> progress;
};

// Where the trials go: the device, the problem, the name of the bench's first generator
// (trials of configurations that name no generator are its) and the hash of all of them.
struct TuneTarget {
  db::DeviceRecord device;
  db::ProblemRecord problem;
  std::string generator;
  std::string generator_hash;
};

struct TuneOutcome {
  SearchResult search;          // its time_us, baseline_us and noise describe the decision
  // The winner's deciding measurement (its median is search.time_us); nullopt when no
  // configuration worked.
  std::optional<Trial> winner;
  std::int64_t resumed = 0;     // configurations taken from earlier runs' trials
  double seconds = 0.0;
};

// Tunes the bench's problem, recording into `db`: the strategy searches each generator's
// space in turn (the smallest first, so that a trial budget does not starve a generator
// with one configuration), and the winner is decided among all of them. With options.resume, configurations that
// already have a trial for this (device, problem, generator hash) are not measured again:
// their stored result is used (resuming an interrupted run).
TuneOutcome tune(Bench& bench, db::Database& db, const TuneTarget& target, const TuneOptions& options);

// Median, minimum and interquartile range of timing samples.
Measurement summarize(std::vector<double> samples);

}  // namespace mf::tuner
