// Which of the generators' every-configuration modules a test run compiles.
//
// All of them take ~32 minutes of one core (NVRTC and hipRTC at -O3 for two architectures), a
// third of CI's budget on its 2 cores. CI compiles a fixed third (every third module of the
// test's deterministic list, so each problem, direction and template path keeps its share);
// `ctest --preset long` (the label `long`) sets MF_COMPILE_EVERY_CONFIGURATION=all and
// compiles every one: run it after changing a template or a generator's space.
#pragma once

#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace mf::compiler {

inline bool compile_every_configuration() {
  const char* value = std::getenv("MF_COMPILE_EVERY_CONFIGURATION");
  return value != nullptr && std::strcmp(value, "all") == 0;
}

// `items` itself under MF_COMPILE_EVERY_CONFIGURATION=all, else items 0, 3, 6, ...
template <class T>
std::vector<T> compile_sample(std::vector<T> items) {
  if (compile_every_configuration()) return items;
  constexpr std::size_t kStride = 3;
  std::vector<T> kept;
  for (std::size_t i = 0; i < items.size(); i += kStride) kept.push_back(std::move(items[i]));
  return kept;
}

inline std::string compile_sample_note(std::size_t kept, std::size_t all) {
  return std::to_string(kept) + " of " + std::to_string(all) +
         (kept == all ? "" : " (every third; MF_COMPILE_EVERY_CONFIGURATION=all or ctest --preset long: all)");
}

}  // namespace mf::compiler
