// Loading the toolkit's libraries with dlopen (NVRTC, nvJitLink), so that mfjit loads and
// reports "not available" cleanly where they are missing.
#pragma once

#include <dlfcn.h>
#include <fmt/format.h>

#include <string>
#include <utility>
#include <vector>

namespace mf::compiler {

// The first of `candidates` that loads, and its path; `reason` collects every failure.
// Never closed: what the library compiled lives as long as the process.
inline std::pair<void*, std::string> open_first_library(const std::vector<std::string>& candidates,
                                                        std::string& reason) {
  for (const std::string& path : candidates) {
    if (void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return {library, path};
    const char* error = dlerror();
    if (!reason.empty()) reason += "; ";
    reason += fmt::format("dlopen({}): {}", path, error != nullptr ? error : "unknown reason");
  }
  return {nullptr, {}};
}

// Resolves `symbol` into `function`; on failure says so in `missing`.
template <typename Function>
bool resolve_symbol(void* library, const std::string& path, const char* symbol, Function& function,
                    std::string& missing) {
  function = reinterpret_cast<Function>(dlsym(library, symbol));
  if (function == nullptr) missing = fmt::format("{} lacks {}", path, symbol);
  return function != nullptr;
}

}  // namespace mf::compiler
