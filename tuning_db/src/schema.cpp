#include "schema.h"

#include <fmt/format.h>

#include <string_view>

#include "mf/tuning_db/database.h"
#include "statement.h"

namespace mf::tuning_db {
namespace {

// Version 1: devices, problems, every trial, and the winner per (device, problem,
// generator hash) pointing at its trial.
constexpr const char* kVersion1 = R"sql(
CREATE TABLE devices (
  id INTEGER PRIMARY KEY,
  vendor TEXT NOT NULL,
  name TEXT NOT NULL,
  arch TEXT NOT NULL,
  multiprocessors INTEGER NOT NULL,
  l2_bytes INTEGER NOT NULL,
  memory_bytes INTEGER NOT NULL,
  driver_version INTEGER NOT NULL,
  toolkit_version TEXT NOT NULL,
  UNIQUE (vendor, name, arch, multiprocessors, l2_bytes, memory_bytes, driver_version, toolkit_version)
) STRICT;
CREATE TABLE problems (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  family TEXT NOT NULL,
  problem_json TEXT NOT NULL
) STRICT;
CREATE INDEX problems_by_family ON problems (family);
CREATE TABLE trials (
  id INTEGER PRIMARY KEY,
  problem_id INTEGER NOT NULL REFERENCES problems (id),
  device_id INTEGER NOT NULL REFERENCES devices (id),
  generator TEXT NOT NULL,
  generator_hash TEXT NOT NULL,
  config TEXT NOT NULL CHECK (json_valid(config)),
  status TEXT NOT NULL CHECK (status IN ('ok', 'compile_error', 'wrong_result', 'launch_error', 'timeout')),
  message TEXT NOT NULL,
  median_us REAL,
  min_us REAL,
  spread_us REAL,
  samples INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  CHECK (status <> 'ok' OR (median_us IS NOT NULL AND median_us > 0 AND samples > 0))
) STRICT;
CREATE TABLE winners (
  problem_id INTEGER NOT NULL REFERENCES problems (id),
  device_id INTEGER NOT NULL REFERENCES devices (id),
  generator_hash TEXT NOT NULL,
  trial_id INTEGER NOT NULL REFERENCES trials (id),
  strategy TEXT NOT NULL,
  trials INTEGER NOT NULL,
  margin REAL NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (problem_id, device_id, generator_hash)
) STRICT;
)sql";

// Version 2: misses (plans that found no winner, for mf-tune --untuned) and an index for
// the per-problem trial listings.
constexpr const char* kVersion2 = R"sql(
CREATE TABLE misses (
  problem_id INTEGER NOT NULL REFERENCES problems (id),
  device_id INTEGER NOT NULL REFERENCES devices (id),
  generator_hash TEXT NOT NULL,
  count INTEGER NOT NULL,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  PRIMARY KEY (problem_id, device_id, generator_hash)
) STRICT;
CREATE INDEX trials_by_problem ON trials (problem_id, device_id);
)sql";

// Version 3: a winner's noise note (docs/tuning.md, Decide): why its decision was noisy and
// what the tuner did, '' when its measurements agreed; a winner without a note has a margin
// of at least -3 % (db::kMarginFloor). SQLite cannot add a CHECK to a table, so the table
// is rebuilt; winners of earlier versions below the floor get a note that says so.
constexpr const char* kVersion3 = R"sql(
CREATE TABLE winners_v3 (
  problem_id INTEGER NOT NULL REFERENCES problems (id),
  device_id INTEGER NOT NULL REFERENCES devices (id),
  generator_hash TEXT NOT NULL,
  trial_id INTEGER NOT NULL REFERENCES trials (id),
  strategy TEXT NOT NULL,
  trials INTEGER NOT NULL,
  margin REAL NOT NULL,
  noise TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (problem_id, device_id, generator_hash),
  CHECK (noise <> '' OR margin >= -0.03)
) STRICT;
INSERT INTO winners_v3 (problem_id, device_id, generator_hash, trial_id, strategy, trials, margin, noise, created_at)
SELECT problem_id, device_id, generator_hash, trial_id, strategy, trials, margin,
       CASE WHEN margin < -0.03 THEN 'decided before mfjit looked for noise, with a margin below -3 %' ELSE '' END,
       created_at
FROM winners;
DROP TABLE winners;
ALTER TABLE winners_v3 RENAME TO winners;
)sql";

static_assert(std::string_view(kVersion3).find(kNoiseNoteBeforeVersion3) != std::string_view::npos,
              "version 3 gives old winners below the floor the note imports give them");

constexpr const char* kSteps[] = {kVersion1, kVersion2, kVersion3};
static_assert(sizeof(kSteps) / sizeof(kSteps[0]) == kSchemaVersion, "one migration step per schema version");

}  // namespace

void migrate(sqlite3* handle, int from, int to) {
  for (int version = from + 1; version <= to; ++version) {
    char* message = nullptr;
    const int code = sqlite3_exec(handle, kSteps[version - 1], nullptr, nullptr, &message);
    if (code != SQLITE_OK) {
      const std::string text = message != nullptr ? message : sqlite3_errstr(code);
      sqlite3_free(message);
      throw Error(ErrorKind::kSqlite, fmt::format("migrating the tuning database to schema version {}: {}",
                                                  version, text));
    }
  }
  Statement(handle, fmt::format("PRAGMA user_version = {}", to)).run();
  Statement(handle, fmt::format("PRAGMA application_id = {}", kApplicationId)).run();
}

}  // namespace mf::tuning_db
