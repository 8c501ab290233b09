// expect_error: the call throws mf::ir::Error of the given kind whose message contains a
// given text (the argument's name and the rule it broke).
#pragma once

#include <gtest/gtest.h>

#include <source_location>
#include <string>
#include <string_view>

#include "mf/ir/error.h"

namespace mf::ir::testing {

inline std::string_view kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument:
      return "kInvalidArgument";
    case ErrorKind::kShapeMismatch:
      return "kShapeMismatch";
    case ErrorKind::kUnsupported:
      return "kUnsupported";
    case ErrorKind::kOverflow:
      return "kOverflow";
    case ErrorKind::kMisaligned:
      return "kMisaligned";
  }
  return "(unknown ErrorKind)";
}

template <class Fn>
void expect_error(Fn&& fn, ErrorKind kind, std::string_view substring,
                  std::source_location where = std::source_location::current()) {
  const auto report = [&](const std::string& what) {
    ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line())) << what;
  };
  try {
    fn();
  } catch (const Error& error) {
    const std::string message = error.what();
    if (error.kind() != kind)
      report("threw " + std::string(kind_name(error.kind())) + ", expected " + std::string(kind_name(kind)) +
             "; message: " + message);
    if (message.find(substring) == std::string::npos)
      report("message \"" + message + "\" does not contain \"" + std::string(substring) + "\"");
    return;
  } catch (const std::exception& error) {
    report(std::string("threw a non-mf::ir::Error exception: ") + error.what());
    return;
  }
  report("did not throw; expected " + std::string(kind_name(kind)) + " containing \"" + std::string(substring) + "\"");
}

}  // namespace mf::ir::testing
