// The tuning database without processes: schema, migrations, what files are refused, every
// read and write, and that a failed write changes nothing.
#include "mf/tuning_db/database.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "db_test_helpers.h"

namespace mf::tuning_db {
namespace {

using ::testing::HasSubstr;
using testing::failed_trial;
using testing::h200;
using testing::ok_trial;
using testing::problem;
using testing::ScratchDir;

// Runs SQL on the file through a connection of its own.
void raw_sql(const std::string& path, const std::string& sql) {
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &handle), SQLITE_OK);
  char* message = nullptr;
  const int code = sqlite3_exec(handle, sql.c_str(), nullptr, nullptr, &message);
  const std::string text = message != nullptr ? message : "";
  sqlite3_free(message);
  sqlite3_close(handle);
  ASSERT_EQ(code, SQLITE_OK) << text;
}

std::string raw_value(const std::string& path, const std::string& sql) {
  sqlite3* handle = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &handle), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  std::string value;
  if (sqlite3_prepare_v2(handle, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK &&
      sqlite3_step(statement) == SQLITE_ROW && sqlite3_column_text(statement, 0) != nullptr)
    value = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
  sqlite3_finalize(statement);
  sqlite3_close(handle);
  return value;
}

template <class F>
void expect_error(F&& fn, ErrorKind kind, const std::string& part) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing: " << part;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_THAT(e.what(), HasSubstr(part));
  }
}

TEST(TuningDatabase, CreatesTheCurrentSchemaWithStrictTablesAndWal) {
  const ScratchDir dir;
  const auto path = dir.file("tuning.db");
  { Database db = Database::open(path); EXPECT_EQ(db.schema_version(), kSchemaVersion); }
  EXPECT_EQ(raw_value(path, "PRAGMA application_id"), std::to_string(kApplicationId));
  EXPECT_EQ(raw_value(path, "PRAGMA journal_mode"), "wal");
  for (const char* table : {"devices", "problems", "trials", "winners", "misses"})
    EXPECT_THAT(raw_value(path, std::string("SELECT sql FROM sqlite_schema WHERE name = '") + table + "'"),
                HasSubstr("STRICT"))
        << table;
  // STRICT: a text where an integer belongs is refused, not stored.
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &handle), SQLITE_OK);
  const int code = sqlite3_exec(handle,
                                "INSERT INTO devices (vendor, name, arch, multiprocessors, l2_bytes, memory_bytes, "
                                "driver_version, toolkit_version) VALUES ('a', 'b', 'c', 'many', 1, 1, 1, 'x')",
                                nullptr, nullptr, nullptr);
  sqlite3_close(handle);
  EXPECT_NE(code, SQLITE_OK);
}

// A database of every earlier version, holding data that version could hold (written as
// that version's mfjit wrote it), opens at the current version with that data intact.
TEST(TuningDatabase, MigratesFromEveryEarlierVersion) {
  for (int version = 1; version < kSchemaVersion; ++version) {
    SCOPED_TRACE(version);
    const ScratchDir dir;
    const auto path = dir.file("old.db");
    {
      OpenOptions old;
      old.create_version = version;
      Database db = Database::open(path, old);
      ASSERT_EQ(db.schema_version(), version);
      db.record_trial(h200(), problem("v1;k=old"), ok_trial("{\"warps\": 4}", 12.5));
      db.record_trial(h200(), problem("v1;k=noisy"), ok_trial("{\"warps\": 8}", 2846.0));
    }
    // Winners as versions 1 and 2 stored them: no noise note; the second with the margin
    // of a noisy decision from before the tuner looked for noise (issue 27.3).
    raw_sql(path, "INSERT INTO winners (problem_id, device_id, generator_hash, trial_id, strategy, trials, margin, "
                  "created_at) SELECT problem_id, device_id, generator_hash, id, 'exhaustive', 10, "
                  "CASE WHEN median_us > 1000 THEN -0.98 ELSE 0.05 END, '2026-12-01T00:00:00Z' FROM trials");
    {  // Read-only (plans, a shipped file) it is not migrated, and still read: no notes.
      const Database reader = Database::open(path, {Mode::kReadOnly});
      EXPECT_EQ(reader.schema_version(), version);
      ASSERT_EQ(reader.winners().size(), 2u);
      EXPECT_EQ(reader.winners()[0].provenance.noise, "");
    }
    Database db = Database::open(path);
    EXPECT_EQ(db.schema_version(), kSchemaVersion);
    const auto winner = db.winner(h200(), "v1;k=old", "hash1");
    ASSERT_TRUE(winner);
    EXPECT_EQ(winner->trial.config, "{\"warps\": 4}");
    EXPECT_DOUBLE_EQ(winner->trial.timing->median_us, 12.5);
    EXPECT_EQ(winner->provenance.strategy, "exhaustive");
    EXPECT_DOUBLE_EQ(winner->provenance.margin, 0.05);
    EXPECT_EQ(winner->provenance.noise, "");
    // Version 3: a winner below the margin floor says why.
    const auto noisy = db.winner(h200(), "v1;k=noisy", "hash1");
    ASSERT_TRUE(noisy);
    EXPECT_DOUBLE_EQ(noisy->provenance.margin, -0.98);
    EXPECT_THAT(noisy->provenance.noise, HasSubstr("before mfjit looked for noise"));
    db.record_miss(h200(), problem("v1;k=new"), "hash1");  // the newer versions' tables work
    EXPECT_EQ(db.misses().size(), 1u);
    db.set_winner(db.record_trial(h200(), problem("v1;k=new"), ok_trial("{}", 1.0)), {"descent", 2, 0.1, "noisy: x"});
    EXPECT_EQ(db.winner(h200(), "v1;k=new", "hash1")->provenance.noise, "noisy: x");
  }
}

// Version 3's check: a winner whose margin is below the floor (-3 %) must carry a noise
// note; the write API says so before SQLite's CHECK would, and the CHECK holds for SQL too.
TEST(TuningDatabase, AWinnerBelowTheMarginFloorMustSayWhy) {
  const ScratchDir dir;
  const auto path = dir.file("tuning.db");
  Database db = Database::open(path);
  const auto trial = db.record_trial(h200(), problem("v1;k=a"), ok_trial("{}", 2846.0));
  expect_error([&] { db.set_winner(trial, {"descent", 2, -0.95}); }, ErrorKind::kInvalid, "needs a noise note");
  EXPECT_FALSE(db.winner(h200(), "v1;k=a", "hash1"));
  db.set_winner(trial, {"descent", 2, kMarginFloor});  // at the floor: no note needed
  db.set_winner(trial, {"descent", 2, -0.95, "noisy: kept the default configuration"});
  EXPECT_EQ(db.winner(h200(), "v1;k=a", "hash1")->provenance.noise, "noisy: kept the default configuration");
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &handle), SQLITE_OK);
  const int code = sqlite3_exec(handle, "UPDATE winners SET noise = ''", nullptr, nullptr, nullptr);
  sqlite3_close(handle);
  EXPECT_EQ(code, SQLITE_CONSTRAINT);
}

// Broken pages (bytes flipped inside the file) are found when the file is opened, in both
// modes, before anything is written into it (issue 27: mf-tune kept writing).
TEST(TuningDatabase, RefusesADamagedFileOnOpen) {
  const ScratchDir dir;
  const auto path = dir.file("damaged.db");
  {
    Database db = Database::open(path);
    for (int i = 0; i < 400; ++i)
      db.record_trial(h200(), problem(fmt::format("v1;k={}", i)), ok_trial(fmt::format("{{\"i\": {}}}", i), 1.0 + i));
  }
  raw_sql(path, "PRAGMA wal_checkpoint(TRUNCATE)");
  const auto size = std::filesystem::file_size(path);
  ASSERT_GT(size, 8u * 4096u);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    for (std::uintmax_t offset = 2 * 4096; offset + 4096 <= size; offset += 4096) {  // every page past the second
      file.seekp(static_cast<std::streamoff>(offset + 8));
      const std::string garbage(64, '\x5a');
      file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    }
  }
  const auto before = std::filesystem::last_write_time(path);
  expect_error([&] { Database::open(path); }, ErrorKind::kNotDatabase, "is damaged (SQLite's quick_check");
  expect_error([&] { Database::open(path, {Mode::kReadOnly}); }, ErrorKind::kNotDatabase, "move it away");
  EXPECT_EQ(std::filesystem::file_size(path), size);
  EXPECT_EQ(std::filesystem::last_write_time(path), before);
}

TEST(TuningDatabase, RefusesFilesThatAreNotItsOwn) {
  const ScratchDir dir;
  const auto text = dir.file("notes.txt");
  std::ofstream(text) << "this is not a database, but it is long enough to look like a header of one\n";
  expect_error([&] { Database::open(text); }, ErrorKind::kNotDatabase, "notes.txt");
  expect_error([&] { Database::open(text, {Mode::kReadOnly}); }, ErrorKind::kNotDatabase, "notes.txt");

  const auto foreign = dir.file("foreign.db");
  raw_sql(foreign, "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)");
  expect_error([&] { Database::open(foreign); }, ErrorKind::kForeign, "another application");
  EXPECT_EQ(raw_value(foreign, "SELECT count(*) FROM sqlite_schema"), "1");  // left untouched

  const auto newer = dir.file("newer.db");
  { Database::open(newer); }
  raw_sql(newer, "PRAGMA user_version = 99");
  expect_error([&] { Database::open(newer); }, ErrorKind::kNewerSchema, "schema version 99, newer than");

  // A negative schema version (issue 27: INT_MIN crashed every process that opened the
  // file, small ones ran garbage migrations) is a damaged file, refused in both modes.
  for (const char* version : {"-2147483648", "-2", "-100"}) {
    const auto negative = dir.file(std::string("negative") + version + ".db");
    { Database::open(negative); }
    raw_sql(negative, std::string("PRAGMA user_version = ") + version);
    expect_error([&] { Database::open(negative); }, ErrorKind::kNotDatabase,
                 std::string("schema version ") + version + ", which is not one mfjit ever wrote");
    expect_error([&] { Database::open(negative, {Mode::kReadOnly}); }, ErrorKind::kNotDatabase, "not one mfjit");
    EXPECT_EQ(raw_value(negative, "PRAGMA user_version"), version);  // left as it was
  }

  // mfjit's application id without a schema version (and so without tables) is never what
  // mfjit writes: refused rather than read with "no such table" or migrated in place.
  const auto stamped = dir.file("stamped.db");
  raw_sql(stamped, "PRAGMA application_id = " + std::to_string(kApplicationId));
  expect_error([&] { Database::open(stamped); }, ErrorKind::kNotDatabase, "application id but no schema version");
  expect_error([&] { Database::open(stamped, {Mode::kReadOnly}); }, ErrorKind::kNotDatabase, "damaged");
  EXPECT_EQ(raw_value(stamped, "SELECT count(*) FROM sqlite_schema"), "0");  // left untouched

  expect_error([&] { Database::open(dir.file("missing.db"), {Mode::kReadOnly}); }, ErrorKind::kCannotOpen,
               "missing.db");
  expect_error([&] { Database::open(dir.file("no/such/folder/tuning.db")); }, ErrorKind::kCannotOpen,
               "cannot open the tuning database");
  const auto empty = dir.file("empty.db");
  std::ofstream{empty};
  expect_error([&] { Database::open(empty, {Mode::kReadOnly}); }, ErrorKind::kForeign, "empty");
  EXPECT_EQ(Database::open(empty).schema_version(), kSchemaVersion);  // an empty file becomes ours
}

// The file's bytes, to show that a refused file was not written.
std::string bytes_of(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

// mfjit's application id and a schema version over tables that are not that version's (an
// edit, another program, a damaged schema) are refused on open in both modes, before
// anything is written (issue 27: they were opened, switched to WAL, and failed later in
// the middle of a command with "no such table").
TEST(TuningDatabase, RefusesItsApplicationIdOverOtherTables) {
  const ScratchDir dir;
  const std::vector<std::pair<std::string, std::string>> spoilers = {
      {"photos", "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT); PRAGMA user_version = 3"},
      {"no_winners", "DROP TABLE winners"},
      {"extra_column", "ALTER TABLE trials ADD COLUMN colour TEXT"},
      {"other_types", "DROP TABLE misses; CREATE TABLE misses (problem_id TEXT, device_id TEXT, generator_hash TEXT, "
                      "count TEXT, first_seen TEXT, last_seen TEXT)"},
      {"no_index", "DROP INDEX problems_by_family"},
  };
  for (const auto& [name, sql] : spoilers) {
    SCOPED_TRACE(name);
    const auto path = dir.file(name + ".db");
    if (name == "photos") {
      raw_sql(path, "PRAGMA application_id = " + std::to_string(kApplicationId));
    } else {
      Database db = Database::open(path);
      db.record_trial(h200(), problem("v1;k=a"), ok_trial("{\"warps\": 4}", 2.0));
    }
    raw_sql(path, sql + "; PRAGMA journal_mode = DELETE");
    const std::string before = bytes_of(path);
    expect_error([&] { Database::open(path); }, ErrorKind::kNotDatabase, "has mfjit's application id and schema version");
    expect_error([&] { Database::open(path, {Mode::kReadOnly}); }, ErrorKind::kNotDatabase, "move it away");
    EXPECT_TRUE(bytes_of(path) == before) << "written into";
    EXPECT_EQ(raw_value(path, "PRAGMA journal_mode"), "delete");
  }
  // What the message says about the columns.
  expect_error([&] { Database::open(dir.file("extra_column.db")); }, ErrorKind::kNotDatabase,
               "table trials has the columns (");
  expect_error([&] { Database::open(dir.file("no_winners.db")); }, ErrorKind::kNotDatabase, "table winners is missing");
}

// A refused file is left as it was, its WAL included: closing the connection that refused
// it would have checkpointed the WAL into it (issue 27: "never a write into a damaged file").
TEST(TuningDatabase, ARefusedFileKeepsItsWal) {
  const ScratchDir dir;
  const auto path = dir.file("tuning.db"), copy = dir.file("copy.db");
  Database db = Database::open(path);
  for (int i = 0; i < 200; ++i)
    db.record_trial(h200(), problem(fmt::format("v1;k={}", i)), ok_trial(fmt::format("{{\"i\": {}}}", i), 1.0 + i));
  raw_sql(path, "PRAGMA wal_checkpoint(TRUNCATE)");
  // Frames in the WAL that no checkpoint has copied yet: a trial committed, then both files
  // copied while the writer's connection is still open.
  db.record_trial(h200(), problem("v1;k=late"), ok_trial("{\"i\": 9999}", 1.0));
  std::filesystem::copy_file(path, copy);
  std::filesystem::copy_file(path + "-wal", copy + "-wal");
  ASSERT_GT(std::filesystem::file_size(copy + "-wal"), 0u);
  {
    std::fstream file(copy, std::ios::in | std::ios::out | std::ios::binary);
    const auto size = std::filesystem::file_size(copy);
    for (std::uintmax_t offset = 3 * 4096; offset + 4096 <= size; offset += 2 * 4096) {
      file.seekp(static_cast<std::streamoff>(offset + 8));
      const std::string garbage(64, '\x5a');
      file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    }
  }
  const std::string before = bytes_of(copy), wal = bytes_of(copy + "-wal");
  expect_error([&] { Database::open(copy); }, ErrorKind::kNotDatabase, "damaged");
  EXPECT_TRUE(bytes_of(copy) == before) << "the WAL was checkpointed into the refused file";
  EXPECT_TRUE(bytes_of(copy + "-wal") == wal) << "the WAL beside the refused file changed";
}

// A writer killed in the middle of a rollback-journal transaction (a file not yet switched
// to WAL: being created, or an older one being opened by mf-tune or mf-db for the first
// time) leaves a hot journal that a read-only connection cannot roll back: plans and mf-db's
// readers failed with "attempt to write a readonly database" until a writer came (issue 27,
// found by Crash.MfDbImportAtEveryWritePoint at write point 7). The reader rolls it back
// and reads what was committed.
TEST(TuningDatabase, AReaderRecoversTheJournalOfAKilledWriter) {
  const ScratchDir dir;
  const auto path = dir.file("tuning.db"), copy = dir.file("copy.db");
  {
    Database db = Database::open(path);
    db.set_winner(db.record_trial(h200(), problem("v1;k=a"), ok_trial("{\"warps\": 4}", 2.0)), {"random", 1, 0.0});
  }
  raw_sql(path, "PRAGMA journal_mode = DELETE");
  // A transaction in flight, larger than its page cache (so that pages reach the file),
  // copied with its journal: the copy is the file of a writer killed there.
  sqlite3* writer = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &writer), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(writer,
                         "PRAGMA cache_size = 2; BEGIN IMMEDIATE; "
                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) "
                         "INSERT INTO problems (key, family, problem_json) SELECT 'v1;k=late' || i, 'f', "
                         "printf('%.2000c', 'x') FROM n",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  std::filesystem::copy_file(path, copy);
  std::filesystem::copy_file(path + "-journal", copy + "-journal");
  sqlite3_exec(writer, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(writer);
  ASSERT_GT(std::filesystem::file_size(copy + "-journal"), 0u);

  const Database reader = Database::open(copy, {Mode::kReadOnly});
  const auto winners = reader.winners();
  ASSERT_EQ(winners.size(), 1u);
  EXPECT_EQ(winners[0].key, "v1;k=a");
  EXPECT_EQ(raw_value(copy, "SELECT count(*) FROM problems"), "1");
  EXPECT_EQ(raw_value(copy, "PRAGMA integrity_check"), "ok");
}

// A winner pointing at a trial without a successful timing is never written by mfjit; read
// from a file that holds one it is a damaged file, not a winner without a time (which
// every reader dereferenced: issue 27, mf-db list crashed on such a file).
TEST(TuningDatabase, AWinnerWithoutATimingIsADamagedFile) {
  const ScratchDir dir;
  const auto path = dir.file("tuning.db");
  {
    Database db = Database::open(path);
    db.set_winner(db.record_trial(h200(), problem("v1;k=a"), ok_trial("{\"warps\": 4}", 2.0)), {"random", 1, 0.0});
  }
  raw_sql(path, "UPDATE trials SET status = 'wrong_result', median_us = NULL, min_us = NULL, spread_us = NULL");
  const Database db = Database::open(path, {Mode::kReadOnly});
  expect_error([&] { db.winners(); }, ErrorKind::kNotDatabase, "the winner of v1;k=a points at a trial without");
  expect_error([&] { db.winner(h200(), "v1;k=a", "hash1"); }, ErrorKind::kNotDatabase, "damaged");
}

TEST(TuningDatabase, WinnersAreFoundOnlyForTheirDeviceAndCode) {
  const ScratchDir dir;
  Database db = Database::open(dir.file("tuning.db"));
  const auto slow = db.record_trial(h200(), problem("v1;k=a;bucket_n=512"), ok_trial("{\"warps\": 2}", 30.0));
  const auto fast = db.record_trial(h200(), problem("v1;k=a;bucket_n=512"), ok_trial("{\"warps\": 4}", 20.0));
  db.record_trial(h200(), problem("v1;k=a;bucket_n=512"), failed_trial("{\"warps\": 8}", TrialStatus::kCompileError));
  db.set_winner(slow, {"random", 3, 0.0});
  db.set_winner(fast, {"exhaustive", 3, 0.5});  // replaces the first
  const auto winner = db.winner(h200(), "v1;k=a;bucket_n=512", "hash1");
  ASSERT_TRUE(winner);
  EXPECT_EQ(winner->trial.config, "{\"warps\": 4}");
  EXPECT_EQ(winner->provenance.strategy, "exhaustive");
  EXPECT_DOUBLE_EQ(winner->provenance.margin, 0.5);
  EXPECT_EQ(winner->device, h200());
  EXPECT_FALSE(winner->created_at.empty());

  EXPECT_FALSE(db.winner(h200(13010), "v1;k=a;bucket_n=512", "hash1"));  // another driver
  EXPECT_FALSE(db.winner(h200(), "v1;k=a;bucket_n=512", "hash2"));       // other generator code
  EXPECT_FALSE(db.winner(h200(), "v1;k=b", "hash1"));

  const auto trials = db.trials(h200(), "v1;k=a;bucket_n=512");
  ASSERT_EQ(trials.size(), 3u);
  EXPECT_EQ(trials[2].status, TrialStatus::kCompileError);
  EXPECT_EQ(trials[2].message, "it failed");
  EXPECT_FALSE(trials[2].timing);

  db.set_winner(db.record_trial(h200(), problem("v1;k=a;bucket_n=128"), ok_trial("{\"warps\": 2}", 5.0)),
                {"exhaustive", 1, 0.0});
  db.set_winner(db.record_trial(h200(), problem("v1;k=z", "other"), ok_trial("{}", 5.0)), {"exhaustive", 1, 0.0});
  const auto family = db.family_winners(h200(), "v1;op=evo_attention;fam=a", "hash1");
  ASSERT_EQ(family.size(), 2u);
  EXPECT_EQ(family[0].key, "v1;k=a;bucket_n=128");
  EXPECT_EQ(db.winners().size(), 3u);
}

TEST(TuningDatabase, StaleEntriesAreListedAndPruned) {
  const ScratchDir dir;
  Database db = Database::open(dir.file("tuning.db"));
  db.set_winner(db.record_trial(h200(12080), problem("v1;k=a"), ok_trial("{}", 9.0)), {"exhaustive", 1, 0.0});
  db.set_winner(db.record_trial(h200(), problem("v1;k=a"), ok_trial("{}", 9.0, "old_hash")), {"exhaustive", 1, 0.0});
  db.set_winner(db.record_trial(h200(), problem("v1;k=a"), ok_trial("{}", 8.0)), {"exhaustive", 1, 0.0});
  DeviceRecord other = h200();
  other.name = "NVIDIA H100";
  db.set_winner(db.record_trial(other, problem("v1;k=a"), ok_trial("{}", 7.0, "old_hash")), {"exhaustive", 1, 0.0});

  const auto stale = db.stale_winners(h200(), "hash1");
  ASSERT_EQ(stale.size(), 2u);
  EXPECT_EQ(db.remove_winners(stale), 2);
  EXPECT_TRUE(db.winner(h200(), "v1;k=a", "hash1"));
  EXPECT_TRUE(db.winner(other, "v1;k=a", "old_hash"));  // another GPU model is not this one's business
  EXPECT_EQ(db.winners().size(), 2u);
  EXPECT_EQ(db.trial_count(), 2);
}

TEST(TuningDatabase, MissesCountAndResolve) {
  const ScratchDir dir;
  Database db = Database::open(dir.file("tuning.db"));
  for (int i = 0; i < 3; ++i) db.record_miss(h200(), problem("v1;k=a"), "hash1");
  db.record_miss(h200(), problem("v1;k=b"), "hash1");
  auto misses = db.misses();
  ASSERT_EQ(misses.size(), 2u);
  EXPECT_EQ(misses[0].key, "v1;k=a");
  EXPECT_EQ(misses[0].count, 3);
  db.set_winner(db.record_trial(h200(), problem("v1;k=a"), ok_trial("{}", 3.0)), {"exhaustive", 1, 0.0});
  EXPECT_EQ(db.prune_resolved_misses(), 1);
  misses = db.misses();
  ASSERT_EQ(misses.size(), 1u);
  EXPECT_EQ(misses[0].key, "v1;k=b");
}

bool keep_faster(const WinnerRecord& existing, const WinnerRecord& incoming) {
  return existing.trial.timing->median_us <= incoming.trial.timing->median_us;
}

TEST(TuningDatabase, ImportKeepsThePreferredWinner) {
  const ScratchDir dir;
  Database db = Database::open(dir.file("tuning.db"));
  db.set_winner(db.record_trial(h200(), problem("v1;k=a"), ok_trial("{\"warps\": 4}", 10.0)), {"exhaustive", 9, 0.1});
  WinnerRecord incoming = *db.winner(h200(), "v1;k=a", "hash1");
  incoming.trial = ok_trial("{\"warps\": 8}", 12.0);
  incoming.provenance = {"import", 1, 0.0};
  EXPECT_FALSE(db.import_winner(incoming, keep_faster));
  EXPECT_EQ(db.winner(h200(), "v1;k=a", "hash1")->trial.config, "{\"warps\": 4}");
  incoming.trial = ok_trial("{\"warps\": 8}", 8.0);
  EXPECT_TRUE(db.import_winner(incoming, keep_faster));
  const auto now = db.winner(h200(), "v1;k=a", "hash1");
  EXPECT_EQ(now->trial.config, "{\"warps\": 8}");
  EXPECT_EQ(now->created_at, incoming.created_at);  // provenance travels
  // A new problem and device arrive with the winner.
  incoming.key = "v1;k=new";
  incoming.device.driver_version = 14000;
  EXPECT_TRUE(db.import_winner(incoming, keep_faster));
  EXPECT_TRUE(db.winner(incoming.device, "v1;k=new", "hash1"));
}

// Fault injection on every write: a value the schema refuses, a read-only connection, and
// another writer holding the lock past every retry. None of them leaves a change behind.
TEST(TuningDatabase, FailedWritesChangeNothing) {
  const ScratchDir dir;
  const auto path = dir.file("tuning.db");
  Database db = Database::open(path);
  const auto failed = db.record_trial(h200(), problem("v1;k=a"), failed_trial("{}", TrialStatus::kTimeout));
  expect_error([&] { db.set_winner(failed, {"exhaustive", 1, 0.0}); }, ErrorKind::kInvalid, "cannot win");
  expect_error([&] { db.set_winner(12345, {"exhaustive", 1, 0.0}); }, ErrorKind::kInvalid, "trial 12345");
  TrialRecord no_timing = ok_trial("{}", 1.0);
  no_timing.timing.reset();
  expect_error([&] { db.record_trial(h200(), problem("v1;k=a"), no_timing); }, ErrorKind::kInvalid, "timing");
  expect_error([&] { db.record_trial(h200(), problem("v1;k=a"), ok_trial("not json", 1.0)); }, ErrorKind::kInvalid,
               "CHECK");
  expect_error([&] { db.record_trial(h200(), problem(""), ok_trial("{}", 1.0)); }, ErrorKind::kInvalid, "key");
  WinnerRecord bad;
  bad.key = "v1;k=c";
  bad.family = "f";
  bad.problem_json = "{}";
  bad.device = h200();
  bad.trial = failed_trial("{}", TrialStatus::kLaunchError);
  bad.provenance.strategy = "import";
  expect_error([&] { db.import_winner(bad, keep_faster); }, ErrorKind::kInvalid, "no successful timing");
  EXPECT_EQ(db.trial_count(), 1);
  EXPECT_TRUE(db.winners().empty());

  Database reader = Database::open(path, {Mode::kReadOnly});
  EXPECT_TRUE(reader.read_only());
  expect_error([&] { reader.record_miss(h200(), problem("v1;k=a"), "h"); }, ErrorKind::kReadOnly, "read-only");
  expect_error([&] { reader.prune_failed(); }, ErrorKind::kReadOnly, "read-only");

  // Another connection holds the write lock: every write gives up with kBusy.
  OpenOptions impatient;
  impatient.busy_timeout_ms = 1;
  impatient.busy_retries = 1;
  Database contended = Database::open(path, impatient);
  sqlite3* holder = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &holder), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(holder, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_EQ(Database::open(path, {Mode::kReadOnly}).trial_count(), 1);  // readers are not blocked
  expect_error([&] { Database::open(path, impatient); }, ErrorKind::kBusy, "attempts");  // the migration check
  const std::vector<std::function<void()>> writes = {
      [&] { contended.record_trial(h200(), problem("v1;k=b"), ok_trial("{}", 1.0)); },
      [&] { contended.set_winner(failed, {"x", 1, 0.0}); },
      [&] { contended.record_miss(h200(), problem("v1;k=b"), "h"); },
      [&] { contended.import_winner(bad, keep_faster); },
      [&] { contended.remove_winners(contended.winners()); },
      [&] { contended.prune_failed(); },
      [&] { contended.prune_resolved_misses(); },
  };
  for (std::size_t i = 0; i < writes.size(); ++i) {
    SCOPED_TRACE(i);
    expect_error(writes[i], ErrorKind::kBusy, "attempts");
  }
  sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(holder);
  EXPECT_EQ(db.trial_count(), 1);
  EXPECT_TRUE(db.misses().empty());
}

}  // namespace
}  // namespace mf::tuning_db
