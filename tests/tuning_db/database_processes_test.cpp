// The tuning database across processes: many concurrent writers lose no row and see no
// error, and a writer killed at any moment leaves a database that opens, passes SQLite's
// integrity check and holds every trial it committed and nothing else.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "db_test_helpers.h"
#include "mf/tuning_db/database.h"

namespace mf::tuning_db {
namespace {

using testing::h200;
using testing::ok_trial;
using testing::problem;
using testing::ScratchDir;

// Forks a child that runs fn and exits with its result (never returns in the child).
template <class F>
pid_t spawn(F&& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 1;
    try {
      code = fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child %d: %s\n", ::getpid(), e.what());
    }
    ::_exit(code);
  }
  return pid;
}

int exit_code(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(TuningDatabaseProcesses, EightWritersLoseNoRow) {
  constexpr int kWriters = 8, kWrites = 200;
  const ScratchDir dir;
  const auto path = dir.file("tuning.db");
  std::vector<pid_t> children;
  // Every writer opens the missing file at once: creation and migration race too.
  for (int w = 0; w < kWriters; ++w)
    children.push_back(spawn([&, w] {
      Database db = Database::open(path);
      for (int i = 0; i < kWrites; ++i) {
        const auto key = fmt::format("v1;writer={};i={}", w, i % 20);
        const auto trial = db.record_trial(h200(), problem(key), ok_trial(fmt::format("{{\"i\": {}}}", i), 1.0 + i));
        if (i < 20) db.set_winner(trial, {"random", i + 1, 0.0});
        if (i % 25 == 0) db.record_miss(h200(), problem("v1;shared"), "hash1");
      }
      return 0;
    }));
  for (pid_t child : children) EXPECT_EQ(exit_code(child), 0);
  Database db = Database::open(path);
  EXPECT_EQ(db.trial_count(), kWriters * kWrites);
  EXPECT_EQ(db.winners().size(), std::size_t(kWriters) * 20);
  const auto misses = db.misses();
  ASSERT_EQ(misses.size(), 1u);
  EXPECT_EQ(misses[0].count, kWriters * (kWrites / 25));
}

// A database shipped read-only (file 0444 in a folder 0555: a wheel, a container image, a
// shared cluster path) is read by a user who cannot write there (issue 27: SQLite failed
// with "attempt to write a readonly database" creating the WAL index). The reader runs as
// `nobody` when the test runs as root, whom permissions do not stop.
TEST(TuningDatabaseProcesses, ReadOnlyFolderIsReadAsItIs) {
  const ScratchDir dir;
  const std::string folder = dir.file("shipped #1?");  // characters a URI must encode
  std::filesystem::create_directory(folder);
  const std::string path = folder + "/tuning.db";
  {
    Database db = Database::open(path);
    db.set_winner(db.record_trial(h200(), problem("v1;k=shipped"), ok_trial("{\"warps\": 4}", 2.0)), {"random", 1, 0.0});
  }
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::group_read |
                                         std::filesystem::perms::others_read);
  std::filesystem::permissions(folder, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec |
                                           std::filesystem::perms::group_read | std::filesystem::perms::group_exec |
                                           std::filesystem::perms::others_read | std::filesystem::perms::others_exec);
  std::filesystem::permissions(dir.file(""), std::filesystem::perms::others_exec, std::filesystem::perm_options::add);
  const pid_t reader = spawn([&] {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) return 3;
    Database db = Database::open(path, {Mode::kReadOnly});
    const auto winners = db.winners();
    return winners.size() == 1 && winners[0].key == "v1;k=shipped" ? 0 : 4;
  });
  EXPECT_EQ(exit_code(reader), 0);
  std::filesystem::permissions(folder, std::filesystem::perms::owner_all, std::filesystem::perm_options::add);
}

std::string integrity(const std::string& path) {
  sqlite3* handle = nullptr;
  sqlite3_open(path.c_str(), &handle);
  sqlite3_stmt* statement = nullptr;
  std::string result = "no answer";
  if (sqlite3_prepare_v2(handle, "PRAGMA integrity_check", -1, &statement, nullptr) == SQLITE_OK &&
      sqlite3_step(statement) == SQLITE_ROW)
    result = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
  sqlite3_finalize(statement);
  sqlite3_close(handle);
  return result;
}

// The child reports each committed trial on a pipe and is killed after a varying delay,
// mostly in the middle of a write.
TEST(TuningDatabaseProcesses, AWriterKilledAtAnyMomentLeavesACommittedPrefix) {
  const ScratchDir dir;
  const auto path = dir.file("tuning.db");
  { Database::open(path); }
  std::int64_t reported_total = 0;
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE(round);
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t child = spawn([&] {
      ::close(pipe_fds[0]);
      Database db = Database::open(path);
      for (int i = 0;; ++i) {
        WinnerRecord winner;  // a trial and its winner: two rows in one transaction
        winner.key = fmt::format("v1;round={};i={}", round, i);
        winner.family = "f";
        winner.problem_json = "{}";
        winner.device = h200();
        winner.trial = ok_trial("{}", 2.0);
        winner.provenance = {"import", 1, 0.0};
        winner.created_at = "2026-12-01T00:00:00Z";
        db.import_winner(winner, [](const WinnerRecord&, const WinnerRecord&) { return false; });
        const char byte = 1;
        if (::write(pipe_fds[1], &byte, 1) != 1) return 1;
      }
    });
    ::close(pipe_fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + 37 * round));
    ::kill(child, SIGKILL);
    EXPECT_EQ(exit_code(child), 128 + SIGKILL);
    char buffer[4096];
    std::int64_t reported = 0;
    for (ssize_t got; (got = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) reported += got;
    ::close(pipe_fds[0]);
    reported_total += reported;

    EXPECT_EQ(integrity(path), "ok");
    Database db = Database::open(path);
    const std::int64_t trials = db.trial_count();
    const auto winners = db.winners();
    // Committed but killed before reporting: at most one more than reported.
    EXPECT_GE(trials, reported_total);
    EXPECT_LE(trials, reported_total + round + 1);
    EXPECT_EQ(std::int64_t(winners.size()), trials);  // never a trial without its winner
    reported_total = trials;
  }
  EXPECT_GT(reported_total, 0);
}

}  // namespace
}  // namespace mf::tuning_db
