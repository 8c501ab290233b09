// The SQLite tuning database (DESIGN.md §2, docs/tuning-db.md): versioned schema with
// migrations, STRICT tables, WAL with a busy timeout and retries, every write in one
// transaction so that a crash leaves either all of it or none.
//
// A Database is one connection: use it from one thread at a time (open one per thread or
// process; SQLite serialises the writers).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mf/tuning_db/records.h"

namespace mf::tuning_db {

enum class ErrorKind {
  kCannotOpen,    // the file or its folder cannot be opened or created
  kNotDatabase,   // the file is not an SQLite database, or is corrupt
  kForeign,       // an SQLite database of some other application
  kNewerSchema,   // written by a newer mfjit
  kReadOnly,      // a write to a database opened read-only, or a read-only file
  kBusy,          // other writers held the database past the timeout and every retry
  kInvalid,       // a value the schema does not accept
  kSqlite,        // any other SQLite failure
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// The current schema version; docs/tuning-db.md describes each.
constexpr int kSchemaVersion = 3;
// PRAGMA application_id of an mfjit database ("mfjt"): tells ours from other SQLite files.
constexpr std::int32_t kApplicationId = 0x6D666A74;

enum class Mode { kReadWrite, kReadOnly };

struct OpenOptions {
  Mode mode = Mode::kReadWrite;
  int busy_timeout_ms = 5000;  // SQLite's own wait for a lock, per attempt
  int busy_retries = 8;        // further attempts, with growing pauses, before kBusy
  // Creates the schema up to this version instead of the current one (tests of the
  // migrations); 0 = kSchemaVersion.
  int create_version = 0;
};

class Database {
 public:
  // Opens or creates the database at `path` and migrates it to kSchemaVersion (read-write)
  // or checks that it is at most that (read-only). Throws Error.
  static Database open(const std::string& path, const OpenOptions& options = {});

  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  int schema_version() const;
  const std::string& path() const { return path_; }
  bool read_only() const { return options_.mode == Mode::kReadOnly; }

  // ---- writes: each one transaction ----
  // Records one trial (upserting its device and problem); returns the trial's id.
  std::int64_t record_trial(const DeviceRecord& device, const ProblemRecord& problem, const TrialRecord& trial);
  // Makes trial `trial_id` the winner for its (device, problem, generator hash).
  void set_winner(std::int64_t trial_id, const Provenance& provenance);
  // Counts a plan that found no winner.
  void record_miss(const DeviceRecord& device, const ProblemRecord& problem, const std::string& generator_hash);
  // Writes a winner read from elsewhere (import, merge) with its trial; returns false and
  // changes nothing when the database holds a winner for the same (device, problem,
  // generator hash) that `keep_existing` prefers.
  bool import_winner(const WinnerRecord& winner, bool (*keep_existing)(const WinnerRecord& existing,
                                                                        const WinnerRecord& incoming));
  // Every winner of `winners` as import_winner does, in one transaction: all or nothing.
  // Returns how many were written.
  std::int64_t import_winners(const std::vector<WinnerRecord>& winners,
                              bool (*keep_existing)(const WinnerRecord& existing, const WinnerRecord& incoming));
  // Removes these winners with every trial of their (device, problem, generator hash);
  // returns how many winners were removed. mf-db prune --stale passes stale_winners().
  std::int64_t remove_winners(const std::vector<WinnerRecord>& winners);
  // Removes failed trials; returns how many.
  std::int64_t prune_failed();
  // Removes the misses that now have a winner for the same device and generator hash.
  std::int64_t prune_resolved_misses();

  // ---- reads ----
  std::optional<WinnerRecord> winner(const DeviceRecord& device, const std::string& key,
                                     const std::string& generator_hash) const;
  // Winners of other problems of the family on this device and generator hash.
  std::vector<WinnerRecord> family_winners(const DeviceRecord& device, const std::string& family,
                                           const std::string& generator_hash) const;
  std::vector<WinnerRecord> winners() const;
  // Winners on the same GPU model (vendor, name, arch) as `current` measured with another
  // driver, toolkit or generator hash: never used, shown by `mf-db list --stale`.
  std::vector<WinnerRecord> stale_winners(const DeviceRecord& current, const std::string& generator_hash) const;
  std::vector<TrialRecord> trials(const DeviceRecord& device, const std::string& key) const;
  // The devices that have trials of `key`.
  std::vector<DeviceRecord> devices_with_trials(const std::string& key) const;
  std::vector<MissRecord> misses() const;
  std::int64_t trial_count() const;

  // Runs fn inside one write transaction (BEGIN IMMEDIATE, retried while busy); rolls back
  // when fn throws. Writes above use it; tests use it to die mid-transaction.
  template <class F>
  void write(F&& fn) {
    begin_write();
    try {
      fn();
    } catch (...) {
      rollback();
      throw;
    }
    commit();
  }

 private:
  Database(sqlite3* handle, std::string path, OpenOptions options);
  void begin_write();
  void commit();
  void rollback();
  std::int64_t device_id(const DeviceRecord& device);
  std::int64_t problem_id(const ProblemRecord& problem);
  std::int64_t insert_trial(std::int64_t device, std::int64_t problem, const TrialRecord& trial);
  // One winner of import_winners, inside its transaction.
  bool write_imported(const WinnerRecord& winner,
                      bool (*keep_existing)(const WinnerRecord& existing, const WinnerRecord& incoming));

  sqlite3* handle_ = nullptr;
  std::string path_;
  OpenOptions options_;
  int version_ = 0;  // the schema version read at open (after migrating, read-write)
};

}  // namespace mf::tuning_db
