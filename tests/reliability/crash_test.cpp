// kill -9 at every write point of the tuning database (issue 27; tests/reliability/README.md).
//
// mf-tune (cpu backend), mf-db import and mf-db merge run as a child process (mf_faulty:
// the tools' own command functions over an SQLite VFS that dies with SIGKILL at its Nth
// write point — a write, truncate or sync of the database, its WAL or a journal, or a
// file's deletion). A first run counts the command's write points; then one run per write
// point N (the long version: every N; the short one, in CI: every 10th and the last) is
// killed there. After each kill the database must open as plans open it (read-only) and as
// the tools do (read-write), pass SQLite's integrity and foreign-key checks, have no winner
// that points at a missing or failed trial, and hold either what it held before the
// command or what an uninterrupted run leaves (an import or merge is all or nothing); and
// the command run again must complete with the uninterrupted run's result.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "harness.h"
#include "mf/tuning_db/database.h"
#include "winner_json.h"

namespace mf::reliability {
namespace {

using tuning_db::Database;

struct Workload {
  std::string name;
  // The files the command starts from, written into an empty folder.
  std::function<void(const std::string& folder)> prepare;
  // The command after mf_faulty's own arguments; {folder} stands for the run's folder.
  std::vector<std::string> command;
  // All or nothing: after a kill the winners are those before or those after the command.
  bool atomic = true;
  // The short version's write points: every 10th (0), or this many spread over them.
  std::int64_t short_runs = 0;
};

std::vector<std::string> in_folder(const std::vector<std::string>& command, const std::string& folder) {
  std::vector<std::string> out;
  for (std::string a : command) {
    if (const auto at = a.find("{folder}"); at != std::string::npos) a.replace(at, 8, folder);
    out.push_back(a);
  }
  return out;
}

// What a database holds for the comparisons: its winners; an absent or empty file holds
// nothing yet.
bool exists(const std::string& path) {
  return std::filesystem::exists(path) && std::filesystem::file_size(path) > 0;
}
std::vector<std::string> held(const std::string& path) {
  return exists(path) ? winner_lines(path) : std::vector<std::string>{};
}
// The problems that have a winner (mf-tune's winners differ from run to run in their times).
std::vector<std::string> tuned_keys(const std::string& path) {
  return exists(path) ? query(path, "SELECT p.key FROM winners w JOIN problems p ON p.id = w.problem_id ORDER BY 1")
                      : std::vector<std::string>{};
}

// Every check a database left by a killed command must pass; failures name the write point.
void check_survivor(const std::string& path, const Workload& w, const std::vector<std::string>& before,
                    const std::vector<std::string>& after, std::int64_t point) {
  SCOPED_TRACE(fmt::format("{}: killed at write point {}", w.name, point));
  if (!exists(path)) {
    EXPECT_TRUE(before.empty()) << "the database the command started from is gone";
    return;
  }
  std::vector<std::string> read_only;
  try {  // as plan creation opens it, first: nothing has recovered the file yet
    read_only = winner_lines(path);
  } catch (const tuning_db::Error& e) {
    // A database being created holds no schema until its first transaction commits:
    // readers find "no mfjit tuning database yet", as they do for a missing file.
    const bool nothing_yet = e.kind() == tuning_db::ErrorKind::kForeign &&
                             std::string(e.what()).find("is empty") != std::string::npos;
    EXPECT_TRUE(nothing_yet && before.empty()) << "read-only open: " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "read-only open: " << e.what();
  }
  try {
    Database::open(path);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "read-write open: " << e.what();
  }
  EXPECT_EQ(integrity(path), "ok");
  EXPECT_EQ(query(path, "PRAGMA foreign_key_check"), std::vector<std::string>{});
  EXPECT_EQ(query(path, "SELECT count(*) FROM winners w LEFT JOIN trials t ON t.id = w.trial_id "
                        "WHERE t.id IS NULL OR t.status <> 'ok' OR t.median_us IS NULL"),
            std::vector<std::string>{"0"});
  const std::vector<std::string> now = held(path);
  EXPECT_EQ(read_only, now) << "a reader saw another state than the next writer";
  if (w.atomic) {
    EXPECT_TRUE(now == before || now == after) << "neither the state before nor the one after";
  }
}

struct Figures {
  std::int64_t write_points = 0, runs = 0, kills = 0, completed = 0, resumed = 0;
};

Figures crash_everywhere(const Workload& w) {
  const Scratch dir;
  Figures figures;
  const std::string reference = dir.file("reference");
  std::filesystem::create_directories(reference);
  w.prepare(reference);
  const std::string db = "/tuning.db";
  const std::vector<std::string> before = held(reference + db);
  std::vector<std::string> argv = {MF_FAULTY_PATH, "--count-to", reference + "/count"};
  for (const auto& a : in_folder(w.command, reference)) argv.push_back(a);
  const Exit counted = run(argv, reference);
  EXPECT_FALSE(counted.signaled || counted.code != 0) << counted.describe() << "\n" << counted.out << counted.err;
  figures.write_points = std::stoll(bytes_of(reference + "/count"));
  const std::vector<std::string> after = w.atomic ? held(reference + db) : tuned_keys(reference + db);
  EXPECT_GT(figures.write_points, 0);

  std::vector<std::int64_t> points;
  const std::int64_t step = long_version()  ? 1
                            : w.short_runs > 0 ? std::max<std::int64_t>(10, figures.write_points / (w.short_runs - 1))
                                               : 10;
  for (std::int64_t n = 1; n <= figures.write_points; n += step) points.push_back(n);
  if (points.empty() || points.back() != figures.write_points) points.push_back(figures.write_points);
  for (const std::int64_t n : points) {
    const std::string folder = dir.file(fmt::format("kill-{}", n));
    std::filesystem::create_directories(folder);
    w.prepare(folder);
    argv = {MF_FAULTY_PATH, "--kill-at", std::to_string(n)};
    for (const auto& a : in_folder(w.command, folder)) argv.push_back(a);
    const Exit killed = run(argv, folder);
    ++figures.runs;
    if (killed.signaled && killed.code == SIGKILL) {
      ++figures.kills;
    } else {
      // Fewer write points this time (mf-tune's trials depend on its measurements): the
      // command ran to its end and must have succeeded.
      EXPECT_EQ(killed.describe(), "exit 0") << w.name << " at write point " << n << "\n" << killed.err;
      ++figures.completed;
    }
    check_survivor(folder + db, w, before, w.atomic ? after : std::vector<std::string>{}, n);

    argv = {MF_FAULTY_PATH};
    for (const auto& a : in_folder(w.command, folder)) argv.push_back(a);
    const Exit resumed = run(argv, folder);
    EXPECT_EQ(resumed.describe(), "exit 0") << w.name << ", run again after a kill at " << n << ":\n"
                                            << resumed.out << resumed.err;
    EXPECT_EQ(w.atomic ? held(folder + db) : tuned_keys(folder + db), after)
        << w.name << ", run again after a kill at " << n;
    EXPECT_EQ(integrity(folder + db), "ok");
    figures.resumed += resumed.code == 0 && !resumed.signaled ? 1 : 0;
    std::filesystem::remove_all(folder);
    if (::testing::Test::HasFailure()) break;  // one write point's story is enough to read
  }
  std::printf("%s: %lld write points; %lld runs killed at one, %lld of them killed there, %lld ran to their end; "
              "%s; %lld of %lld runs again completed\n",
              w.name.c_str(), static_cast<long long>(figures.write_points), static_cast<long long>(figures.runs),
              static_cast<long long>(figures.kills), static_cast<long long>(figures.completed),
              ::testing::Test::HasFailure() ? "CHECKS FAILED (above)" : "every database opened and passed the checks",
              static_cast<long long>(figures.resumed), static_cast<long long>(figures.runs));
  return figures;
}

// Winners of small real problems on an H200 (template configurations) and their export.
std::vector<tuning_db::WinnerRecord> h200_winners(double median_us) {
  const Scratch dir;
  Database db = Database::open(dir.file("w.db"));
  for (const auto& p : small_problems()) {
    if (!std::holds_alternative<ir::EvoAttention>(p.op)) continue;
    const auto configs = h200_configs(p);
    for (std::size_t i = 0; i < 3; ++i) {
      const auto trial = db.record_trial(h200(), record_of(p),
                                         {"template", "hash1", configs[i], tuning_db::TrialStatus::kOk, "",
                                          tuning_db::Timing{median_us + double(i), median_us, 0.1, 20}});
      if (i == 0) db.set_winner(trial, {"exhaustive", 3, 0.05});
    }
  }
  for (const std::int64_t tokens : {64, 128}) {
    const ir::Problem p{ir::msa_row_attention(1, 2, tokens, 2, 16), ir::Direction::forward()};
    db.set_winner(db.record_trial(h200(), record_of(p),
                                  {"template", "hash1", h200_configs(p)[1], tuning_db::TrialStatus::kOk, "",
                                   tuning_db::Timing{median_us * double(tokens), median_us, 0.1, 20}}),
                  {"descent", 7, 0.02});
  }
  return db.winners();
}

// Into a new database (its creation is killed too): the short version tunes one problem
// and is killed at its first, a middle and its last write point (a run takes a second, more
// under the sanitizers); the long one tunes three.
TEST(Crash, MfTuneAtEveryWritePoint) {
  std::vector<ir::Problem> problems = small_problems();
  if (!long_version()) problems.resize(1);
  const std::string problems_text = problems_json(problems);
  const Workload w{"mf-tune", [&](const std::string& folder) { write_bytes(folder + "/problems.json", problems_text); },
                   {"mf-tune", "--backend", "cpu", "--db", "{folder}/tuning.db", "--problems", "{folder}/problems.json",
                    "--strategy", "exhaustive", "--on-noise", "default", "--repeats", "1", "--warmup", "0",
                    "--compile-threads", "1"},
                   false,
                   3};
  const Figures figures = crash_everywhere(w);
  EXPECT_GT(figures.kills, 0);
}

// Into a database of schema version 1 (the import migrates it first: its table rebuild is
// killed too) that holds a winner of its own.
TEST(Crash, MfDbImportAtEveryWritePoint) {
  const Scratch setup;
  const std::string start = setup.file("start.db");
  {
    tuning_db::OpenOptions old;
    old.create_version = 1;
    Database db = Database::open(start, old);
    const ir::Problem p{ir::msa_row_attention(1, 4, 32, 2, 16), ir::Direction::forward()};
    db.record_trial(h200(), record_of(p),
                    {"template", "hash1", h200_configs(p)[0], tuning_db::TrialStatus::kOk, "",
                     tuning_db::Timing{3, 3, 0, 5}});
  }
  query(start, "INSERT INTO winners (problem_id, device_id, generator_hash, trial_id, strategy, trials, margin, "
               "created_at) SELECT problem_id, device_id, generator_hash, id, 'exhaustive', 1, 0.1, "
               "'2026-12-01T00:00:00Z' FROM trials");
  query(start, "PRAGMA journal_mode = DELETE");
  const std::string start_bytes = bytes_of(start);
  const std::string export_text = tools::to_json(h200_winners(10.0)).dump(1);
  const Workload w{"mf-db import",
                   [&](const std::string& folder) {
                     write_bytes(folder + "/tuning.db", start_bytes);
                     write_bytes(folder + "/export.json", export_text);
                   },
                   {"mf-db", "--db", "{folder}/tuning.db", "import", "{folder}/export.json"}};
  const Figures figures = crash_everywhere(w);
  EXPECT_GT(figures.kills, 0);
}

// Another database's winners into one that has winners: the faster replace the slower.
TEST(Crash, MfDbMergeAtEveryWritePoint) {
  const Scratch setup;
  const std::string target = setup.file("target.db"), other = setup.file("other.db");
  {
    Database db = Database::open(target);
    const auto slow = h200_winners(20.0);
    db.import_winners({slow[0], slow[1]}, tools::keep_existing);
  }
  {
    Database db = Database::open(other);
    db.import_winners(h200_winners(10.0), tools::keep_existing);
  }
  query(target, "PRAGMA journal_mode = DELETE");
  query(other, "PRAGMA journal_mode = DELETE");
  const std::string target_bytes = bytes_of(target), other_bytes = bytes_of(other);
  const Workload w{"mf-db merge",
                   [&](const std::string& folder) {
                     write_bytes(folder + "/tuning.db", target_bytes);
                     write_bytes(folder + "/other.db", other_bytes);
                   },
                   {"mf-db", "--db", "{folder}/tuning.db", "merge", "{folder}/other.db"}};
  const Figures figures = crash_everywhere(w);
  EXPECT_GT(figures.kills, 0);
}

}  // namespace
}  // namespace mf::reliability
