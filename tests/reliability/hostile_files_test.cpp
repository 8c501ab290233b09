// Corrupted and hostile tuning databases for every command (issue 27; tests/reliability/README.md).
//
// The files: truncated ones, ones with a byte flipped in a page (the long version: every
// page at 16 offsets and every byte of the header; the short one, in CI: a few), a text
// file, a directory, an empty file, another application's database, mfjit's application id
// over other tables, a newer schema, and rows mfjit never writes (a winner without a
// timing, a problem and a configuration that are not IR JSON). The commands: mf-db list,
// list --misses, list --stale, show, export, diff (either side), import, merge (either
// side), prune, verify; mf-tune (--problems, and in the long version --untuned); plan
// creation through the C API. Every one must end with a clear message — a non-zero exit and "mf-db: ..." or
// "mf-tune: ...", or for a plan a warning and the generator's default — never a crash (a
// signal or a sanitizer's report), and must never write into a file SQLite finds damaged
// (its bytes stay as they were): readers refuse a file whose b-trees are damaged, writers
// also one whose rows break the schema's CHECK constraints (a read-only connection's
// quick_check does not look at those).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness.h"
#include "mf/ir/problem_key.h"
#include "mf/runtime/tuning_identity.h"
#include "mf/tuning_db/database.h"
#include "mf/bridge/capi.h"
#include "winner_json.h"

namespace mf::reliability {
namespace {

using ::testing::HasSubstr;
using tuning_db::Database;

// This machine's cpu device and the cpu backend's generator hash of `problem`.
std::pair<tuning_db::DeviceRecord, std::string> cpu_identity(const ir::Problem& problem) {
  mf_context context = nullptr;
  mf_context_options options;
  mf_context_options_init(&options);
  options.backend = MF_BACKEND_CPU;
  if (mf_context_create(&options, &context) != MF_SUCCESS) throw std::runtime_error(mf_last_error());
  auto identity = std::pair{runtime::tuning_device(context), runtime::tuning_generator_hash(context, problem)};
  mf_context_destroy(context);
  return identity;
}

// The intact database every hostile file is made from: winners of this machine's cpu for
// the small problems (plans find them; verify measures them; mf-tune has nothing to do),
// winners and trials of an H200, a failed trial, and misses (one of this machine's, which
// mf-tune --untuned tunes); one file, no WAL beside it.
std::string intact_database(const std::string& path) {
  {
    Database db = Database::open(path);
    for (const auto& p : small_problems()) {
      const auto [cpu, hash] = cpu_identity(p);
      db.set_winner(db.record_trial(cpu, record_of(p),
                                    {"reference", hash, "{\"generator\":\"reference\"}", tuning_db::TrialStatus::kOk, "",
                                     tuning_db::Timing{50.0, 49.0, 1.0, 3}}),
                    {"exhaustive", 2, 0.5});
    }
    for (const std::int64_t tokens : {16, 32, 64, 128}) {
      const ir::Problem p{ir::msa_row_attention(1, 2, tokens, 2, 16), ir::Direction::forward()};
      const auto configs = h200_configs(p);
      std::int64_t best = 0;
      for (std::size_t i = 0; i < 40 && i < configs.size(); ++i) {
        const auto id = db.record_trial(h200(), record_of(p),
                                        {"template", "hash1", configs[i], tuning_db::TrialStatus::kOk, "",
                                         tuning_db::Timing{10.0 + double(i), 9.5, 0.2, 20}});
        if (i == 0) best = id;
      }
      db.record_trial(h200(), record_of(p),
                      {"template", "hash1", configs.back(), tuning_db::TrialStatus::kCompileError, "ptxas: too big", {}});
      db.set_winner(best, {"exhaustive", 41, 0.1});
    }
    db.record_miss(h200(), record_of({ir::msa_row_attention(1, 2, 512, 2, 16), ir::Direction::forward()}), "hash1");
    const ir::Problem missed{ir::layer_norm_linear(64, 32, 16), ir::Direction::forward()};
    const auto [cpu, hash] = cpu_identity(missed);
    db.record_miss(cpu, record_of(missed), hash);  // what mf-tune --untuned tunes
  }
  query(path, "PRAGMA journal_mode = DELETE");
  return bytes_of(path);
}

// What a file must get: refused by everything, unchanged (damaged, not a database, not
// mfjit's); or anything but a crash (readable, if odd).
enum class Expect { kRefused, kNoCrash };

struct Hostile {
  std::string name;
  std::function<void(const std::string& path)> make;  // writes the file (or folder) at path
  Expect expect;
};

// Whether SQLite itself finds the file damaged or not a database, as a connection of a
// reader sees it (read-only: the b-trees) or of a writer (read-write: also every CHECK
// constraint of the schema, which a read-only connection's quick_check leaves out).
struct Damage {
  bool for_readers = false, for_writers = false;
};
Damage damage(const std::string& bytes, const std::string& folder) {
  const std::string copy = folder + "/oracle.db";
  write_bytes(copy, bytes);
  Damage out;
  out.for_readers = query_read_only(copy, "PRAGMA quick_check(1)") != "ok";
  out.for_writers = integrity(copy, "quick_check") != "ok";
  std::filesystem::remove(copy);
  return out;
}

std::vector<Hostile> hostile_files(const std::string& intact, const std::string& folder) {
  std::vector<Hostile> out;
  auto bytes = [](std::string b) { return [b](const std::string& path) { write_bytes(path, b); }; };
  out.push_back(
      {"text", bytes("this is not a database, but long enough to be read as the header of one\n"), Expect::kRefused});
  out.push_back(
      {"directory", [](const std::string& path) { std::filesystem::create_directories(path); }, Expect::kRefused});
  out.push_back({"empty", bytes(""), Expect::kNoCrash});  // readers refuse it; writers make a new database of it
  const std::size_t size = intact.size(), page = 4096;
  const std::vector<std::size_t> cuts =
      long_version() ? std::vector<std::size_t>{50, 100, page, page + 100, size / 2, size - page, size - 1}
                     : std::vector<std::size_t>{size / 2};
  for (const std::size_t cut : cuts)
    out.push_back({fmt::format("truncated to {} bytes", cut), bytes(intact.substr(0, cut)), Expect::kNoCrash});

  // A byte flipped: in the short version the header's page count and a few places of
  // pages; in the long one every header byte, and 16 places of every page.
  std::vector<std::size_t> places;
  if (long_version()) {
    for (std::size_t at = 0; at < 100; ++at) places.push_back(at);
    for (std::size_t p = 0; p < size / page; ++p)
      for (const std::size_t at : {0, 1, 3, 5, 7, 8, 9, 12, 16, 100, 500, 1000, 2000, 3000, 4000, 4095})
        places.push_back(p * page + (p == 0 && at < 100 ? at + 100 : at));
  } else {
    places = {28, 2 * page + 3, size - 100};
  }
  for (const std::size_t at : places) {
    if (at >= size) continue;
    std::string flipped = intact;
    flipped[at] = static_cast<char>(flipped[at] ^ 0xFF);
    out.push_back({fmt::format("byte {} flipped (page {})", at, at / page + 1), bytes(flipped), Expect::kNoCrash});
  }

  // SQLite files that are not mfjit's tuning database, or rows mfjit never writes.
  auto edited = [&](const std::string& name, const std::string& sql, Expect expect) {
    const std::string path = folder + "/edit.db";
    write_bytes(path, intact);
    query(path, sql);
    query(path, "PRAGMA journal_mode = DELETE");
    out.push_back({name, bytes(bytes_of(path)), expect});
    std::filesystem::remove(path);
  };
  {
    const std::string path = folder + "/foreign.db";
    write_bytes(path, "");  // an empty file is an empty SQLite database
    query(path, "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)");
    out.push_back({"another application's database", bytes(bytes_of(path)), Expect::kRefused});
    query(path, fmt::format("PRAGMA application_id = {}", tuning_db::kApplicationId));
    query(path, "PRAGMA user_version = 3");
    out.push_back({"mfjit's application id over other tables", bytes(bytes_of(path)), Expect::kRefused});
    std::filesystem::remove(path);
  }
  edited("a newer schema", "PRAGMA user_version = 99", Expect::kRefused);
  edited("a negative schema version", "PRAGMA user_version = -7", Expect::kRefused);
  edited("a winner table of other columns", "DROP TABLE winners; CREATE TABLE winners (x TEXT)", Expect::kRefused);
  edited("a winner whose trial failed",
         "UPDATE trials SET status = 'wrong_result', median_us = NULL, min_us = NULL, spread_us = NULL "
         "WHERE id IN (SELECT trial_id FROM winners)",
         Expect::kNoCrash);
  edited("problems that are not IR JSON", "UPDATE problems SET problem_json = '{\"op\": 7}' WHERE id % 2 = 0; "
                                          "UPDATE problems SET problem_json = 'not json' WHERE id % 2 = 1",
         Expect::kNoCrash);
  edited("configurations that are not tile configurations",
         "UPDATE trials SET config = '{\"warps\": \"many\", \"generator\": 5}' WHERE id % 2 = 0; "
         "UPDATE trials SET config = '[1, 2]' WHERE id % 2 = 1",
         Expect::kNoCrash);
  edited("devices of odd values", "UPDATE devices SET vendor = 'acme', arch = '', multiprocessors = -5", Expect::kNoCrash);
  edited("text that is not UTF-8", "UPDATE devices SET name = name || CAST(X'FFFE' AS TEXT); "
                                   "UPDATE winners SET noise = CAST(X'C328' AS TEXT)",
         Expect::kNoCrash);
  edited("keys that are not keys", "UPDATE problems SET key = key || ';bucket_n=;bucket_x', family = ''", Expect::kNoCrash);
  return out;
}

struct Command {
  std::string name;
  std::vector<std::string> argv;  // {file}: the hostile file; {good}: an intact copy; {folder}
  bool writes = false;            // opens the hostile file to write (else read-only)
  bool into_good = false;         // writes into the intact copy, reading the hostile file
  bool long_only = false;         // only in the long version (it measures: seconds under the sanitizers)
};

std::vector<Command> commands(const std::string& key) {
  const std::string db = MF_DB_PATH, tune = MF_TUNE_PATH;
  return {
      {"list", {db, "--db", "{file}", "list"}},
      {"list --misses", {db, "--db", "{file}", "list", "--misses"}},
      {"list --stale", {db, "--db", "{file}", "--backend", "cpu", "list", "--stale"}},
      {"show", {db, "--db", "{file}", "show", key}},
      {"export", {db, "--db", "{file}", "export", "{folder}/export.json"}},
      {"diff", {db, "--db", "{file}", "diff", "{good}"}},
      {"diff from an intact database", {db, "--db", "{good}", "diff", "{file}"}},
      {"import", {db, "--db", "{file}", "import", "{folder}/good.json"}, true},
      {"merge", {db, "--db", "{file}", "merge", "{good}"}, true},
      {"merge into an intact database", {db, "--db", "{good}", "merge", "{file}"}, false, true},
      {"prune", {db, "--db", "{file}", "prune", "--failed", "--misses"}, true},
      {"verify", {db, "--db", "{file}", "--backend", "cpu", "verify", "--repeats", "1", "--runners-up", "0"}, true},
      {"mf-tune",
       {tune, "--backend", "cpu", "--db", "{file}", "--problems", "{folder}/problems.json", "--repeats", "1", "--warmup",
        "0", "--on-noise", "default", "--compile-threads", "1"},
       true},
      {"mf-tune --untuned",
       {tune, "--backend", "cpu", "--db", "{file}", "--untuned", "--repeats", "1", "--warmup", "0", "--on-noise",
        "default", "--compile-threads", "1"},
       true, false, true},
  };
}

std::vector<std::string> substituted(std::vector<std::string> argv, const std::string& file, const std::string& good,
                                     const std::string& folder) {
  for (auto& a : argv)
    for (const auto& [name, value] : {std::pair<std::string, std::string>{"{file}", file}, {"{good}", good}, {"{folder}", folder}})
      if (const auto at = a.find(name); at != std::string::npos) a.replace(at, name.size(), value);
  return argv;
}

// A plan for `problem` through the C API on a context whose tuning database is `path`:
// created, with the generator's default and a warning where the file cannot be used.
void check_plan(const std::string& path, const ir::Problem& problem, bool refused, const std::string& what) {
  mf_context_options options;
  mf_context_options_init(&options);
  options.backend = MF_BACKEND_CPU;
  options.db_path = path.c_str();
  mf_context context = nullptr;
  ASSERT_EQ(mf_context_create(&options, &context), MF_SUCCESS) << what << ": " << mf_last_error();
  mf_plan plan = nullptr;
  const mf_status status = bridge::plan_create(context, problem, &plan);
  EXPECT_EQ(status, MF_SUCCESS) << what << ": plan creation: " << mf_last_error();
  if (status == MF_SUCCESS) {
    std::size_t size = 0;
    mf_plan_describe(plan, nullptr, 0, &size);
    std::string text(size, '\0');
    ASSERT_EQ(mf_plan_describe(plan, text.data(), text.size(), nullptr), MF_SUCCESS);
    const auto description = nlohmann::json::parse(text.c_str());
    if (refused) {
      EXPECT_EQ(description.value("config_source", ""), "default") << what;
      EXPECT_FALSE(description.value("tuning_db_warning", "").empty()) << what << ": no warning";
    }
  }
  mf_plan_destroy(plan);
  mf_context_destroy(context);
}

struct Tally {
  std::int64_t files = 0, refused = 0, runs = 0, failed_with_message = 0, succeeded = 0, plans = 0;
};

TEST(HostileFiles, EveryCommandGivesAClearErrorNeverACrashNeverAWrite) {
  const Scratch dir;
  const std::string intact = intact_database(dir.file("intact.db"));
  const auto problems = small_problems();
  write_bytes(dir.file("problems.json"), problems_json(problems));
  const std::string key = ir::problem_key(problems[0]);
  {  // the export every import reads
    const std::string good = dir.file("for-export.db");
    write_bytes(good, intact);
    write_bytes(dir.file("good.json"), tools::to_json(Database::open(good, {tuning_db::Mode::kReadOnly}).winners()).dump());
  }
  Tally tally;
  for (const Hostile& hostile : hostile_files(intact, dir.path())) {
    SCOPED_TRACE(hostile.name);
    ++tally.files;
    const std::string folder = dir.file("case");
    std::filesystem::create_directories(folder);
    std::filesystem::copy_file(dir.file("problems.json"), folder + "/problems.json");
    std::filesystem::copy_file(dir.file("good.json"), folder + "/good.json");
    const std::string file = folder + "/hostile.db", good = folder + "/good.db";
    hostile.make(file);
    const bool directory = std::filesystem::is_directory(file);
    const std::string original = directory ? "" : bytes_of(file);
    const Damage damaged = directory || original.empty() ? Damage{} : damage(original, folder);
    const bool refused_by_readers = hostile.expect == Expect::kRefused || damaged.for_readers;
    const bool refused_by_writers = refused_by_readers || damaged.for_writers;
    tally.refused += refused_by_writers ? 1 : 0;
    const auto all = commands(key);
    for (std::size_t c = 0; c < all.size(); ++c) {
      const Command& command = all[c];
      // The short version runs every fifth command on each file, in turn, so that each
      // command still meets several files of every kind (a run of a tool takes 0.1 s, more
      // under the sanitizers).
      if (!long_version() && ((std::size_t(tally.files) + c) % 5 != 0 || command.long_only)) continue;
      SCOPED_TRACE(command.name);
      // Every command on a file of its own (a writer may change an undamaged one).
      std::filesystem::remove_all(file);
      hostile.make(file);
      write_bytes(good, intact);
      for (const char* suffix : {"-wal", "-shm", "-journal"}) {
        std::filesystem::remove(file + suffix);
        std::filesystem::remove(good + suffix);
      }
      const Exit exit = run(substituted(command.argv, file, good, folder), folder);
      ++tally.runs;
      EXPECT_FALSE(exit.signaled) << exit.describe() << "\n" << exit.err;
      EXPECT_FALSE(sanitizer_report(exit)) << exit.out << exit.err;
      EXPECT_TRUE(exit.code == 0 || exit.code == 1 || exit.code == 2) << exit.describe() << "\n" << exit.err;
      if (exit.code != 0) {
        ++tally.failed_with_message;
        // mf-db and mf-tune say why on stderr; verify names each winner it could not verify
        // ("FAILED: why") and mf-tune each problem ("failed: why") in their tables.
        const bool said = exit.err.find("mf-db: ") != std::string::npos ||
                          exit.err.find("mf-tune: ") != std::string::npos ||
                          exit.out.find("FAILED: ") != std::string::npos || exit.out.find("failed: ") != std::string::npos;
        EXPECT_TRUE(said) << "no message: " << exit.out << exit.err;
        EXPECT_THAT(exit.err, ::testing::Not(HasSubstr("[json.exception"))) << "an unexplained JSON error";
      } else {
        ++tally.succeeded;
      }
      if (command.writes ? refused_by_writers : refused_by_readers) {
        EXPECT_NE(exit.code, 0) << "succeeded on a file it must refuse:\n" << exit.out;
      }
      if (refused_by_writers) {  // nothing writes into it, whether it refused it or only read it
        if (directory) {
          EXPECT_TRUE(std::filesystem::is_directory(file) && std::filesystem::is_empty(file));
        } else {
          EXPECT_TRUE(bytes_of(file) == original) << "wrote into a file it must refuse";
        }
      }
      if (command.into_good && exit.code == 0) {
        EXPECT_EQ(integrity(good), "ok");
      }
      if (::testing::Test::HasFailure()) break;
    }
    // Plan creation through the C API: never fails for the database's sake.
    std::filesystem::remove_all(file);
    hostile.make(file);
    check_plan(file, problems[1], refused_by_readers, hostile.name);
    ++tally.plans;
    if (refused_by_writers && !directory) {
      EXPECT_TRUE(bytes_of(file) == original) << "plan creation wrote into a file it must refuse";
    }
    std::filesystem::remove_all(folder);
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("hostile files: %lld files (%lld refused: damaged or not mfjit's), %lld command runs (%lld ended with a "
              "message, %lld succeeded), %lld plans; %s\n",
              static_cast<long long>(tally.files), static_cast<long long>(tally.refused),
              static_cast<long long>(tally.runs), static_cast<long long>(tally.failed_with_message),
              static_cast<long long>(tally.succeeded), static_cast<long long>(tally.plans),
              ::testing::Test::HasFailure() ? "FAILURES (above)" : "no crash, no write into a refused file");
}

}  // namespace
}  // namespace mf::reliability
