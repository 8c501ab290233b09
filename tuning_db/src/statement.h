// A prepared SQLite statement with typed binding and reading; SQLite errors become
// db::Error with the statement's text, so a failure names what was being done.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mf/tuning_db/database.h"

namespace mf::tuning_db {

// The error for SQLite result `code` on `handle` while doing `what`.
[[noreturn]] void fail_sqlite(sqlite3* handle, int code, std::string_view what);

class Statement {
 public:
  Statement(sqlite3* handle, std::string_view sql);
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, std::optional<double> value);
  // Binds the device's eight identity columns from `first` on.
  Statement& bind_device(int first, const DeviceRecord& device);

  // Advances to the next row: true while there is one.
  bool step();
  // Runs a statement that returns no rows.
  void run();

  std::int64_t integer(int column) const;
  double real(int column) const;
  std::optional<double> optional_real(int column) const;
  std::string text(int column) const;

 private:
  sqlite3* handle_;
  sqlite3_stmt* statement_ = nullptr;
};

}  // namespace mf::tuning_db
