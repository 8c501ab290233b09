#include "mf/tuning_db/database.h"

#include <fmt/format.h>

#include <unistd.h>

#include <cctype>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "schema.h"
#include "statement.h"

namespace mf::tuning_db {
namespace {

// Whether this process may create files beside `path` (the WAL index a reader of a WAL
// database needs).
bool folder_writable(const std::string& path) {
  std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (folder.empty()) folder = ".";
  return access(folder.c_str(), W_OK) == 0;
}

// An SQLite URI naming `path` (RFC 3986 percent-encoding of what a path may hold), with
// `query` appended.
std::string file_uri(const std::string& path, const char* query) {
  std::string uri = "file:";
  for (const unsigned char c : path) {
    if (std::isalnum(c) != 0 || c == '/' || c == '.' || c == '-' || c == '_' || c == '~') uri += static_cast<char>(c);
    else uri += fmt::format("%{:02X}", c);
  }
  return uri + "?" + query;
}

constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

// The columns of a winner's listing, joined from the four tables; read by read_winner. A
// database of an earlier schema opened read-only is not migrated: its winners have no
// noise column (version 3), and read as quiet.
std::string winner_select(int schema_version) {
  return fmt::format(R"sql(
SELECT p.key, p.family, p.problem_json,
       d.vendor, d.name, d.arch, d.multiprocessors, d.l2_bytes, d.memory_bytes, d.driver_version, d.toolkit_version,
       t.generator, t.generator_hash, t.config, t.status, t.message, t.median_us, t.min_us, t.spread_us, t.samples,
       w.strategy, w.trials, w.margin, w.created_at, {}, t.id
FROM winners w
JOIN trials t ON t.id = w.trial_id
JOIN problems p ON p.id = w.problem_id
JOIN devices d ON d.id = w.device_id
)sql",
                     schema_version >= 3 ? "w.noise" : "''");
}

constexpr const char* kDeviceMatches =
    "d.vendor = ? AND d.name = ? AND d.arch = ? AND d.multiprocessors = ? AND d.l2_bytes = ? AND "
    "d.memory_bytes = ? AND d.driver_version = ? AND d.toolkit_version = ?";

DeviceRecord read_device(const Statement& row, int first) {
  return {row.text(first),        row.text(first + 1),    row.text(first + 2),    row.integer(first + 3),
          row.integer(first + 4), row.integer(first + 5), row.integer(first + 6), row.text(first + 7)};
}

TrialRecord read_trial(const Statement& row, int first) {
  TrialRecord trial;
  trial.generator = row.text(first);
  trial.generator_hash = row.text(first + 1);
  trial.config = row.text(first + 2);
  const auto status = trial_status_from(row.text(first + 3));
  if (!status) throw Error(ErrorKind::kNotDatabase, "a trial has an unknown status " + row.text(first + 3));
  trial.status = *status;
  trial.message = row.text(first + 4);
  if (const auto median = row.optional_real(first + 5))
    trial.timing = Timing{*median, row.real(first + 6), row.real(first + 7), row.integer(first + 8)};
  return trial;
}

WinnerRecord read_winner(const Statement& row) {
  WinnerRecord winner;
  winner.key = row.text(0);
  winner.family = row.text(1);
  winner.problem_json = row.text(2);
  winner.device = read_device(row, 3);
  winner.trial = read_trial(row, 11);
  winner.trial.id = row.integer(25);
  winner.provenance = {row.text(20), row.integer(21), row.real(22), row.text(24)};
  winner.created_at = row.text(23);
  // Only an ok trial with its timing can win (set_winner, import); a file edited or damaged
  // past what quick_check sees may say otherwise, and readers rely on the timing.
  if (winner.trial.status != TrialStatus::kOk || !winner.trial.timing)
    throw Error(ErrorKind::kNotDatabase,
                fmt::format("the winner of {} points at a trial without a successful timing: the tuning database is "
                            "damaged",
                            winner.key));
  return winner;
}

std::vector<WinnerRecord> read_winners(Statement& query) {
  std::vector<WinnerRecord> out;
  while (query.step()) out.push_back(read_winner(query));
  return out;
}

// One pragma's value as text, or the SQLite error for the file.
std::string pragma(sqlite3* handle, const char* name, const std::string& path) {
  sqlite3_stmt* statement = nullptr;
  int code = sqlite3_prepare_v2(handle, (std::string("PRAGMA ") + name).c_str(), -1, &statement, nullptr);
  std::string value;
  if (code == SQLITE_OK) {
    code = sqlite3_step(statement);
    if (code == SQLITE_ROW) {
      const auto* text = sqlite3_column_text(statement, 0);
      value = text != nullptr ? reinterpret_cast<const char*>(text) : "";
      code = SQLITE_OK;
    } else if (code == SQLITE_DONE) {
      code = SQLITE_OK;
    }
  }
  sqlite3_finalize(statement);
  if (code != SQLITE_OK) fail_sqlite(handle, code, fmt::format("reading the tuning database {}", path));
  return value;
}

std::int64_t table_count(sqlite3* handle) {
  Statement count(handle, "SELECT count(*) FROM sqlite_schema");
  count.step();
  return count.integer(0);
}

// What the tables and indexes of a database are: per table its columns (name, declared
// type, NOT NULL, primary key position), per index its table. SQLite's own are left out.
std::map<std::string, std::string> tables_of(sqlite3* handle) {
  std::map<std::string, std::string> out;
  Statement objects(handle, "SELECT type, name, tbl_name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'");
  while (objects.step()) {
    const std::string type = objects.text(0), name = objects.text(1);
    if (type == "index") {
      out["index " + name] = "on " + objects.text(2);
    } else if (type == "table") {
      Statement columns(handle, "SELECT name, type, \"notnull\", pk FROM pragma_table_xinfo(?)");
      columns.bind(1, name);
      std::string description;
      while (columns.step())
        description += fmt::format("{}{} {}{}{}", description.empty() ? "" : ", ", columns.text(0), columns.text(1),
                                   columns.integer(2) != 0 ? " NOT NULL" : "",
                                   columns.integer(3) != 0 ? fmt::format(" PK{}", columns.integer(3)) : "");
      out["table " + name] = description;
    }
  }
  return out;
}

// The tables of schema `version` as migrate() makes them (in memory, once per process).
const std::map<std::string, std::string>& schema_tables(int version) {
  static const std::vector<std::map<std::string, std::string>> all = [] {
    std::vector<std::map<std::string, std::string>> out(kSchemaVersion + 1);
    for (int v = 1; v <= kSchemaVersion; ++v) {
      sqlite3* memory = nullptr;
      if (sqlite3_open(":memory:", &memory) != SQLITE_OK) {
        sqlite3_close(memory);
        throw Error(ErrorKind::kSqlite, "cannot open an in-memory database to compare schemas with");
      }
      try {
        migrate(memory, 0, v);
        out[std::size_t(v)] = tables_of(memory);
      } catch (...) {
        sqlite3_close(memory);
        throw;
      }
      sqlite3_close(memory);
    }
    return out;
  }();
  return all.at(std::size_t(version));
}

// Throws unless the file holds the tables of its schema version: a file with mfjit's
// application id and version but other tables (an edit, another program, a damaged schema)
// would fail later in the middle of a command, or take writes mfjit cannot read back.
void check_tables(sqlite3* handle, const std::string& path, int version) {
  const auto found = tables_of(handle);
  for (const auto& [name, description] : schema_tables(version)) {
    const auto it = found.find(name);
    if (it == found.end() || it->second != description)
      throw Error(ErrorKind::kNotDatabase,
                  fmt::format("the tuning database {} has mfjit's application id and schema version {}, but {} {}: "
                              "the file was changed by something else or is damaged; move it away, and mf-tune starts "
                              "a new one",
                              path, version, name,
                              it == found.end() ? "is missing"
                                                : fmt::format("has the columns ({}) instead of ({})", it->second,
                                                              description)));
  }
}

// Rolls back the hot journal a writer killed mid-transaction left beside `path`: SQLite
// does so on a read-write connection's first read.
void roll_back_hot_journal(const std::string& path, const OpenOptions& options) {
  sqlite3* handle = nullptr;
  const int code = sqlite3_open_v2(path.c_str(), &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (code == SQLITE_OK) {
    sqlite3_busy_timeout(handle, options.busy_timeout_ms);
    sqlite3_exec(handle, "SELECT count(*) FROM sqlite_schema", nullptr, nullptr, nullptr);
  }
  sqlite3_close(handle);
}

// Runs fn again while another connection holds a lock it needs, as begin_write does.
template <class F>
void retry_while_busy(const OpenOptions& options, F&& fn) {
  for (int attempt = 0;; ++attempt) {
    try {
      fn();
      return;
    } catch (const Error& error) {
      if (error.kind() != ErrorKind::kBusy || attempt >= options.busy_retries) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10 << std::min(attempt, 6)));
  }
}

// The schema version of an mfjit database, 0 for an empty file that may become one; throws
// for another application's database, a newer schema, or (read-only) an empty file.
int identified_version(sqlite3* handle, const std::string& path, bool writable) {
  const auto application_id = std::stoll(pragma(handle, "application_id", path));
  const int version = std::stoi(pragma(handle, "user_version", path));
  const bool empty = application_id == 0 && version == 0 && table_count(handle) == 0;
  if (!empty && application_id != kApplicationId)
    throw Error(ErrorKind::kForeign, fmt::format("{} is an SQLite database of another application (application_id "
                                                 "{}), not an mfjit tuning database",
                                                 path, application_id));
  if (application_id == kApplicationId && version == 0)  // migrate() sets both in one transaction
    throw Error(ErrorKind::kNotDatabase,
                fmt::format("the tuning database {} has mfjit's application id but no schema version: the file is "
                            "damaged; move it away, and mf-tune starts a new one",
                            path));
  if (version < 0)
    throw Error(ErrorKind::kNotDatabase,
                fmt::format("the tuning database {} has schema version {}, which is not one mfjit ever wrote: the "
                            "file is damaged; move it away, and mf-tune starts a new one",
                            path, version));
  if (version > kSchemaVersion)
    throw Error(ErrorKind::kNewerSchema,
                fmt::format("the tuning database {} has schema version {}, newer than this mfjit's {}: use a newer "
                            "mfjit or another database",
                            path, version, kSchemaVersion));
  if (empty && !writable) throw Error(ErrorKind::kForeign, fmt::format("{} is empty: no mfjit tuning database yet", path));
  return version;
}

// The schema's check, with a message that says what is wrong: a winner whose margin is
// below the floor must say why (its noise note).
void check_margin(const Provenance& provenance) {
  if (provenance.noise.empty() && !(provenance.margin >= kMarginFloor))
    throw Error(ErrorKind::kInvalid,
                fmt::format("a winner with a margin of {:.1f} % (below {:.0f} %) needs a noise note saying why",
                            100 * provenance.margin, 100 * kMarginFloor));
}

}  // namespace

const char* name_of(TrialStatus status) {
  switch (status) {
    case TrialStatus::kOk: return "ok";
    case TrialStatus::kCompileError: return "compile_error";
    case TrialStatus::kWrongResult: return "wrong_result";
    case TrialStatus::kLaunchError: return "launch_error";
    case TrialStatus::kTimeout: return "timeout";
  }
  return "unknown";
}

std::optional<TrialStatus> trial_status_from(const std::string& name) {
  for (TrialStatus status : {TrialStatus::kOk, TrialStatus::kCompileError, TrialStatus::kWrongResult,
                             TrialStatus::kLaunchError, TrialStatus::kTimeout})
    if (name == name_of(status)) return status;
  return std::nullopt;
}

Database::Database(sqlite3* handle, std::string path, OpenOptions options)
    : handle_(handle), path_(std::move(path)), options_(options) {}

Database::Database(Database&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)),
      path_(std::move(other.path_)),
      options_(other.options_),
      version_(other.version_) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    path_ = std::move(other.path_);
    options_ = other.options_;
    version_ = other.version_;
  }
  return *this;
}

Database::~Database() { sqlite3_close_v2(handle_); }

Database Database::open(const std::string& path, const OpenOptions& options) {
  const bool writable = options.mode == Mode::kReadWrite;
  sqlite3* handle = nullptr;
  // A database in a folder this process cannot write (shipped in a wheel, a container
  // image, a shared cluster path) is read as an immutable file: SQLite could not create the
  // WAL index beside it, and nobody can be writing it there.
  const bool immutable = !writable && !folder_writable(path);
  const int flags = (writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY) |
                    SQLITE_OPEN_NOMUTEX | (immutable ? SQLITE_OPEN_URI : 0);
  const std::string name = immutable ? file_uri(path, "immutable=1") : path;
  const int code = sqlite3_open_v2(name.c_str(), &handle, flags, nullptr);
  Database db(handle, path, options);  // closes the handle on every exit below
  if (code != SQLITE_OK)
    throw Error(ErrorKind::kCannotOpen, fmt::format("cannot open the tuning database {}: {}", path,
                                                    handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(code)));
  sqlite3_busy_timeout(handle, options.busy_timeout_ms);
  sqlite3_extended_result_codes(handle, 1);

  try {
    // What the file is, from one consistent snapshot (another process may be creating or
    // migrating it): before anything is written to it, so that a foreign file stays untouched.
    int failure = SQLITE_OK;
    const auto identify = [&] {
      retry_while_busy(options, [&] {
        Statement(handle, "BEGIN").run();
        try {
          db.version_ = identified_version(handle, path, writable);
          if (db.version_ > 0) check_tables(handle, path, db.version_);
          Statement(handle, "COMMIT").run();
        } catch (...) {
          failure = sqlite3_extended_errcode(handle);
          sqlite3_exec(handle, "ROLLBACK", nullptr, nullptr, nullptr);
          throw;
        }
      });
    };
    try {
      identify();
    } catch (const Error&) {
      // A writer killed in the middle of a transaction of the rollback journal (a file that
      // was not yet WAL: being created, or an older file being switched) leaves a hot
      // journal, which a read-only connection cannot roll back: one of its own does, as the
      // next writer would, and the reader reads what was committed.
      if (writable || immutable || failure != SQLITE_READONLY_ROLLBACK) throw;
      roll_back_hot_journal(path, options);
      identify();
    }
    // A damaged file is refused before anything reads or writes it (SQLite would go on
    // writing into a file whose pages are broken): quick_check reads every page once.
    retry_while_busy(options, [&] {
      Statement check(handle, "PRAGMA quick_check(1)");
      check.step();
      std::string verdict = check.text(0);
      std::replace(verdict.begin(), verdict.end(), '\n', ' ');  // "*** in database main *** Page 3: ..."
      if (verdict != "ok")
        throw Error(ErrorKind::kNotDatabase,
                    fmt::format("the tuning database {} is damaged (SQLite's quick_check: {}); move it away, and "
                                "mf-tune starts a new one",
                                path, verdict));
    });
  } catch (...) {
    // A refused file stays as it was: closing the last connection would otherwise copy a
    // WAL left beside it into it (a checkpoint).
    sqlite3_db_config(handle, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    throw;
  }
  if (!writable) return db;

  Statement(handle, "PRAGMA foreign_keys = ON").run();
  Statement(handle, "PRAGMA synchronous = FULL").run();
  // WAL lets readers run beside a writer. Where the file system cannot share memory
  // between processes (some network file systems) SQLite keeps its rollback journal, which
  // is slower but correct.
  retry_while_busy(options, [&] { Statement(handle, "PRAGMA journal_mode = WAL").run(); });
  const int target = options.create_version > 0 ? options.create_version : kSchemaVersion;
  db.write([&] {
    // Again inside the write lock: another process may have created or migrated it since.
    const int current = identified_version(handle, path, true);
    if (current < target) migrate(handle, current, target);
    db.version_ = std::max(current, target);
  });
  return db;
}

int Database::schema_version() const { return std::stoi(pragma(handle_, "user_version", path_)); }

void Database::begin_write() {
  if (read_only())
    throw Error(ErrorKind::kReadOnly, fmt::format("the tuning database {} was opened read-only", path_));
  for (int attempt = 0;; ++attempt) {
    const int code = sqlite3_exec(handle_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (code == SQLITE_OK) return;
    const int primary = code & 0xff;
    if ((primary != SQLITE_BUSY && primary != SQLITE_LOCKED) || attempt >= options_.busy_retries)
      fail_sqlite(handle_, code, fmt::format("starting a write to the tuning database {} ({} attempts)", path_,
                                             attempt + 1));
    std::this_thread::sleep_for(std::chrono::milliseconds(10 << std::min(attempt, 6)));
  }
}

void Database::commit() {
  const int code = sqlite3_exec(handle_, "COMMIT", nullptr, nullptr, nullptr);
  if (code != SQLITE_OK) {
    rollback();
    fail_sqlite(handle_, code, fmt::format("committing to the tuning database {}", path_));
  }
}

void Database::rollback() { sqlite3_exec(handle_, "ROLLBACK", nullptr, nullptr, nullptr); }

std::int64_t Database::device_id(const DeviceRecord& device) {
  Statement(handle_,
            "INSERT INTO devices (vendor, name, arch, multiprocessors, l2_bytes, memory_bytes, driver_version, "
            "toolkit_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
      .bind_device(1, device)
      .run();
  Statement id(handle_, std::string("SELECT d.id FROM devices d WHERE ") + kDeviceMatches);
  id.bind_device(1, device).step();
  return id.integer(0);
}

std::int64_t Database::problem_id(const ProblemRecord& problem) {
  if (problem.key.empty()) throw Error(ErrorKind::kInvalid, "a problem needs a key");
  Statement(handle_, "INSERT INTO problems (key, family, problem_json) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING")
      .bind(1, problem.key)
      .bind(2, problem.family)
      .bind(3, problem.json)
      .run();
  Statement id(handle_, "SELECT id FROM problems WHERE key = ?");
  id.bind(1, problem.key).step();
  return id.integer(0);
}

std::int64_t Database::insert_trial(std::int64_t device, std::int64_t problem, const TrialRecord& trial) {
  if ((trial.status == TrialStatus::kOk) != trial.timing.has_value())
    throw Error(ErrorKind::kInvalid, "a trial has a timing exactly when its status is ok");
  Statement insert(handle_, fmt::format("INSERT INTO trials (problem_id, device_id, generator, generator_hash, config, "
                                        "status, message, median_us, min_us, spread_us, samples, created_at) "
                                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {})",
                                        kNow));
  const auto timing = trial.timing.value_or(Timing{});
  insert.bind(1, problem)
      .bind(2, device)
      .bind(3, trial.generator)
      .bind(4, trial.generator_hash)
      .bind(5, trial.config)
      .bind(6, std::string_view(name_of(trial.status)))
      .bind(7, trial.message)
      .bind(8, trial.timing ? std::optional(timing.median_us) : std::nullopt)
      .bind(9, trial.timing ? std::optional(timing.min_us) : std::nullopt)
      .bind(10, trial.timing ? std::optional(timing.spread_us) : std::nullopt)
      .bind(11, timing.samples)
      .run();
  return sqlite3_last_insert_rowid(handle_);
}

std::int64_t Database::record_trial(const DeviceRecord& device, const ProblemRecord& problem,
                                    const TrialRecord& trial) {
  std::int64_t id = 0;
  write([&] { id = insert_trial(device_id(device), problem_id(problem), trial); });
  return id;
}

void Database::set_winner(std::int64_t trial_id, const Provenance& provenance) {
  write([&] {
    Statement insert(handle_, fmt::format(R"sql(
INSERT INTO winners (problem_id, device_id, generator_hash, trial_id, strategy, trials, margin, noise, created_at)
SELECT problem_id, device_id, generator_hash, id, ?, ?, ?, ?, {} FROM trials WHERE id = ? AND status = 'ok'
ON CONFLICT (problem_id, device_id, generator_hash) DO UPDATE SET
  trial_id = excluded.trial_id, strategy = excluded.strategy, trials = excluded.trials,
  margin = excluded.margin, noise = excluded.noise, created_at = excluded.created_at)sql",
                                          kNow));
    check_margin(provenance);
    insert.bind(1, provenance.strategy)
        .bind(2, provenance.trials)
        .bind(3, provenance.margin)
        .bind(4, provenance.noise)
        .bind(5, trial_id)
        .run();
    if (sqlite3_changes(handle_) == 0)
      throw Error(ErrorKind::kInvalid, fmt::format("trial {} does not exist or did not succeed: it cannot win", trial_id));
  });
}

void Database::record_miss(const DeviceRecord& device, const ProblemRecord& problem, const std::string& generator_hash) {
  write([&] {
    Statement insert(handle_, fmt::format(R"sql(
INSERT INTO misses (problem_id, device_id, generator_hash, count, first_seen, last_seen) VALUES (?, ?, ?, 1, {0}, {0})
ON CONFLICT (problem_id, device_id, generator_hash) DO UPDATE SET count = count + 1, last_seen = excluded.last_seen)sql",
                                          kNow));
    insert.bind(1, problem_id(problem)).bind(2, device_id(device)).bind(3, generator_hash).run();
  });
}

bool Database::import_winner(const WinnerRecord& winner,
                             bool (*keep_existing)(const WinnerRecord& existing, const WinnerRecord& incoming)) {
  return import_winners({winner}, keep_existing) == 1;
}

std::int64_t Database::import_winners(const std::vector<WinnerRecord>& winners,
                                      bool (*keep_existing)(const WinnerRecord& existing, const WinnerRecord& incoming)) {
  std::int64_t imported = 0;
  write([&] {
    imported = 0;  // a retried transaction starts over
    for (const WinnerRecord& winner : winners) imported += write_imported(winner, keep_existing) ? 1 : 0;
  });
  return imported;
}

bool Database::write_imported(const WinnerRecord& winner,
                              bool (*keep_existing)(const WinnerRecord& existing, const WinnerRecord& incoming)) {
  if (const auto existing = this->winner(winner.device, winner.key, winner.trial.generator_hash))
    if (keep_existing(*existing, winner)) return false;
  const std::int64_t trial =
      insert_trial(device_id(winner.device), problem_id({winner.key, winner.family, winner.problem_json}), winner.trial);
  Statement insert(handle_, R"sql(
INSERT INTO winners (problem_id, device_id, generator_hash, trial_id, strategy, trials, margin, noise, created_at)
SELECT problem_id, device_id, generator_hash, id, ?, ?, ?, ?, ? FROM trials WHERE id = ? AND status = 'ok'
ON CONFLICT (problem_id, device_id, generator_hash) DO UPDATE SET
  trial_id = excluded.trial_id, strategy = excluded.strategy, trials = excluded.trials,
  margin = excluded.margin, noise = excluded.noise, created_at = excluded.created_at)sql");
  check_margin(winner.provenance);
  insert.bind(1, winner.provenance.strategy)
      .bind(2, winner.provenance.trials)
      .bind(3, winner.provenance.margin)
      .bind(4, winner.provenance.noise)
      .bind(5, winner.created_at)
      .bind(6, trial)
      .run();
  if (sqlite3_changes(handle_) == 0)
    throw Error(ErrorKind::kInvalid, fmt::format("the winner for {} has no successful timing", winner.key));
  return true;
}

std::int64_t Database::remove_winners(const std::vector<WinnerRecord>& winners) {
  std::int64_t removed = 0;
  write([&] {
    for (const auto& w : winners) {
      constexpr const char* kOf = R"sql(
  problem_id = (SELECT id FROM problems WHERE key = ?1) AND generator_hash = ?2 AND
  device_id = (SELECT d.id FROM devices d WHERE d.vendor = ?3 AND d.name = ?4 AND d.arch = ?5 AND
               d.multiprocessors = ?6 AND d.l2_bytes = ?7 AND d.memory_bytes = ?8 AND d.driver_version = ?9 AND
               d.toolkit_version = ?10)
)sql";
      Statement winner(handle_, std::string("DELETE FROM winners WHERE ") + kOf);
      winner.bind(1, w.key).bind(2, w.trial.generator_hash).bind_device(3, w.device).run();
      removed += sqlite3_changes(handle_);
      Statement trials(handle_, std::string("DELETE FROM trials WHERE ") + kOf);
      trials.bind(1, w.key).bind(2, w.trial.generator_hash).bind_device(3, w.device).run();
    }
  });
  return removed;
}

std::int64_t Database::prune_failed() {
  std::int64_t removed = 0;
  write([&] {
    Statement(handle_, "DELETE FROM trials WHERE status <> 'ok'").run();
    removed = sqlite3_changes(handle_);
  });
  return removed;
}

std::int64_t Database::prune_resolved_misses() {
  std::int64_t removed = 0;
  write([&] {
    Statement(handle_,
              "DELETE FROM misses AS m WHERE EXISTS (SELECT 1 FROM winners w WHERE w.problem_id = m.problem_id AND "
              "w.device_id = m.device_id AND w.generator_hash = m.generator_hash)")
        .run();
    removed = sqlite3_changes(handle_);
  });
  return removed;
}

std::optional<WinnerRecord> Database::winner(const DeviceRecord& device, const std::string& key,
                                             const std::string& generator_hash) const {
  Statement query(handle_, fmt::format("{} WHERE p.key = ? AND w.generator_hash = ? AND {}", winner_select(version_),
                                       kDeviceMatches));
  query.bind(1, key).bind(2, generator_hash).bind_device(3, device);
  if (!query.step()) return std::nullopt;
  return read_winner(query);
}

std::vector<WinnerRecord> Database::family_winners(const DeviceRecord& device, const std::string& family,
                                                   const std::string& generator_hash) const {
  Statement query(handle_, fmt::format("{} WHERE p.family = ? AND w.generator_hash = ? AND {} ORDER BY p.key",
                                       winner_select(version_), kDeviceMatches));
  query.bind(1, family).bind(2, generator_hash).bind_device(3, device);
  return read_winners(query);
}

std::vector<WinnerRecord> Database::winners() const {
  Statement query(handle_, fmt::format("{} ORDER BY d.name, d.driver_version, p.key, w.generator_hash",
                                       winner_select(version_)));
  return read_winners(query);
}

std::vector<WinnerRecord> Database::stale_winners(const DeviceRecord& current, const std::string& generator_hash) const {
  Statement query(handle_, fmt::format(R"sql({} WHERE d.vendor = ?1 AND d.name = ?2 AND d.arch = ?3 AND
  (d.multiprocessors <> ?4 OR d.l2_bytes <> ?5 OR d.memory_bytes <> ?6 OR d.driver_version <> ?7 OR
   d.toolkit_version <> ?8 OR w.generator_hash <> ?9) ORDER BY p.key)sql",
                                       winner_select(version_)));
  query.bind_device(1, current).bind(9, generator_hash);
  return read_winners(query);
}

std::vector<TrialRecord> Database::trials(const DeviceRecord& device, const std::string& key) const {
  Statement query(handle_, fmt::format("SELECT t.generator, t.generator_hash, t.config, t.status, t.message, "
                                       "t.median_us, t.min_us, t.spread_us, t.samples, t.id FROM trials t "
                                       "JOIN problems p ON p.id = t.problem_id JOIN devices d ON d.id = t.device_id "
                                       "WHERE p.key = ? AND {} ORDER BY t.id",
                                       kDeviceMatches));
  query.bind(1, key).bind_device(2, device);
  std::vector<TrialRecord> out;
  while (query.step()) {
    out.push_back(read_trial(query, 0));
    out.back().id = query.integer(9);
  }
  return out;
}

std::vector<DeviceRecord> Database::devices_with_trials(const std::string& key) const {
  Statement query(handle_, R"sql(
SELECT DISTINCT d.vendor, d.name, d.arch, d.multiprocessors, d.l2_bytes, d.memory_bytes, d.driver_version,
       d.toolkit_version
FROM trials t JOIN problems p ON p.id = t.problem_id JOIN devices d ON d.id = t.device_id
WHERE p.key = ? ORDER BY d.name, d.driver_version, d.toolkit_version)sql");
  query.bind(1, key);
  std::vector<DeviceRecord> out;
  while (query.step()) out.push_back(read_device(query, 0));
  return out;
}

std::vector<MissRecord> Database::misses() const {
  Statement query(handle_, R"sql(
SELECT p.key, p.family, p.problem_json,
       d.vendor, d.name, d.arch, d.multiprocessors, d.l2_bytes, d.memory_bytes, d.driver_version, d.toolkit_version,
       m.generator_hash, m.count, m.last_seen
FROM misses m JOIN problems p ON p.id = m.problem_id JOIN devices d ON d.id = m.device_id
ORDER BY m.count DESC, p.key)sql");
  std::vector<MissRecord> out;
  while (query.step())
    out.push_back({query.text(0), query.text(1), query.text(2), read_device(query, 3), query.text(11),
                   query.integer(12), query.text(13)});
  return out;
}

std::int64_t Database::trial_count() const {
  Statement query(handle_, "SELECT count(*) FROM trials");
  query.step();
  return query.integer(0);
}

}  // namespace mf::tuning_db
