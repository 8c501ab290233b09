// hipRTC's C ABI (hip/hiprtc.h), declared here so that building needs no ROCm headers, and
// the one conversation mfjit has with it. Shared by the library (which loads hipRTC to say
// whether it is available and which version) and by mf-hiprtc-worker (which compiles).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "hiprtc_wire.h"

namespace mf::compiler::hiprtc {

using Result = int;
using Program = struct ProgramOpaque*;
constexpr Result kSuccess = 0;

struct Api {
  Result (*version)(int*, int*) = nullptr;
  Result (*create_program)(Program*, const char*, const char*, int, const char**, const char**) = nullptr;
  Result (*compile_program)(Program, int, const char**) = nullptr;
  Result (*get_program_log_size)(Program, std::size_t*) = nullptr;
  Result (*get_program_log)(Program, char*) = nullptr;
  Result (*get_code_size)(Program, std::size_t*) = nullptr;
  Result (*get_code)(Program, char*) = nullptr;
  Result (*destroy_program)(Program*) = nullptr;
  const char* (*get_error_string)(Result) = nullptr;
};

// $MFJIT_HIPRTC alone when set; else the libraries that hold hipRTC, newest ROCm first.
std::vector<std::string> candidate_paths();

// Resolves every entry point of the library at `path` (already loaded as `library`); on
// failure `missing` names the first absent symbol.
bool resolve(void* library, const std::string& path, Api& api, std::string& missing);

// "HIPRTC_ERROR_COMPILATION (6)".
std::string error_text(const Api& api, Result result);

// Compiles `request` with the loaded `api`: the whole hipRTC conversation, never throws.
Outcome compile(const Api& api, const Request& request);

}  // namespace mf::compiler::hiprtc
