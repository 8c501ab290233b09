// Tuning one problem on a stand-in bench: statuses of failing candidates, the winner and
// its provenance in the database, compiles running in parallel, compile timeouts, and an
// interrupted run resumed without measuring anything twice.
#include "mf/tuner/tune.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "tuning_db/db_test_helpers.h"
#include "mf/ir/json.h"

namespace mf::tuner {
namespace {

using db::testing::h200;

// warps ∈ {2, 4, 8} × block ∈ {32, 64}: (8, 64) does not compile, (2, 32) computes a
// wrong result, (4, 32) fails to launch; the time is a fixed function of the configuration.
class StandInBench final : public Bench {
 public:
  struct Kernel final : Compiled {
    ir::TileConfig config;
  };

  std::vector<compiler::ParameterSpace> spaces() const override {
    compiler::ParameterSpace s;
    s.axes = {{"warps", {2, 4, 8}}, {"block", {32, 64}}};
    return {s};
  }
  ir::TileConfig default_config() const override { return ir::TileConfig{}.set("warps", 4).set("block", 64); }
  std::unique_ptr<Compiled> compile(const ir::TileConfig& config) const override {
    const int now = ++in_flight;
    {
      const std::lock_guard lock(mutex);
      max_in_flight = std::max(max_in_flight, now);
      compiled.insert(ir::to_string(config));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(config == slow ? 400 : 20));
    --in_flight;
    if (config.at("warps") == 8 && config.at("block") == 64) throw std::runtime_error("ptxas: too many registers");
    auto kernel = std::make_unique<Kernel>();
    kernel->config = config;
    return kernel;
  }
  std::string verify(Compiled& c) override {
    const auto& config = static_cast<Kernel&>(c).config;
    if (config.at("warps") == 2 && config.at("block") == 32) return "o: relative error 0.5 > 0.01";
    return "";
  }
  std::vector<double> time(Compiled& c, int, int repeats) override {
    const auto& config = static_cast<Kernel&>(c).config;
    if (config.at("warps") == 4 && config.at("block") == 32) throw std::runtime_error("cuLaunchKernel: too many resources");
    const double t = 100.0 / double(config.at("warps")) + double(config.at("block")) / 8.0;  // (8, 32) is fastest
    return std::vector<double>(std::size_t(repeats), t);
  }

  mutable std::atomic<int> in_flight{0};
  mutable std::mutex mutex;
  mutable int max_in_flight = 0;
  mutable std::set<std::string> compiled;
  ir::TileConfig slow;
};

TuneTarget target() { return {h200(), db::testing::problem("v1;k=tune"), "template", "hash1"}; }

db::TrialStatus status_of(const std::vector<db::TrialRecord>& trials, const std::string& config) {
  for (const auto& t : trials)
    if (nlohmann::json::parse(t.config) == nlohmann::json::parse(config)) return t.status;
  ADD_FAILURE() << "no trial of " << config;
  return db::TrialStatus::kOk;
}

TEST(Tune, RecordsEveryTrialWithItsStatusAndTheWinner) {
  const db::testing::ScratchDir dir;
  db::Database db = db::Database::open(dir.file("tuning.db"));
  StandInBench bench;
  TuneOptions options;
  options.strategy = StrategyKind::kExhaustive;
  options.compile_threads = 4;
  std::size_t progress_calls = 0;
  options.progress = [&](const Trial&, std::size_t) { ++progress_calls; };
  const TuneOutcome outcome = tune(bench, db, target(), options);

  ASSERT_TRUE(outcome.winner);
  EXPECT_EQ(outcome.winner->config, ir::TileConfig{}.set("warps", 8).set("block", 32));
  EXPECT_DOUBLE_EQ(outcome.winner->measurement.median_us, 12.5 + 4.0);
  EXPECT_EQ(progress_calls, outcome.search.trials.size());
  EXPECT_GT(bench.max_in_flight, 1) << "compiles ran one at a time";

  const auto trials = db.trials(h200(), "v1;k=tune");
  EXPECT_EQ(trials.size(), outcome.search.trials.size());
  EXPECT_EQ(status_of(trials, R"({"warps":8,"block":64})"), db::TrialStatus::kCompileError);
  EXPECT_EQ(status_of(trials, R"({"warps":2,"block":32})"), db::TrialStatus::kWrongResult);
  EXPECT_EQ(status_of(trials, R"({"warps":4,"block":32})"), db::TrialStatus::kLaunchError);
  const auto winner = db.winner(h200(), "v1;k=tune", "hash1");
  ASSERT_TRUE(winner);
  EXPECT_EQ(nlohmann::json::parse(winner->trial.config), nlohmann::json::parse(R"({"warps":8,"block":32})"));
  EXPECT_EQ(winner->provenance.strategy, "exhaustive");
  EXPECT_EQ(winner->provenance.trials, 6);
  EXPECT_GT(winner->provenance.margin, 0.0);
  for (const auto& t : trials) {
    if (t.status == db::TrialStatus::kCompileError) {
      EXPECT_EQ(t.message, "ptxas: too many registers");
    }
  }
}

TEST(Tune, AnInterruptedRunResumesWithoutMeasuringTwice) {
  const db::testing::ScratchDir dir;
  db::Database db = db::Database::open(dir.file("tuning.db"));
  StandInBench first;
  TuneOptions options;
  options.strategy = StrategyKind::kExhaustive;
  options.budget.trials = 3;  // stopped after three
  tune(first, db, target(), options);
  EXPECT_EQ(first.compiled.size(), 3u);

  StandInBench second;
  options.budget.trials = 0;
  const TuneOutcome outcome = tune(second, db, target(), options);
  EXPECT_EQ(outcome.resumed, 3);
  // Only a winner taken from the earlier trials is measured again (its deciding trial).
  for (const auto& id : first.compiled) {
    if (id != "block=32,warps=8") {
      EXPECT_FALSE(second.compiled.count(id)) << id << " compiled again";
    }
  }
  ASSERT_TRUE(outcome.winner);
  EXPECT_EQ(outcome.winner->config, ir::TileConfig{}.set("warps", 8).set("block", 32));

  // A third run finds every configuration measured: only the decision's finalists (the
  // fastest and the default) are measured again.
  StandInBench third;
  const TuneOutcome resumed = tune(third, db, target(), options);
  EXPECT_EQ(resumed.resumed, 6);
  EXPECT_EQ(third.compiled, (std::set<std::string>{"block=32,warps=8", "block=64,warps=4"}));
  ASSERT_TRUE(resumed.winner);
  EXPECT_TRUE(db.winner(h200(), "v1;k=tune", "hash1"));

  // Without resume everything is measured again.
  StandInBench fourth;
  options.resume = false;
  EXPECT_EQ(tune(fourth, db, target(), options).resumed, 0);
  EXPECT_EQ(fourth.compiled.size(), 6u);
}

TEST(Tune, ACompileOverItsTimeLimitIsATimeout) {
  const db::testing::ScratchDir dir;
  db::Database db = db::Database::open(dir.file("tuning.db"));
  StandInBench bench;
  bench.slow = ir::TileConfig{}.set("warps", 8).set("block", 32);
  TuneOptions options;
  options.strategy = StrategyKind::kExhaustive;
  options.compile_timeout_s = 0.1;
  const TuneOutcome outcome = tune(bench, db, target(), options);
  EXPECT_EQ(status_of(db.trials(h200(), "v1;k=tune"), R"({"warps":8,"block":32})"), db::TrialStatus::kTimeout);
  ASSERT_TRUE(outcome.winner);
  EXPECT_EQ(outcome.winner->config, ir::TileConfig{}.set("warps", 4).set("block", 64));  // the next fastest
}

// A backend offering a second generator whose one configuration beats every configuration
// of the first: both are searched, the winner names its generator, and its trial's
// generator column says which one won.
class TwoGeneratorBench final : public Bench {
 public:
  std::vector<compiler::ParameterSpace> spaces() const override {
    compiler::ParameterSpace first, second;
    first.axes = {{"warps", {2, 4, 8}}};
    second.generator = "mlir";
    return {first, second};
  }
  ir::TileConfig default_config() const override { return ir::TileConfig{}.set("warps", 4); }
  std::unique_ptr<Compiled> compile(const ir::TileConfig& config) const override {
    auto kernel = std::make_unique<StandInBench::Kernel>();
    kernel->config = config;
    return kernel;
  }
  std::string verify(Compiled&) override { return ""; }
  std::vector<double> time(Compiled& c, int, int repeats) override {
    const auto& config = static_cast<StandInBench::Kernel&>(c).config;
    const double t = config.generator == "mlir" ? mlir_us : 100.0 / double(config.at("warps"));
    return std::vector<double>(std::size_t(repeats), t);
  }
  double mlir_us = 5.0;
};

TEST(Tune, EveryGeneratorIsSearchedAndTheWinnerNamesItsOwn) {
  const db::testing::ScratchDir dir;
  db::Database db = db::Database::open(dir.file("tuning.db"));
  TwoGeneratorBench bench;
  TuneOptions options;
  options.budget.trials = 2;  // the one-configuration generator goes first: never starved
  const TuneOutcome outcome = tune(bench, db, target(), options);
  ASSERT_TRUE(outcome.winner);
  EXPECT_EQ(outcome.winner->config, (ir::TileConfig{"mlir", {}}));
  const auto winner = db.winner(h200(), "v1;k=tune", "hash1");
  ASSERT_TRUE(winner);
  EXPECT_EQ(winner->trial.generator, "mlir");
  EXPECT_EQ(nlohmann::json::parse(winner->trial.config), nlohmann::json::parse(R"({"generator":"mlir"})"));
  std::set<std::string> generators;
  for (const auto& t : db.trials(h200(), "v1;k=tune")) generators.insert(t.generator);
  EXPECT_EQ(generators, (std::set<std::string>{"mlir", "template"}));

  // When the first generator is faster, its configuration wins and names no generator.
  bench.mlir_us = 500.0;
  options.resume = false;
  options.budget.trials = 0;
  const TuneOutcome again = tune(bench, db, target(), options);
  ASSERT_TRUE(again.winner);
  EXPECT_EQ(again.winner->config, ir::TileConfig{}.set("warps", 8));
  EXPECT_EQ(db.winner(h200(), "v1;k=tune", "hash1")->trial.generator, "template");
}

TEST(Tune, SummarizeGivesMedianMinimumAndInterquartileRange) {
  const Measurement m = summarize({5, 1, 4, 2, 3, 100, 6, 7, 8});
  EXPECT_TRUE(m.ok);
  EXPECT_DOUBLE_EQ(m.median_us, 5);
  EXPECT_DOUBLE_EQ(m.min_us, 1);
  EXPECT_DOUBLE_EQ(m.spread_us, 7 - 3);
  EXPECT_EQ(m.samples, 9);
  EXPECT_FALSE(summarize({}).ok);
}

}  // namespace
}  // namespace mf::tuner
