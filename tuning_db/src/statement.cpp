#include "statement.h"

#include <fmt/format.h>

namespace mf::tuning_db {

void fail_sqlite(sqlite3* handle, int code, std::string_view what) {
  const int primary = code & 0xff;
  const std::string detail = handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(code);
  const std::string message = fmt::format("{}: {}", what, detail);
  switch (primary) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT: throw Error(ErrorKind::kNotDatabase, message);
    case SQLITE_BUSY:
    case SQLITE_LOCKED: throw Error(ErrorKind::kBusy, message);
    case SQLITE_READONLY: throw Error(ErrorKind::kReadOnly, message);
    case SQLITE_CANTOPEN: throw Error(ErrorKind::kCannotOpen, message);
    case SQLITE_CONSTRAINT: throw Error(ErrorKind::kInvalid, message);
    default: throw Error(ErrorKind::kSqlite, message);
  }
}

Statement::Statement(sqlite3* handle, std::string_view sql) : handle_(handle) {
  const int code = sqlite3_prepare_v2(handle, sql.data(), static_cast<int>(sql.size()), &statement_, nullptr);
  if (code != SQLITE_OK) fail_sqlite(handle, code, fmt::format("preparing \"{}\"", sql.substr(0, 80)));
}

Statement::~Statement() { sqlite3_finalize(statement_); }

Statement& Statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(statement_, index, value);
  return *this;
}
Statement& Statement::bind(int index, double value) {
  sqlite3_bind_double(statement_, index, value);
  return *this;
}
Statement& Statement::bind(int index, std::string_view value) {
  sqlite3_bind_text(statement_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::bind(int index, std::optional<double> value) {
  if (value) return bind(index, *value);
  sqlite3_bind_null(statement_, index);
  return *this;
}

Statement& Statement::bind_device(int first, const DeviceRecord& device) {
  return bind(first, device.vendor)
      .bind(first + 1, device.name)
      .bind(first + 2, device.arch)
      .bind(first + 3, device.multiprocessors)
      .bind(first + 4, device.l2_bytes)
      .bind(first + 5, device.memory_bytes)
      .bind(first + 6, device.driver_version)
      .bind(first + 7, device.toolkit_version);
}

bool Statement::step() {
  const int code = sqlite3_step(statement_);
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  fail_sqlite(handle_, code, fmt::format("running \"{}\"", std::string_view(sqlite3_sql(statement_)).substr(0, 80)));
}

void Statement::run() {
  while (step()) {
  }
}

std::int64_t Statement::integer(int column) const { return sqlite3_column_int64(statement_, column); }
double Statement::real(int column) const { return sqlite3_column_double(statement_, column); }
std::optional<double> Statement::optional_real(int column) const {
  if (sqlite3_column_type(statement_, column) == SQLITE_NULL) return std::nullopt;
  return real(column);
}
std::string Statement::text(int column) const {
  const auto* bytes = sqlite3_column_text(statement_, column);
  return bytes == nullptr ? std::string{} : std::string(reinterpret_cast<const char*>(bytes));
}

}  // namespace mf::tuning_db
