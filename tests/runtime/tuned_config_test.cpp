// Plan configurations from the tuning database (runtime/src/config_provider.h) with a
// stand-in backend: exact winners, the nearest tuned neighbour that fits, defaults with a
// recorded miss, and every way the database can be unusable degrading to the default.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "config_provider.h"
#include "mf/ir/evo_attention.h"
#include "mf/ir/json.h"
#include "mf/ir/problem_key.h"
#include "tuning_db/db_test_helpers.h"

namespace mf::runtime {
namespace {

using ::testing::HasSubstr;
using tuning_db::Database;

// A cuda-like backend whose first generator's space is warps ∈ {2, 4, 8}, with 8 refused
// past N = 512, and whose second generator ("mlir") has one empty configuration.
class StandInBackend : public Backend {
 public:
  StandInBackend() {
    std::snprintf(info_.name, sizeof info_.name, "Stand-in GPU");
    std::snprintf(info_.arch, sizeof info_.arch, "sm_90");
    info_.multiprocessors = 132;
    info_.l2_cache_bytes = 50 << 20;
    info_.memory_bytes = 80LL << 30;
    info_.driver_version = 13000;
  }
  mf_backend kind() const override { return MF_BACKEND_CUDA; }
  const mf_device_info& device() const override { return info_; }
  std::string generator_for(const ir::Problem&) const override { return "template"; }
  ir::TileConfig default_config(const ir::Problem&) const override { return ir::TileConfig{}.set("warps", 4); }
  std::vector<compiler::ParameterSpace> spaces(const ir::Problem&) const override {
    return {{"", {{"warps", {2, 4, 8}}}, nullptr}, {"mlir", {}, nullptr}};
  }
  std::optional<std::string> rejects(const ir::Problem& problem, const ir::TileConfig& config) const override {
    if (config.generator == "mlir" && config.params.empty()) return std::nullopt;
    if (!config.generator.empty()) return "generator '" + config.generator + "' is not offered";
    const auto warps = config.get("warps");
    if (!warps || (*warps != 2 && *warps != 4 && *warps != 8)) return "warps must be 2, 4 or 8";
    if (*warps == 8 && std::get<ir::EvoAttention>(problem.op).seq_len() > 512) return "warps = 8 needs N <= 512";
    return std::nullopt;
  }
  std::string generator_hash(const ir::Problem&) const override { return hash; }
  std::string toolkit_version() const override { return "nvrtc 13.0"; }
  std::unique_ptr<Executable> build(const ir::Problem&, const ir::TileConfig&) override { return nullptr; }

  std::string hash = "hash1";

 private:
  mf_device_info info_{};
};

ir::Problem triangle(int n) { return {ir::triangle_attention_starting(1, n, 4, 32), ir::Direction::forward()}; }

// Stores `config` as the winner for `problem`, as the stand-in device measured it.
void tune(const std::string& path, const StandInBackend& backend, const ir::Problem& problem,
          const ir::TileConfig& config) {
  Database db = Database::open(path);
  const tuning_db::TrialRecord trial{backend.generator_of(problem, config), backend.hash, nlohmann::json(config).dump(),
                                     tuning_db::TrialStatus::kOk, "", tuning_db::Timing{10.0, 9.0, 0.5, 20}};
  const auto id = db.record_trial(device_record(backend),
                                  {ir::problem_key(problem), ir::key_family(problem), nlohmann::json(problem).dump()},
                                  trial);
  db.set_winner(id, {"exhaustive", 3, 0.1});
}

// Stores a winner with `warps` for `problem` as the stand-in device measured it.
void tune(const std::string& path, const StandInBackend& backend, const ir::Problem& problem, int warps) {
  tune(path, backend, problem, ir::TileConfig{}.set("warps", warps));
}

ConfigChoice choose(TunedConfigProvider& provider, const Backend& backend, const ir::Problem& problem) {
  return provider.choose(problem, ir::problem_key(problem), backend);
}

TEST(TunedConfig, WithoutADatabaseTheDefaultIsUsedAndTheMissRecorded) {
  const tuning_db::testing::ScratchDir dir;
  const auto path = dir.file("cache/tuning.db");  // the folder does not exist yet
  const StandInBackend backend;
  TunedConfigProvider provider(path);
  for (int i = 0; i < 2; ++i) {
    const ConfigChoice choice = choose(provider, backend, triangle(384));
    EXPECT_EQ(choice.source, "default");
    EXPECT_EQ(choice.config.at("warps"), 4);
    EXPECT_EQ(choice.db_warning, "");
  }
  const auto misses = Database::open(path).misses();
  ASSERT_EQ(misses.size(), 1u);
  EXPECT_EQ(misses[0].key, ir::problem_key(triangle(384)));
  EXPECT_EQ(misses[0].count, 2);
  EXPECT_EQ(misses[0].device, device_record(backend));
  EXPECT_EQ(nlohmann::json::parse(misses[0].problem_json).get<ir::Problem>(), triangle(384));
}

// The cpu backend's case: generators without tile parameters. A choice between two of them is
// worth tuning, so a plan without a winner records its miss (mf-tune --untuned finds it);
// a single parameterless generator leaves nothing to tune and nothing is recorded.
class ParameterlessBackend final : public StandInBackend {
 public:
  explicit ParameterlessBackend(int generators) : generators_(generators) {}
  ir::TileConfig default_config(const ir::Problem&) const override { return {}; }
  std::vector<compiler::ParameterSpace> spaces(const ir::Problem&) const override {
    std::vector<compiler::ParameterSpace> offer{{"", {}, nullptr}, {"reference", {}, nullptr}};
    offer.resize(static_cast<size_t>(generators_), compiler::ParameterSpace{"", {}, nullptr});
    return offer;
  }

 private:
  int generators_;
};

TEST(TunedConfig, AMissIsRecordedWhenTheBackendOffersAChoiceEvenWithoutParameters) {
  for (const int generators : {1, 2}) {
    const tuning_db::testing::ScratchDir dir;
    const auto path = dir.file("tuning.db");
    const ParameterlessBackend backend(generators);
    TunedConfigProvider provider(path);
    EXPECT_EQ(choose(provider, backend, triangle(384)).source, "default");
    const size_t expected = generators > 1 ? 1 : 0;
    EXPECT_EQ(std::filesystem::exists(path) ? Database::open(path).misses().size() : 0u, expected) << generators;
  }
}

TEST(TunedConfig, ExactThenNearestFittingNeighbour) {
  const tuning_db::testing::ScratchDir dir;
  const auto path = dir.file("tuning.db");
  const StandInBackend backend;
  tune(path, backend, triangle(384), 2);   // bucket_n = 512
  tune(path, backend, triangle(128), 8);   // bucket_n = 128
  tune(path, backend, triangle(1024), 4);  // bucket_n = 1024
  TunedConfigProvider provider(path);

  ConfigChoice exact = choose(provider, backend, triangle(384));
  EXPECT_EQ(exact.source, "tuned:exact");
  EXPECT_EQ(exact.config.at("warps"), 2);
  EXPECT_EQ(exact.tuned_from, ir::problem_key(triangle(384)));

  // Distance sums the buckets' log2 ratios (triangle: S = N, so both buckets move with N).
  ConfigChoice near = choose(provider, backend, triangle(2048));  // nearest: N = 1024
  EXPECT_EQ(near.source, "tuned:nearest");
  EXPECT_EQ(near.config.at("warps"), 4);
  EXPECT_EQ(near.tuned_from, ir::problem_key(triangle(1024)));

  // N = 64: nearest is N = 128 with warps = 8, which fits.
  ConfigChoice small = choose(provider, backend, triangle(64));
  EXPECT_EQ(small.source, "tuned:nearest");
  EXPECT_EQ(small.config.at("warps"), 8);
}

// A winner of the second generator is chosen with its generator, for its own problem and,
// like any winner, for the nearest problems of its family.
TEST(TunedConfig, AWinnerOfTheSecondGeneratorKeepsItsGenerator) {
  const tuning_db::testing::ScratchDir dir;
  const auto path = dir.file("tuning.db");
  const StandInBackend backend;
  tune(path, backend, triangle(256), ir::TileConfig{"mlir", {}});
  TunedConfigProvider provider(path);
  const ConfigChoice exact = choose(provider, backend, triangle(256));
  EXPECT_EQ(exact.source, "tuned:exact");
  EXPECT_EQ(exact.config, (ir::TileConfig{"mlir", {}}));
  EXPECT_EQ(backend.generator_of(triangle(256), exact.config), "mlir");
  const ConfigChoice nearest = choose(provider, backend, triangle(384));
  EXPECT_EQ(nearest.source, "tuned:nearest");
  EXPECT_EQ(nearest.config.generator, "mlir");
  EXPECT_EQ(backend.generator_of(triangle(384), ir::TileConfig{}.set("warps", 4)), "template");
}

TEST(TunedConfig, ANeighbourWhoseConfigurationDoesNotFitIsSkipped) {
  const tuning_db::testing::ScratchDir dir;
  const auto path = dir.file("tuning.db");
  const StandInBackend backend;
  tune(path, backend, triangle(128), 8);  // warps = 8 is refused past N = 512
  TunedConfigProvider provider(path);
  const ConfigChoice refused = choose(provider, backend, triangle(768));
  EXPECT_EQ(refused.source, "default");
  EXPECT_EQ(refused.config.at("warps"), 4);
  // A farther neighbour that fits is taken instead.
  tune(path, backend, triangle(64), 2);
  const ConfigChoice farther = choose(provider, backend, triangle(768));
  EXPECT_EQ(farther.source, "tuned:nearest");
  EXPECT_EQ(farther.config.at("warps"), 2);
  EXPECT_EQ(farther.tuned_from, ir::problem_key(triangle(64)));
}

// An exact winner the generator now refuses gives way to the family's nearest fitting one.
TEST(TunedConfig, ARefusedExactWinnerFallsBackToTheFamily) {
  const tuning_db::testing::ScratchDir dir;
  const auto path = dir.file("tuning.db");
  const StandInBackend backend;
  tune(path, backend, triangle(768), 8);   // refused: warps = 8 past N = 512
  tune(path, backend, triangle(2048), 4);  // another bucket of the family
  TunedConfigProvider provider(path);
  const ConfigChoice choice = choose(provider, backend, triangle(768));
  EXPECT_EQ(choice.source, "tuned:nearest");
  EXPECT_EQ(choice.config.at("warps"), 4);
  EXPECT_EQ(choice.tuned_from, ir::problem_key(triangle(2048)));
  EXPECT_THAT(choice.db_warning, HasSubstr("does not fit it"));
  EXPECT_THAT(choice.db_warning, HasSubstr("trying its key family"));
}

// A warning belongs to the plan whose choice met the problem, not to every later one.
TEST(TunedConfig, AWarningDoesNotOutliveItsCause) {
  const tuning_db::testing::ScratchDir dir;
  const auto path = dir.file("tuning.db");
  const StandInBackend backend;
  std::ofstream(path) << "not a database yet, but long enough to be read as a header of one\n";
  TunedConfigProvider provider(path);
  EXPECT_THAT(choose(provider, backend, triangle(384)).db_warning, HasSubstr("not a database"));
  std::filesystem::remove(path);
  tune(path, backend, triangle(384), 2);
  const ConfigChoice later = choose(provider, backend, triangle(384));
  EXPECT_EQ(later.source, "tuned:exact");
  EXPECT_EQ(later.db_warning, "");
}

TEST(TunedConfig, ResultsOfOtherCodeOrAnotherDriverAreNeverUsed) {
  const tuning_db::testing::ScratchDir dir;
  const auto path = dir.file("tuning.db");
  StandInBackend backend;
  tune(path, backend, triangle(384), 2);
  backend.hash = "hash2";
  TunedConfigProvider provider(path);
  EXPECT_EQ(choose(provider, backend, triangle(384)).source, "default");
}

TEST(TunedConfig, AnUnusableDatabaseDegradesToDefaultsWithAWarning) {
  const tuning_db::testing::ScratchDir dir;
  const StandInBackend backend;
  {
    const auto path = dir.file("notes.db");
    std::ofstream(path) << "definitely not an sqlite database, but long enough to be read as one\n";
    TunedConfigProvider provider(path);
    const ConfigChoice choice = choose(provider, backend, triangle(384));
    EXPECT_EQ(choice.source, "default");
    EXPECT_EQ(choice.config.at("warps"), 4);
    EXPECT_THAT(choice.db_warning, HasSubstr("notes.db"));
    EXPECT_THAT(choice.db_warning, HasSubstr("plans use the generators' defaults"));
  }
  {
    const auto path = dir.file("newer.db");
    tune(path, backend, triangle(384), 2);
    sqlite3* handle = nullptr;  // marked as written by a newer mfjit
    ASSERT_EQ(sqlite3_open(path.c_str(), &handle), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(handle, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(handle);
    TunedConfigProvider provider(path);
    const ConfigChoice choice = choose(provider, backend, triangle(384));
    EXPECT_EQ(choice.source, "default");
    EXPECT_THAT(choice.db_warning, HasSubstr("newer than this mfjit"));
  }
  if (::geteuid() != 0) {  // root writes to read-only files anyway
    const auto path = dir.file("readonly.db");
    tune(path, backend, triangle(384), 2);
    ::chmod(path.c_str(), 0444);
    TunedConfigProvider provider(path);
    EXPECT_EQ(choose(provider, backend, triangle(384)).source, "tuned:exact");  // reads work
    const ConfigChoice miss = choose(provider, backend, triangle(2048));      // the miss cannot be written
    EXPECT_EQ(miss.source, "tuned:nearest");
  }
}

TEST(TunedConfig, TheOverrideAppliesOnTopOfATunedChoice) {
  const tuning_db::testing::ScratchDir dir;
  const auto path = dir.file("tuning.db");
  const StandInBackend backend;
  tune(path, backend, triangle(384), 2);
  TunedConfigProvider provider(path);
  ::setenv("MFJIT_TILE_CONFIG", "warps=8,unknown=3", 1);
  const ConfigChoice choice = choose(provider, backend, triangle(384));
  ::unsetenv("MFJIT_TILE_CONFIG");
  EXPECT_EQ(choice.source, "override");
  EXPECT_EQ(choice.config.at("warps"), 8);
  EXPECT_FALSE(choice.config.get("unknown"));
}

}  // namespace
}  // namespace mf::runtime
