// The CompileError that a toolkit library (NVRTC, nvJitLink) refusing its input throws:
// the tool, the input's name, the arch, what failed, and the start of the tool's log.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "mf/compiler/compile_error.h"

namespace mf::compiler {

// Enough of the log to see the first errors; a template error can run to megabytes.
inline constexpr std::size_t kLogExcerpt = 4000;

[[noreturn]] inline void throw_rejected(std::string_view tool, const std::string& what, const std::string& name,
                                        const std::string& arch, const std::string& log) {
  std::string message = fmt::format("{} rejected {} for {}: {}", tool, name, arch, what);
  std::string_view excerpt = std::string_view(log).substr(0, kLogExcerpt);
  while (!excerpt.empty() && (excerpt.back() == '\n' || excerpt.back() == ' ')) excerpt.remove_suffix(1);
  if (!excerpt.empty()) message += fmt::format("\n{}", excerpt);
  if (log.size() > kLogExcerpt) message += fmt::format("\n[... {} more characters of log]", log.size() - kLogExcerpt);
  throw CompileError(CompileError::Kind::kRejected, message);
}

}  // namespace mf::compiler
