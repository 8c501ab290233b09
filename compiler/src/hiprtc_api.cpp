#include "hiprtc_api.h"

#include <fmt/format.h>

#include <cstdlib>

#include "dynamic_library.h"

namespace mf::compiler::hiprtc {

std::vector<std::string> candidate_paths() {
  const char* override_path = std::getenv("MFJIT_HIPRTC");
  if (override_path != nullptr && *override_path != '\0') return {override_path};
  // ROCm 6 moved hipRTC into its own library; 5.x (Debian 12) has it in libamdhip64.
  return {"libhiprtc.so.6", "libhiprtc.so", "libamdhip64.so.5", "/opt/rocm/lib/libhiprtc.so"};
}

bool resolve(void* library, const std::string& path, Api& api, std::string& missing) {
  return resolve_symbol(library, path, "hiprtcVersion", api.version, missing) &&
         resolve_symbol(library, path, "hiprtcCreateProgram", api.create_program, missing) &&
         resolve_symbol(library, path, "hiprtcCompileProgram", api.compile_program, missing) &&
         resolve_symbol(library, path, "hiprtcGetProgramLogSize", api.get_program_log_size, missing) &&
         resolve_symbol(library, path, "hiprtcGetProgramLog", api.get_program_log, missing) &&
         resolve_symbol(library, path, "hiprtcGetCodeSize", api.get_code_size, missing) &&
         resolve_symbol(library, path, "hiprtcGetCode", api.get_code, missing) &&
         resolve_symbol(library, path, "hiprtcDestroyProgram", api.destroy_program, missing) &&
         resolve_symbol(library, path, "hiprtcGetErrorString", api.get_error_string, missing);
}

std::string error_text(const Api& api, Result result) {
  const char* text = api.get_error_string(result);
  return fmt::format("{} ({})", text != nullptr ? text : "unknown error", result);
}

Outcome compile(const Api& api, const Request& request) {
  Outcome outcome;
  Program program = nullptr;
  if (Result result = api.create_program(&program, request.source.c_str(), request.name.c_str(), 0, nullptr, nullptr);
      result != kSuccess) {
    outcome.failure = "hiprtcCreateProgram failed: " + error_text(api, result);
    return outcome;
  }
  std::vector<const char*> options;
  for (const std::string& option : request.options) options.push_back(option.c_str());
  const Result compiled = api.compile_program(program, static_cast<int>(options.size()), options.data());
  std::size_t size = 0;
  if (api.get_program_log_size(program, &size) == kSuccess && size > 0) {
    outcome.log.assign(size, '\0');
    if (api.get_program_log(program, outcome.log.data()) != kSuccess) outcome.log.clear();
    while (!outcome.log.empty() && outcome.log.back() == '\0') outcome.log.pop_back();
  }
  if (compiled != kSuccess) {
    outcome.failure = error_text(api, compiled);
  } else if (Result sized = api.get_code_size(program, &size); sized != kSuccess) {
    outcome.failure = "no code object: " + error_text(api, sized);
  } else {
    outcome.code.assign(size, '\0');
    if (Result got = api.get_code(program, outcome.code.data()); got != kSuccess)
      outcome.failure = "no code object: " + error_text(api, got);
    else
      outcome.compiled = true;
  }
  api.destroy_program(&program);
  return outcome;
}

}  // namespace mf::compiler::hiprtc
