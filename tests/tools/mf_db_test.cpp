// mf-db end to end, in process, on databases the tests fill: every command, conflicts in
// import and merge, stale entries against the cpu backend, and what bad input gets.
#include "mf_db.h"
#include "mf_db_run.h"
#include "winner_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <climits>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "mf/compiler/evo_attention_generator.h"
#include "mf/ir/evo_attention.h"
#include "mf/ir/json.h"
#include "mf/ir/problem_key.h"
#include "mf/runtime/tuning_identity.h"
#include "mf/tuner/db.h"
#include "tuning_db/db_test_helpers.h"

namespace mf::tools {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using tuner::db::Database;
using tuner::db::testing::h200;
using tuner::db::testing::ok_trial;
using tuner::db::testing::problem;
using testing::Outcome;
using testing::mf_db_run;

// This machine's cpu device as the tuning database keys it, and the reference code's hash.
std::pair<tuner::db::DeviceRecord, std::string> cpu_identity(const ir::Problem& problem) {
  mf_context context = nullptr;
  mf_context_options options;
  mf_context_options_init(&options);
  options.backend = MF_BACKEND_CPU;
  if (mf_context_create(&options, &context) != MF_SUCCESS) throw std::runtime_error(mf_last_error());
  auto identity = std::pair{runtime::tuning_device(context), runtime::tuning_generator_hash(context, problem)};
  mf_context_destroy(context);
  return identity;
}

// A problem the fixture's winners are of: real ones, since import and merge check every
// winner against the IR (issue 27). Each size has its own key (bucket_n).
ir::Problem msa_row(std::int64_t tokens) { return {ir::msa_row_attention(1, 2, tokens, 4, 32), ir::Direction::forward()}; }

tuner::db::ProblemRecord record_of(const ir::Problem& p) {
  return {ir::problem_key(p), ir::key_family(p), nlohmann::json(p).dump()};
}

// The template generator's configurations of `p` on the H200 of h200() (sm_90: compiled
// for sm_90a; shared memory unlimited, as the import checks them), as the tuner writes them.
std::vector<std::string> h200_configs(const ir::Problem& p) {
  std::vector<std::string> out;
  for (const auto& config : compiler::EvoAttentionGenerator::space(std::get<ir::EvoAttention>(p.op), p.direction,
                                                                   {"sm_90a", 132, INT_MAX})
                                .configs())
    out.push_back(nlohmann::json(config).dump());
  return out;
}

class MfDb : public ::testing::Test {
 protected:
  void SetUp() override {
    Database db = Database::open(path_);
    const auto fast = db.record_trial(h200(), a_, ok_trial(configs_[0], 10.0));
    db.record_trial(h200(), a_, ok_trial(configs_[1], 15.0));
    db.record_trial(h200(), a_, tuner::db::testing::failed_trial(configs_[2], tuner::db::TrialStatus::kWrongResult));
    db.set_winner(fast, {"exhaustive", 3, 0.5});
    db.set_winner(db.record_trial(h200(), b_, ok_trial(configs_[2], 20.0)), {"descent", 2, 0.1});
    db.record_miss(h200(), c_, "hash1");
  }
  tuner::db::testing::ScratchDir dir_;
  std::string path_ = dir_.file("tuning.db");
  // Keys in this order: bucket_n=16 < 256 < 64.
  const tuner::db::ProblemRecord a_ = record_of(msa_row(16)), b_ = record_of(msa_row(64)), c_ = record_of(msa_row(256));
  const std::vector<std::string> configs_ = h200_configs(msa_row(16));
};

TEST_F(MfDb, ListsWinnersAndMisses) {
  const Outcome run = mf_db_run({"--db", path_, "list"});
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("NVIDIA H200 sm_90 (driver 13000, nvrtc 13.0)"));
  EXPECT_THAT(run.out, HasSubstr("10.00 us  exhaustive    3 trials  margin  50.0%  " + configs_[0]));
  EXPECT_THAT(run.out, HasSubstr(b_.key));
  const Outcome misses = mf_db_run({"--db", path_, "list", "--misses"});
  EXPECT_THAT(misses.out, HasSubstr("1x  NVIDIA H200"));
  EXPECT_THAT(misses.out, HasSubstr(c_.key));
}

TEST_F(MfDb, ShowsEveryTrialWithTheWinnerMarked) {
  const Outcome run = mf_db_run({"--db", path_, "show", a_.key});
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("*      10.00 us"));
  EXPECT_THAT(run.out, HasSubstr("       15.00 us"));
  EXPECT_THAT(run.out, HasSubstr("wrong_result  " + configs_[2] + "  it failed"));
  EXPECT_THAT(mf_db_run({"--db", path_, "show", "v1;k=zzz"}).out, HasSubstr("no trials of v1;k=zzz"));
  // Trials of an interrupted run, before any winner: shown too.
  Database(Database::open(path_)).record_trial(h200(), problem("v1;k=d"), ok_trial("{\"warps\":2}", 7.0));
  EXPECT_THAT(mf_db_run({"--db", path_, "show", "v1;k=d"}).out, HasSubstr("        7.00 us"));
}

TEST_F(MfDb, ExportImportRoundTripsAndConflictsKeepTheFaster) {
  const auto file = dir_.file("winners.json");
  ASSERT_EQ(mf_db_run({"--db", path_, "export", file}).status, 0);
  const auto fresh = dir_.file("fresh.db");
  const Outcome imported = mf_db_run({"--db", fresh, "import", file});
  EXPECT_EQ(imported.status, 0) << imported.err;
  EXPECT_THAT(imported.out, HasSubstr("imported 2 of 2 winners"));
  EXPECT_EQ(mf_db_run({"--db", fresh, "list"}).out, mf_db_run({"--db", path_, "list"}).out);
  EXPECT_THAT(mf_db_run({"--db", fresh, "diff", path_}).out, HasSubstr("no differences"));

  // An export whose winner for a is 20 % faster replaces it; one for b 1 % slower does not.
  nlohmann::json document = nlohmann::json::parse(std::ifstream(file));
  for (auto& w : document["winners"])
    if (w["key"] == a_.key)
      w["config"] = nlohmann::json::parse(configs_[1]), w["timing"]["median_us"] = 8.0, w["timing"]["min_us"] = 7.9;
  for (auto& w : document["winners"])
    if (w["key"] == b_.key) w["config"] = nlohmann::json::parse(configs_[1]), w["timing"]["median_us"] = 20.2;
  std::ofstream(dir_.file("better.json")) << document.dump();
  EXPECT_THAT(mf_db_run({"--db", fresh, "import", dir_.file("better.json")}).out,
              HasSubstr("imported 1 of 2 winners (1 kept the existing one)"));
  const Outcome differences = mf_db_run({"--db", fresh, "diff", path_});
  EXPECT_THAT(differences.out, HasSubstr("different:   NVIDIA H200"));
  EXPECT_THAT(differences.out, HasSubstr("here  " + configs_[1] + " 8.00 us"));
  EXPECT_THAT(differences.out, HasSubstr("1 differences"));

  // merge brings the faster winner back into the first database.
  EXPECT_THAT(mf_db_run({"--db", path_, "merge", fresh}).out, HasSubstr("imported 1 of 2 winners"));
  EXPECT_THAT(mf_db_run({"--db", path_, "diff", fresh}).out, HasSubstr("no differences"));
}

TEST_F(MfDb, PrunesFailedTrialsResolvedMissesAndStaleWinners) {
  EXPECT_THAT(mf_db_run({"--db", path_, "prune", "--failed"}).out, HasSubstr("removed 1 failed trials"));
  {
    Database db = Database::open(path_);
    db.set_winner(db.record_trial(h200(), c_, ok_trial(configs_[0], 1.0)), {"exhaustive", 1, 0.0});
  }
  EXPECT_THAT(mf_db_run({"--db", path_, "prune", "--misses"}).out, HasSubstr("removed 1 misses"));

  // Winners for this machine's cpu: one of the current reference code, one of older code.
  const ir::Problem p{ir::msa_row_attention(1, 2, 16, 4, 32), ir::Direction::forward()};
  const auto [cpu, hash] = cpu_identity(p);
  {
    Database db = Database::open(path_);
    const tuner::db::ProblemRecord record{ir::problem_key(p), ir::key_family(p), nlohmann::json(p).dump()};
    db.set_winner(db.record_trial(cpu, record, ok_trial("{}", 5.0, hash)), {"exhaustive", 1, 0.0});
    db.set_winner(db.record_trial(cpu, record, ok_trial("{}", 5.0, "reference/0")), {"exhaustive", 1, 0.0});
  }
  const Outcome stale = mf_db_run({"--db", path_, "--backend", "cpu", "list", "--stale"});
  EXPECT_EQ(stale.status, 0) << stale.err;
  EXPECT_THAT(stale.out, HasSubstr("1 trials"));
  EXPECT_THAT(mf_db_run({"--db", path_, "prune", "--stale", "--backend", "cpu"}).out, HasSubstr("removed 1 stale"));
  EXPECT_THAT(mf_db_run({"--db", path_, "--backend", "cpu", "list", "--stale"}).out, HasSubstr("no winners"));
  EXPECT_EQ(Database::open(path_).winners().size(), 4u);  // a, b, c and the current cpu one
}

// verify on the cpu backend: a stale winner (older reference code) measured again becomes
// a winner of the current code; a current one is measured again in place; a winner whose
// configuration the current space does not hold fails with the reason.
TEST_F(MfDb, VerifyMeasuresWinnersAgainUnderTheCurrentIdentity) {
  const ir::Problem p{ir::msa_row_attention(1, 2, 16, 4, 32), ir::Direction::forward()};
  const ir::Problem q{ir::msa_row_attention(1, 3, 16, 4, 32), ir::Direction::forward()};
  const auto [cpu, hash] = cpu_identity(p);
  const tuner::db::ProblemRecord stale_problem{ir::problem_key(p), ir::key_family(p), nlohmann::json(p).dump()};
  const tuner::db::ProblemRecord foreign_problem{ir::problem_key(q), ir::key_family(q), nlohmann::json(q).dump()};
  {
    Database db = Database::open(path_);
    db.set_winner(db.record_trial(cpu, stale_problem, ok_trial("{}", 5.0, "reference/0")), {"exhaustive", 7, 0.0});
    // Runners-up of its search: the fastest two are candidates, the slowest and the failed not.
    db.record_trial(cpu, stale_problem, ok_trial("{\"warps\":2}", 6.0, "reference/0"));
    db.record_trial(cpu, stale_problem, ok_trial("{\"warps\":8}", 9.0, "reference/0"));
    db.record_trial(cpu, stale_problem, ok_trial("{\"warps\":16}", 7.0, "reference/0"));
    db.record_trial(cpu, stale_problem, tuner::db::testing::failed_trial("{\"warps\":1}",
                                                                         tuner::db::TrialStatus::kCompileError, "reference/0"));
  }
  EXPECT_EQ(mf_db_run({"--db", path_, "--backend", "cpu", "verify"}).out, "no winners to verify\n");
  const Outcome alone = mf_db_run({"--db", path_, "--backend", "cpu", "verify", "--stale", "--runners-up", "0"});
  EXPECT_THAT(alone.out, Not(HasSubstr("warps")));

  Outcome run = mf_db_run({"--db", path_, "--backend", "cpu", "verify", "--stale", "--repeats", "2",
                           "--runners-up", "2"});
  EXPECT_EQ(run.status, 0) << run.err << run.out;
  EXPECT_THAT(run.out, HasSubstr("was {} 5.00 us, now {} "));
  EXPECT_THAT(run.out, HasSubstr("{\"warps\":2} is not in the current space"));
  EXPECT_THAT(run.out, HasSubstr("{\"warps\":16} is not in the current space"));
  EXPECT_THAT(run.out, Not(HasSubstr("{\"warps\":8}")));
  EXPECT_THAT(run.out, Not(HasSubstr("{\"warps\":1}")));
  EXPECT_THAT(run.out, HasSubstr("verified 1 of 1 winners"));
  {
    const Database db = Database::open(path_, {tuner::db::Mode::kReadOnly});
    const auto verified = db.winner(cpu, stale_problem.key, hash);
    ASSERT_TRUE(verified.has_value());
    EXPECT_EQ(verified->provenance.strategy, "exhaustive+verify");
    EXPECT_EQ(verified->trial.timing->samples, 2);
    EXPECT_GT(verified->trial.timing->median_us, 0.0);
    EXPECT_TRUE(db.winner(cpu, stale_problem.key, "reference/0").has_value());  // kept until prune --stale
  }

  // The current winner, measured in place: still one winner for it, with new samples.
  run = mf_db_run({"--db", path_, "--backend", "cpu", "verify", "--repeats", "4"});
  EXPECT_EQ(run.status, 0) << run.err << run.out;
  EXPECT_THAT(run.out, HasSubstr("verified 1 of 1 winners"));
  EXPECT_EQ(Database::open(path_).winner(cpu, stale_problem.key, hash)->trial.timing->samples, 4);

  // A configuration the cpu generator's space does not hold (it has no parameters).
  {
    Database db = Database::open(path_);
    db.set_winner(db.record_trial(cpu, foreign_problem, ok_trial("{\"warps\":4}", 5.0, hash)), {"descent", 3, 0.1});
  }
  run = mf_db_run({"--db", path_, "--backend", "cpu", "verify"});
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.out, HasSubstr("{\"warps\":4} is not in the current space"));
  EXPECT_THAT(run.out, HasSubstr("FAILED: no candidate is in the current generator's space"));
  EXPECT_THAT(run.out, HasSubstr("verified 1 of 2 winners"));

  EXPECT_EQ(mf_db_run({"--db", path_, "verify", "--runners-up", "x"}).status, 2);
  EXPECT_THAT(mf_db_run({"--db", path_, "verify", "--repeats", "0"}).err, HasSubstr("--repeats takes a whole number"));
  EXPECT_THAT(mf_db_run({"--db", dir_.file("none.db"), "verify"}).err, HasSubstr("no tuning database"));
}

// A winner whose decision was noisy carries the tuner's note (issue 27.3): list shows it,
// export and import keep it, an export of an older mfjit (no note) below the margin floor
// gets the migration's note, and a conflict between equal times keeps the quiet winner.
TEST_F(MfDb, ANoisyWinnersNoteIsListedExportedAndImported) {
  const std::string note = "noisy: 3 of 9 measurements spread over 10 % of their median; kept the default "
                           "configuration (on-noise policy: default)";
  const tuner::db::ProblemRecord n = record_of(msa_row(1024));
  {
    Database db = Database::open(path_);
    const auto trial = db.record_trial(h200(), n, ok_trial(configs_[1], 144.0));
    db.set_winner(trial, {"descent", 9, -0.4, note});
  }
  Outcome run = mf_db_run({"--db", path_, "list"});
  EXPECT_THAT(run.out, HasSubstr("margin -40.0%  " + configs_[1]));
  EXPECT_THAT(run.out, HasSubstr(n.key + "\n    " + note + "\n"));
  EXPECT_THAT(run.out, HasSubstr(a_.key + "\n  "));  // a quiet winner has no note line
  EXPECT_THAT(run.out, Not(HasSubstr(a_.key + "\n    noisy")));

  const auto file = dir_.file("winners.json");
  ASSERT_EQ(mf_db_run({"--db", path_, "export", file}).status, 0);
  const auto fresh = dir_.file("fresh.db");
  ASSERT_EQ(mf_db_run({"--db", fresh, "import", file}).status, 0);
  EXPECT_EQ(mf_db_run({"--db", fresh, "list"}).out, mf_db_run({"--db", path_, "list"}).out);

  // An export without notes (before schema version 3): the winner below the floor is noted.
  nlohmann::json document = nlohmann::json::parse(std::ifstream(file));
  for (auto& w : document["winners"]) w["provenance"].erase("noise");
  std::ofstream(dir_.file("old.json")) << document.dump();
  const auto older = dir_.file("older.db");
  run = mf_db_run({"--db", older, "import", dir_.file("old.json")});
  ASSERT_EQ(run.status, 0) << run.err;
  for (const auto& w : Database::open(older, {tuner::db::Mode::kReadOnly}).winners())
    EXPECT_EQ(w.provenance.noise, w.key == n.key ? tuner::db::kNoiseNoteBeforeVersion3 : "") << w.key;
  // An explicit empty note below the floor is refused, naming the fields.
  std::size_t noisy_index = 0;
  for (std::size_t i = 0; i < document["winners"].size(); ++i) {
    document["winners"][i]["provenance"]["noise"] = "";
    if (document["winners"][i]["key"] == n.key) noisy_index = i;
  }
  std::ofstream(dir_.file("silent.json")) << document.dump();
  run = mf_db_run({"--db", dir_.file("silent.db"), "import", dir_.file("silent.json")});
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr(fmt::format("provenance.margin is -40.0 %, below -3 %, and winners[{}].provenance.noise "
                                             "does not say why",
                                             noisy_index)));

  // Equal times: the winner decided without noise is kept, whichever side it is on.
  tuner::db::WinnerRecord quiet;
  for (const auto& w : winners_from_json(nlohmann::json::parse(std::ifstream(file))))
    if (w.key == a_.key) quiet = w;
  ASSERT_EQ(quiet.key, a_.key);
  tuner::db::WinnerRecord noisy = quiet;
  noisy.provenance.noise = note;
  noisy.provenance.trials = quiet.provenance.trials + 10;  // more thorough, but noisy
  EXPECT_TRUE(keep_existing(quiet, noisy));
  EXPECT_FALSE(keep_existing(noisy, quiet));
  noisy.trial.timing->median_us = quiet.trial.timing->median_us * 0.9;  // a faster time still wins
  EXPECT_FALSE(keep_existing(quiet, noisy));
}

TEST_F(MfDb, BadInputGetsAReasonAndAStatus) {
  Outcome run = mf_db_run({"--db", path_});
  EXPECT_EQ(run.status, 2);
  EXPECT_THAT(run.err, HasSubstr("mf-db: no command"));
  EXPECT_THAT(run.err, HasSubstr("usage: mf-db"));
  EXPECT_EQ(mf_db_run({"--db", path_, "frobnicate"}).status, 2);
  EXPECT_EQ(mf_db_run({"--db", path_, "prune"}).status, 2);
  EXPECT_EQ(mf_db_run({"--db", path_, "list", "--everything"}).status, 2);
  EXPECT_EQ(mf_db_run({"--help"}).status, 0);

  run = mf_db_run({"--db", dir_.file("missing.db"), "list"});
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("missing.db"));

  std::ofstream(dir_.file("garbage.json")) << "{not json";
  run = mf_db_run({"--db", path_, "import", dir_.file("garbage.json")});
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("is not JSON"));
  std::ofstream(dir_.file("other.json")) << R"({"format": "something/2", "winners": []})";
  EXPECT_THAT(mf_db_run({"--db", path_, "import", dir_.file("other.json")}).err,
              HasSubstr("not an mfjit tuning export"));
  // A format that is no string (found by the fuzz driver, issue 27: nlohmann's "type must
  // be string, but is number" was the whole message).
  std::ofstream(dir_.file("numbered.json")) << R"({"format": 7, "winners": []})";
  run = mf_db_run({"--db", path_, "import", dir_.file("numbered.json")});
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("not an mfjit tuning export: \"format\" must be \"mfjit-tuning/1\""));
  EXPECT_THAT(run.err, Not(HasSubstr("json.exception")));
  std::ofstream(dir_.file("partial.json")) << R"({"format": "mfjit-tuning/1", "winners": [{"key": "k"}]})";
  EXPECT_THAT(mf_db_run({"--db", path_, "import", dir_.file("partial.json")}).err,
              HasSubstr("winners[0]: missing \"family\""));
  std::ofstream(dir_.file("notes.db")) << "plain text, not a database at all, long enough to be read";
  EXPECT_THAT(mf_db_run({"--db", dir_.file("notes.db"), "list"}).err, HasSubstr("file is not a database"));

  // Text mfjit never writes, which JSON cannot hold (found by the hostile-file suite, issue
  // 27: export failed with nlohmann's "[json.exception.type_error.316] invalid UTF-8 byte").
  {
    tuner::db::DeviceRecord odd = h200();
    odd.name = "NVIDIA \xff";
    Database db = Database::open(path_);
    db.set_winner(db.record_trial(odd, a_, ok_trial(configs_[0], 3.0)), {"exhaustive", 1, 0.0});
  }
  run = mf_db_run({"--db", path_, "export"});
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("holds text that is not UTF-8: the file is damaged or was written by something else"));
  EXPECT_THAT(run.err, Not(HasSubstr("json.exception")));
}

// An import is validated whole and written in one transaction (issue 27: a bad third winner
// left the second committed; hostile fields were accepted and poisoned later commands).
TEST_F(MfDb, ImportsAllOrNothingAndNamesTheBadField) {
  const auto file = dir_.file("winners.json");
  ASSERT_EQ(mf_db_run({"--db", path_, "export", file}).status, 0);
  const nlohmann::json good = nlohmann::json::parse(std::ifstream(file));
  ASSERT_EQ(good["winners"].size(), 2u);
  // A third winner, valid but for one field at a time.
  nlohmann::json third = good["winners"][0];
  third["key"] = c_.key;
  third["family"] = c_.family;
  third["problem"] = nlohmann::json::parse(c_.json);
  const auto fresh = dir_.file("fresh.db");
  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> hostile = {
      {[](nlohmann::json& w) { w["timing"]["median_us"] = 0; }, "winners[2].timing.median_us must be a finite number above 0"},
      {[](nlohmann::json& w) { w["timing"]["samples"] = -1; }, "winners[2].timing.samples must be an integer of at least 1"},
      {[](nlohmann::json& w) { w["config"] = {{"warps", "many"}}; }, "winners[2].config.warps must be an integer"},
      {[](nlohmann::json& w) { w["config"] = "warps=4"; }, "winners[2].config must be an object"},
      {[](nlohmann::json& w) { w["generator"] = "fortran"; }, "winners[2].generator must be template, mlir or reference"},
      {[](nlohmann::json& w) { w["created_at"] = "yesterday"; }, "winners[2].created_at must be a UTC time"},
      {[](nlohmann::json& w) { w["provenance"]["trials"] = -5; }, "winners[2].provenance.trials must be an integer of at least 1"},
      {[](nlohmann::json& w) { w["problem"] = {{"n", 1}}; }, "winners[2].problem: missing \"op\""},
      {[](nlohmann::json& w) { w["device"]["vendor"] = "acme"; }, "winners[2].device.vendor must be nvidia, amd or cpu"},
      {[](nlohmann::json& w) { w["key"] = 42; }, "winners[2].key must be a non-empty string"},
      {[](nlohmann::json& w) { w["timing"] = nullptr; }, "winners[2].timing must be an object"},
  };
  for (const auto& [spoil, message] : hostile) {
    nlohmann::json document = good, bad = third;
    spoil(bad);
    document["winners"].push_back(bad);
    std::ofstream(dir_.file("hostile.json")) << document.dump();
    const Outcome run = mf_db_run({"--db", fresh, "import", dir_.file("hostile.json")});
    EXPECT_EQ(run.status, 1) << message;
    EXPECT_THAT(run.err, HasSubstr(message));
    EXPECT_THAT(run.err, Not(HasSubstr("json.exception")));
    EXPECT_THAT(mf_db_run({"--db", fresh, "list"}).out, HasSubstr("no winners")) << message << ": written in part";
  }
  nlohmann::json nothing = good;
  nothing["winners"] = nullptr;
  std::ofstream(dir_.file("null.json")) << nothing.dump();
  EXPECT_THAT(mf_db_run({"--db", fresh, "import", dir_.file("null.json")}).err, HasSubstr("\"winners\" must be an array"));

  // A winner the database itself refuses (no successful timing) rolls the others back too.
  Database db = Database::open(fresh);
  auto records = winners_from_json(good);
  records.push_back(records[0]);
  records.back().key = c_.key;
  records.back().trial.timing.reset();
  records.back().trial.status = tuner::db::TrialStatus::kWrongResult;
  EXPECT_THROW(db.import_winners(records, keep_existing), tuner::db::Error);
  EXPECT_TRUE(db.winners().empty());
  EXPECT_EQ(db.import_winners(winners_from_json(good), keep_existing), 2);
}

// An import is checked against the IR and the generator spaces (issue 27): a winner whose
// problem is not an IR problem, whose key or family is not what the IR derives from that
// problem, whose generator the device's backend does not have, or whose configuration is
// not one of that generator's space is refused naming the field, and nothing is written.
TEST_F(MfDb, ImportsOnlyWhatTheIrAndTheGeneratorSpacesAccept) {
  const auto file = dir_.file("winners.json");
  ASSERT_EQ(mf_db_run({"--db", path_, "export", file}).status, 0);
  const nlohmann::json good = nlohmann::json::parse(std::ifstream(file));
  nlohmann::json third = good["winners"][0];
  third["key"] = c_.key;
  third["family"] = c_.family;
  third["problem"] = nlohmann::json::parse(c_.json);
  using Spoil = std::function<void(nlohmann::json&)>;
  const std::vector<std::pair<Spoil, std::string>> hostile = {
      {[](nlohmann::json& w) { w["problem"] = {{"op", "nonsense"}}; }, "winners[2].problem.op: unknown operator 'nonsense'"},
      {[](nlohmann::json& w) { w["problem"]["desc"]["q"]["shape"] = {1, 2, 3}; }, "winners[2].problem"},
      {[](nlohmann::json& w) { w["problem"]["desc"]["colour"] = 1; }, "winners[2].problem.desc.colour: unknown field"},
      {[](nlohmann::json& w) { w["key"] = "v1;k=third"; },
       "winners[2].key: \"v1;k=third\" is not the key of its problem, \"v1;op=evo_attention;"},
      {[&](nlohmann::json& w) { w["key"] = b_.key; }, "winners[2].key: \"" + b_.key + "\" is not the key of its problem"},
      {[](nlohmann::json& w) { w["family"] = "v1;op=evo_attention"; },
       "winners[2].family: \"v1;op=evo_attention\" is not the key family of its problem"},
      {[](nlohmann::json& w) { w["config"]["warps"] = "many"; }, "winners[2].config.warps must be an integer"},
      {[](nlohmann::json& w) { w["config"]["warps"] = 3; },
       "winners[2].config.warps: 3 is not one of the template generator's values (2, 4, 8)"},
      {[](nlohmann::json& w) { w["config"]["colour"] = 1; },
       "winners[2].config.colour: not a parameter of the template generator for this problem (its parameters: warps, "
       "block_k, stages, occupancy, rows_per_block, version)"},
      {[](nlohmann::json& w) { w["config"].erase("warps"); },
       "winners[2].config: missing \"warps\", a parameter of the template generator"},
      {[](nlohmann::json& w) { w["config"]["occupancy"] = 4, w["config"]["warps"] = 8; },
       "winners[2].config: occupancy = 4 is not a whole number of blocks of 8 warps"},
      {[](nlohmann::json& w) { w["generator"] = "fortran"; }, "winners[2].generator must be template, mlir or reference"},
      {[](nlohmann::json& w) { w["generator"] = "reference"; },
       "winners[2].generator: the cuda backend has no generator 'reference' (it has template and mlir)"},
      {[](nlohmann::json& w) { w["config"]["generator"] = "mlir"; },
       "winners[2].config.generator must be the winner's generator \"template\", not \"mlir\""},
      {[](nlohmann::json& w) { w["generator"] = "mlir"; }, "winners[2].config.block_k: the mlir generator has no tile parameters"},
      {[](nlohmann::json& w) { w["device"]["arch"] = "banana"; },
       "winners[2].device.arch: 'banana' is not an NVIDIA architecture"},
      {[](nlohmann::json& w) { w["device"]["vendor"] = "cpu"; },
       "winners[2].generator: the cpu backend has no generator 'template' (it has mlir and reference)"},
  };
  const auto fresh = dir_.file("fresh.db");
  for (const auto& [spoil, message] : hostile) {
    nlohmann::json document = good, bad = third;
    spoil(bad);
    document["winners"].push_back(bad);
    std::ofstream(dir_.file("hostile.json")) << document.dump();
    const Outcome run = mf_db_run({"--db", fresh, "import", dir_.file("hostile.json")});
    EXPECT_EQ(run.status, 1) << message;
    EXPECT_THAT(run.err, HasSubstr(message));
    EXPECT_THAT(mf_db_run({"--db", fresh, "list"}).out, HasSubstr("no winners")) << message << ": written in part";
  }
  // Unspoilt, the third imports with the others; its problem is stored in the IR's form.
  nlohmann::json document = good;
  third["problem"] = nlohmann::json::parse(nlohmann::json::parse(c_.json).dump(1));
  document["winners"].push_back(third);
  std::ofstream(dir_.file("good.json")) << document.dump();
  const Outcome run = mf_db_run({"--db", fresh, "import", dir_.file("good.json")});
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("imported 3 of 3 winners"));
  EXPECT_EQ(Database::open(fresh).winner(h200(), c_.key, "hash1")->problem_json, c_.json);
}

// The cpu backend's winners of either generator export and import; the reference's
// configuration names its generator ({"generator": "reference"}) (issue 27: its import was
// refused, "config.generator must be an integer").
TEST_F(MfDb, TheCpuBackendsWinnersOfEitherGeneratorRoundTrip) {
  const ir::Problem p{ir::msa_row_attention(1, 2, 16, 4, 32), ir::Direction::forward()};
  const ir::Problem q{ir::msa_row_attention(1, 3, 32, 4, 32), ir::Direction::forward()};
  const auto [cpu, hash] = cpu_identity(p);
  const auto source = dir_.file("cpu.db");
  {
    Database db = Database::open(source);
    tuner::db::TrialRecord reference = ok_trial("{\"generator\":\"reference\"}", 5.0, hash);
    reference.generator = "reference";
    db.set_winner(db.record_trial(cpu, record_of(p), reference), {"exhaustive", 2, 0.2});
    tuner::db::TrialRecord mlir = ok_trial("{}", 4.0, hash);
    mlir.generator = "mlir";
    db.set_winner(db.record_trial(cpu, record_of(q), mlir), {"exhaustive", 2, 0.3});
  }
  const auto file = dir_.file("cpu.json");
  ASSERT_EQ(mf_db_run({"--db", source, "export", file}).status, 0);
  const auto fresh = dir_.file("fresh.db");
  const Outcome run = mf_db_run({"--db", fresh, "import", file});
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("imported 2 of 2 winners"));
  EXPECT_EQ(mf_db_run({"--db", fresh, "list"}).out, mf_db_run({"--db", source, "list"}).out);
  const Outcome merged = mf_db_run({"--db", dir_.file("merged.db"), "merge", source});
  EXPECT_EQ(merged.status, 0) << merged.err;
}

// merge checks the other database's winners as import checks an export's: a database
// written by something else (or another mfjit's, whose spaces differ) is refused whole.
TEST_F(MfDb, MergeRefusesWinnersTheIrOrTheSpacesDoNotAccept) {
  const auto other = dir_.file("other.db");
  {
    Database db = Database::open(other);
    db.set_winner(db.record_trial(h200(), c_, ok_trial(configs_[0], 3.0)), {"exhaustive", 1, 0.0});
    db.set_winner(db.record_trial(h200(), problem("v1;k=x"), ok_trial(configs_[0], 3.0)), {"exhaustive", 1, 0.0});
  }
  const auto fresh = dir_.file("fresh.db");
  Outcome run = mf_db_run({"--db", fresh, "merge", other});
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("merge: " + other + ": winners["));
  EXPECT_THAT(run.err, HasSubstr("].problem.desc: missing required field"));
  EXPECT_THAT(mf_db_run({"--db", fresh, "list"}).out, HasSubstr("no winners"));
  {
    Database db = Database::open(other);
    db.remove_winners({db.winner(h200(), "v1;k=x", "hash1").value()});
    db.set_winner(db.record_trial(h200(), b_, ok_trial("{\"warps\":3}", 3.0)), {"exhaustive", 1, 0.0});
  }
  run = mf_db_run({"--db", fresh, "merge", other});
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("].config.warps: 3 is not one of the template generator's values (2, 4, 8)"));
  EXPECT_THAT(mf_db_run({"--db", fresh, "list"}).out, HasSubstr("no winners"));
}

}  // namespace
}  // namespace mf::tools
