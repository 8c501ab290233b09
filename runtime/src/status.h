// Errors inside the runtime, and their translation to C API statuses at the boundary.
#pragma once

#include <string>
#include <string_view>

#include "mfjit/mfjit.h"

namespace mf::runtime {

// Thrown by runtime code; carries the C status it becomes.
class Error : public std::exception {
 public:
  Error(mf_status status, std::string message) : status_(status), message_(std::move(message)) {}
  mf_status status() const { return status_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  mf_status status_;
  std::string message_;
};

[[noreturn]] void fail(mf_status status, const std::string& message);

// Records `message` as this thread's last error and returns `status`.
mf_status set_last_error(mf_status status, std::string_view message) noexcept;
void clear_last_error();
const char* last_error();

// Maps the exception in flight (runtime::Error, ir::Error, bad_alloc, anything else) to a
// status, recording its message. Call only from inside a catch block.
mf_status status_from_current_exception();

// Runs body() and turns whatever it throws into a status: the C API's only try/catch.
template <typename Body>
mf_status guarded(Body&& body) noexcept {
  try {
    clear_last_error();
    body();
    return MF_SUCCESS;
  } catch (...) {
    return status_from_current_exception();
  }
}

}  // namespace mf::runtime
