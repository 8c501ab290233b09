// What the fault-injection tests share: child processes (the tools as users run them), the
// long or short version of a test, files byte by byte, and what a database holds.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mf/ir/problem.h"
#include "mf/tuning_db/records.h"

namespace mf::reliability {

// MF_RELIABILITY=long (the ctest label `reliability`): every write point, every page, 100 000
// fuzz cases. Otherwise the short version that runs in CI, a few seconds each.
bool long_version();

// A scratch folder, removed with its contents; on a memory file system where there is one
// (/dev/shm): the tests' databases sync every transaction, and they make thousands.
class Scratch {
 public:
  Scratch();
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Exit {
  bool signaled = false;  // killed by a signal (a crash, or the kill the test asked for)
  int code = 0;           // the exit status, or the signal
  std::string out, err;

  // "exit 1" / "signal 9": for messages.
  std::string describe() const;
};

// Runs argv[0] (a path) with argv in `folder` (its stdout and stderr are kept there), with
// MFJIT_CACHE_DIR pointing into the folder and the sanitizers' exit status set apart from
// the tools' own (ASAN 86, UBSAN 87), so that a sanitizer's report is never taken for an
// ordinary failure.
Exit run(const std::vector<std::string>& argv, const std::string& folder);

// A sanitizer's or a crash's trace in a child's output.
bool sanitizer_report(const Exit& exit);

std::string bytes_of(const std::string& path);
void write_bytes(const std::string& path, const std::string& bytes);

// SQLite's verdict on a file through a connection of its own, read-write (as the next
// mfjit process to open it would: a hot journal is rolled back, a WAL recovered):
// "ok", the first problem found, or the error that stopped it.
std::string integrity(const std::string& path, const char* pragma = "integrity_check");
// The first column of a query's first row through a read-only connection of its own (as
// a reader sees the file), or the error.
std::string query_read_only(const std::string& path, const std::string& sql);
// A query's first column of every row, through a connection of its own.
std::vector<std::string> query(const std::string& path, const std::string& sql);

// Winners as strings (device, key, generator hash, configuration, time), sorted: what two
// databases are compared by.
std::vector<std::string> winner_lines(const std::string& path);

// Small real problems (each its own key) and their IR JSON array.
std::vector<ir::Problem> small_problems();
std::string problems_json(const std::vector<ir::Problem>& problems);
tuning_db::ProblemRecord record_of(const ir::Problem& problem);
// An H200 as the tuning database names it, and the template generator's configurations of
// `problem` there (shared memory unlimited, as imports check them).
tuning_db::DeviceRecord h200();
std::vector<std::string> h200_configs(const ir::Problem& problem);

}  // namespace mf::reliability
