// mf-tune end to end on the cpu backend, in process: problems from a file and from the
// misses plans recorded, skipping what is tuned, --retune, plans that then take the
// tuned configuration, and what bad input gets.
#include "mf_tune.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mf/bridge/capi.h"
#include "mf/ir/evo_attention.h"
#include "mf/ir/json.h"
#include "mf/ir/problem_key.h"
#include "mf/runtime/tuning_identity.h"
#include "mf/tuning_db/database.h"
#include "tuning_db/db_test_helpers.h"

namespace mf::tools {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using tuning_db::Database;

struct Outcome {
  int status;
  std::string out, err;
};

Outcome tune(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int status = mf_tune(args, out, err);
  return {status, out.str(), err.str()};
}

ir::Problem small_forward() { return {ir::msa_row_attention(1, 2, 16, 2, 16), ir::Direction::forward()}; }
ir::Problem small_backward() {
  const auto op = ir::msa_row_attention(1, 2, 16, 2, 16);
  return {ir::with_gradients(op, op.all_gradients()), ir::Direction::backward(op.all_gradients())};
}

class MfTune : public ::testing::Test {
 protected:
  std::string write_problems(const std::vector<ir::Problem>& problems) {
    const auto file = dir_.file("problems.json");
    std::ofstream(file) << nlohmann::json(problems).dump();
    return file;
  }
  std::vector<std::string> base() const { return {"--db", db_, "--backend", "cpu", "--repeats", "3", "--warmup", "1"}; }
  std::vector<std::string> with(std::vector<std::string> extra) const {
    auto args = base();
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  tuning_db::testing::ScratchDir dir_;
  std::string db_ = dir_.file("cache/tuning.db");
};

TEST_F(MfTune, TunesAFileOfProblemsAndSkipsThemTheSecondTime) {
  const auto file = write_problems({small_forward(), small_backward()});
  Outcome first = tune(with({"--problems", file}));
  ASSERT_EQ(first.status, 0) << first.err << first.out;
  EXPECT_THAT(first.out, HasSubstr("[1/2]"));
  // One configuration per generator the cpu backend offers (generated code and the reference).
  mf_context_options cpu;
  mf_context_options_init(&cpu);
  cpu.backend = MF_BACKEND_CPU;
  mf_context offering = nullptr;
  ASSERT_EQ(mf_context_create(&cpu, &offering), MF_SUCCESS);
  const std::size_t generators = runtime::tuning_spaces(offering, small_forward()).size();
  mf_context_destroy(offering);
  EXPECT_THAT(first.out, HasSubstr(fmt::format("{} configurations", generators)));
  EXPECT_THAT(first.out, HasSubstr("winner us"));
  EXPECT_THAT(first.out, HasSubstr("generator"));
  EXPECT_THAT(first.out, HasSubstr(" noise "));
  EXPECT_THAT(first.out, HasSubstr("noisy decisions: "));  // how many, whatever this machine's load
  EXPECT_THAT(first.out, HasSubstr(" of 2"));
  Database db = Database::open(db_, {tuning_db::Mode::kReadOnly});
  EXPECT_EQ(db.winners().size(), 2u);
  EXPECT_EQ(db.winners()[0].provenance.strategy, "descent");

  Outcome second = tune(with({"--problems", file}));
  EXPECT_EQ(second.status, 0);
  EXPECT_THAT(second.out, HasSubstr("already tuned"));
  Outcome again = tune(with({"--problems", file, "--retune", "--strategy", "exhaustive"}));
  EXPECT_EQ(again.status, 0) << again.err << again.out;
  EXPECT_THAT(again.out, Not(HasSubstr("already tuned")));
  EXPECT_EQ(Database::open(db_, {tuning_db::Mode::kReadOnly}).winners()[0].provenance.strategy, "exhaustive");

  // Plans now take the tuned configuration.
  mf_context_options options;
  mf_context_options_init(&options);
  options.backend = MF_BACKEND_CPU;
  options.db_path = db_.c_str();
  mf_context context = nullptr;
  ASSERT_EQ(mf_context_create(&options, &context), MF_SUCCESS);
  mf_plan plan = nullptr;
  ASSERT_EQ(bridge::plan_create(context, small_forward(), &plan), MF_SUCCESS) << mf_last_error();
  char description[8192];
  ASSERT_EQ(mf_plan_describe(plan, description, sizeof description, nullptr), MF_SUCCESS);
  EXPECT_EQ(nlohmann::json::parse(description)["config_source"], "tuned:exact");
  // The plan runs the generator that won, as the winner's trial names it.
  bool found = false;
  for (const auto& w : Database::open(db_, {tuning_db::Mode::kReadOnly}).winners())
    if (w.key == ir::problem_key(small_forward())) {
      found = true;
      EXPECT_EQ(nlohmann::json::parse(description)["generator"], w.trial.generator);
    }
  EXPECT_TRUE(found);
  mf_plan_destroy(plan);
  mf_context_destroy(context);
}

TEST_F(MfTune, FilterPicksSuiteProblemsByNameAndDirection) {
  Outcome run = tune(with({"--filter", "single [1,1,384,16,64] fwd"}));
  ASSERT_EQ(run.status, 0) << run.err << run.out;
  EXPECT_THAT(run.out, HasSubstr("[1/1] single [1,1,384,16,64] fwd"));
  EXPECT_EQ(Database::open(db_, {tuning_db::Mode::kReadOnly}).winners().size(), 1u);

  run = tune(with({"--filter", "no such problem"}));
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("--filter: no suite problem's name contains 'no such problem'"));
}

TEST_F(MfTune, TunesWhatPlansMissed) {
  mf_context_options options;
  mf_context_options_init(&options);
  options.backend = MF_BACKEND_CPU;
  mf_context context = nullptr;
  ASSERT_EQ(mf_context_create(&options, &context), MF_SUCCESS);
  const auto device = runtime::tuning_device(context);
  const auto hash = runtime::tuning_generator_hash(context, small_forward());
  mf_context_destroy(context);
  {
    std::filesystem::create_directories(dir_.file("cache"));
    Database db = Database::open(db_);
    db.record_miss(device, {ir::problem_key(small_forward()), ir::key_family(small_forward()),
                            nlohmann::json(small_forward()).dump()},
                   hash);
  }
  const Outcome run = tune(with({"--untuned"}));
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("[1/1] untuned (1x)"));
  Database db = Database::open(db_);
  EXPECT_TRUE(db.winner(device, ir::problem_key(small_forward()), hash));
  EXPECT_EQ(db.prune_resolved_misses(), 1);
}

TEST_F(MfTune, BadInputGetsAReasonAndAStatus) {
  EXPECT_EQ(tune({"--help"}).status, 0);
  Outcome run = tune(with({"--frobnicate"}));
  EXPECT_EQ(run.status, 2);
  EXPECT_THAT(run.err, HasSubstr("unknown argument --frobnicate"));
  EXPECT_THAT(tune(with({"--strategy", "annealing"})).err, HasSubstr("--strategy: use exhaustive, random or descent"));
  EXPECT_THAT(tune(with({"--trials", "0"})).err, HasSubstr("--trials takes a number >= 1"));
  EXPECT_THAT(tune(with({"--on-noise", "ignore"})).err, HasSubstr("--on-noise: use remeasure or default"));
  EXPECT_THAT(tune({"--help"}).out, HasSubstr("--on-noise POLICY"));
  EXPECT_EQ(tune(with({"--untuned", "--problems", "x.json"})).status, 2);

  run = tune(with({"--problems", dir_.file("missing.json")}));
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("cannot read"));
  std::ofstream(dir_.file("bad.json")) << R"([{"op": {"kind": "nonsense"}}])";
  run = tune(with({"--problems", dir_.file("bad.json")}));
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("bad.json[0]"));

  // A problem the backend cannot run is reported on its row, and the run fails.
  ir::Problem invalid = small_forward();
  std::get<ir::EvoAttention>(invalid.op).k.shape[2] = 15;
  run = tune(with({"--problems", write_problems({invalid})}));
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.out, HasSubstr("failed: k: has shape"));
}

}  // namespace
}  // namespace mf::tools
