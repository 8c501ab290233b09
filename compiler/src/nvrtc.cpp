#include "mf/compiler/nvrtc.h"

#include <fmt/format.h>
#include <nvrtc.h>

#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

#include "dynamic_library.h"
#include "mf/compiler/compile_error.h"
#include "toolkit_error.h"

namespace mf::compiler {
namespace {

struct Functions {
  decltype(&::nvrtcVersion) version = nullptr;
  decltype(&::nvrtcCreateProgram) create_program = nullptr;
  decltype(&::nvrtcCompileProgram) compile_program = nullptr;
  decltype(&::nvrtcGetProgramLogSize) get_program_log_size = nullptr;
  decltype(&::nvrtcGetProgramLog) get_program_log = nullptr;
  decltype(&::nvrtcGetCUBINSize) get_cubin_size = nullptr;
  decltype(&::nvrtcGetCUBIN) get_cubin = nullptr;
  decltype(&::nvrtcDestroyProgram) destroy_program = nullptr;
  decltype(&::nvrtcGetErrorString) get_error_string = nullptr;
};

std::vector<std::string> candidate_paths() {
  const char* override_path = std::getenv("MFJIT_NVRTC");
  if (override_path != nullptr && *override_path != '\0') return {override_path};
  // The last one finds the default toolkit install when the loader's path does not.
  return {"libnvrtc.so.13", "libnvrtc.so", "/usr/local/cuda/lib64/libnvrtc.so.13"};
}

bool resolve_all(void* library, const std::string& path, Functions& f, std::string& missing) {
  return resolve_symbol(library, path, "nvrtcVersion", f.version, missing) &&
         resolve_symbol(library, path, "nvrtcCreateProgram", f.create_program, missing) &&
         resolve_symbol(library, path, "nvrtcCompileProgram", f.compile_program, missing) &&
         resolve_symbol(library, path, "nvrtcGetProgramLogSize", f.get_program_log_size, missing) &&
         resolve_symbol(library, path, "nvrtcGetProgramLog", f.get_program_log, missing) &&
         resolve_symbol(library, path, "nvrtcGetCUBINSize", f.get_cubin_size, missing) &&
         resolve_symbol(library, path, "nvrtcGetCUBIN", f.get_cubin, missing) &&
         resolve_symbol(library, path, "nvrtcDestroyProgram", f.destroy_program, missing) &&
         resolve_symbol(library, path, "nvrtcGetErrorString", f.get_error_string, missing);
}

std::string error_text(const Functions& f, nvrtcResult result) {
  const char* text = f.get_error_string(result);
  return fmt::format("{} ({})", text != nullptr ? text : "unknown error", static_cast<int>(result));
}

// Destroys the program on every path out of compile(), exceptions included.
class Program {
 public:
  Program(const Functions& f, nvrtcProgram program) : f_(f), program_(program) {}
  ~Program() { f_.destroy_program(&program_); }
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;
  nvrtcProgram get() const { return program_; }

 private:
  const Functions& f_;
  nvrtcProgram program_;
};

std::string program_log(const Functions& f, nvrtcProgram program) {
  std::size_t size = 0;
  if (f.get_program_log_size(program, &size) != NVRTC_SUCCESS || size == 0) return {};
  std::string log(size, '\0');
  if (f.get_program_log(program, log.data()) != NVRTC_SUCCESS) return {};
  while (!log.empty() && log.back() == '\0') log.pop_back();  // the size counts the terminator
  return log;
}

[[noreturn]] void reject(const std::string& what, const std::string& name, const std::string& arch,
                         const std::string& log) {
  throw_rejected("NVRTC", what, name, arch, log);
}

std::vector<const char*> option_pointers(const std::vector<std::string>& options) {
  std::vector<const char*> pointers;
  pointers.reserve(options.size());
  for (const std::string& option : options) pointers.push_back(option.c_str());
  return pointers;
}

bool is_elf(const std::vector<char>& binary) {
  return binary.size() >= 4 && std::memcmp(binary.data(), "\x7f" "ELF", 4) == 0;
}

}  // namespace

struct Nvrtc::Api : Functions {};

Nvrtc::Nvrtc() {
  auto [library, path] = open_first_library(candidate_paths(), unavailable_reason_);
  if (library == nullptr) return;
  unavailable_reason_.clear();  // an earlier candidate failed, but this one loaded
  auto api = std::make_unique<Api>();
  if (!resolve_all(library, path, *api, unavailable_reason_)) return;
  if (nvrtcResult result = api->version(&major_, &minor_); result != NVRTC_SUCCESS) {
    unavailable_reason_ = fmt::format("nvrtcVersion failed: {}", error_text(*api, result));
    return;
  }
  api_ = std::move(api);
}

Nvrtc::~Nvrtc() = default;

const Nvrtc& Nvrtc::instance() {
  static const Nvrtc nvrtc;
  return nvrtc;
}

std::string Nvrtc::version() const { return available() ? fmt::format("{}.{}", major_, minor_) : std::string(); }

CompiledBinary Nvrtc::compile(const std::string& source, const std::string& name, const std::string& arch,
                              const std::vector<std::string>& options) const {
  if (!available())
    throw CompileError(CompileError::Kind::kToolchainUnavailable, "NVRTC is not available: " + unavailable_reason_);
  const Functions& f = *api_;

  nvrtcProgram raw = nullptr;
  if (nvrtcResult result = f.create_program(&raw, source.c_str(), name.c_str(), 0, nullptr, nullptr);
      result != NVRTC_SUCCESS)
    reject("nvrtcCreateProgram failed: " + error_text(f, result), name, arch, {});
  const Program program(f, raw);

  std::vector<std::string> all_options = {"--gpu-architecture=" + arch, "-std=c++17", "--ptxas-options=-v",
                                          "-default-device"};
  all_options.insert(all_options.end(), options.begin(), options.end());
  const std::vector<const char*> pointers = option_pointers(all_options);
  const nvrtcResult compiled =
      f.compile_program(program.get(), static_cast<int>(pointers.size()), pointers.data());
  CompiledBinary binary{{}, program_log(f, program.get())};
  if (compiled != NVRTC_SUCCESS) reject(error_text(f, compiled), name, arch, binary.log);

  // A virtual arch (compute_90) compiles to PTX only and has no cubin to give.
  std::size_t size = 0;
  if (nvrtcResult result = f.get_cubin_size(program.get(), &size); result != NVRTC_SUCCESS)
    reject("no cubin: " + error_text(f, result), name, arch, binary.log);
  binary.cubin.resize(size);
  if (nvrtcResult result = f.get_cubin(program.get(), binary.cubin.data()); result != NVRTC_SUCCESS)
    reject("no cubin: " + error_text(f, result), name, arch, binary.log);
  if (!is_elf(binary.cubin))
    throw CompileError(CompileError::Kind::kCorruptBinary,
                       fmt::format("NVRTC returned {} bytes for {} ({}) that are not an ELF cubin", size, name, arch));
  return binary;
}

}  // namespace mf::compiler
