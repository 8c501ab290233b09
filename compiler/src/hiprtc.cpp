#include "mf/compiler/hiprtc.h"

#include <fmt/format.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>

#include "dynamic_library.h"
#include "mf/compiler/compile_error.h"
#include "toolkit_error.h"

namespace mf::compiler {
namespace {

// hipRTC compiles through the code-object manager (libamd_comgr), which it loads with
// dlopen and which runs its own LLVM. A process that also holds mfjit's LLVM (the MLIR
// generator's) would resolve some of comgr's LLVM symbols to that one first, and the
// compiler crashes (SIGSEGV on every arch). Loading comgr ahead of hipRTC with
// RTLD_DEEPBIND makes it and its LLVM look in their own libraries first; hipRTC's later
// dlopen finds it loaded. Runs in the compile's child only. AddressSanitizer refuses
// RTLD_DEEPBIND, so sanitized builds go without (and their template compiles then fail
// where mfjit's LLVM is loaded, a CompileError like any other).
void isolate_compiler_llvm() {
#if !defined(__SANITIZE_ADDRESS__)
  for (const char* comgr : {"libamd_comgr.so.2", "libamd_comgr.so"})
    if (dlopen(comgr, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND) != nullptr) return;
#endif
}

// hipRTC's C ABI (hip/hiprtc.h), declared here so that building needs no ROCm headers.
using hiprtcResult = int;
using hiprtcProgram = struct hiprtcProgramOpaque*;
constexpr hiprtcResult kSuccess = 0;

struct Functions {
  hiprtcResult (*version)(int*, int*) = nullptr;
  hiprtcResult (*create_program)(hiprtcProgram*, const char*, const char*, int, const char**, const char**) = nullptr;
  hiprtcResult (*compile_program)(hiprtcProgram, int, const char**) = nullptr;
  hiprtcResult (*get_program_log_size)(hiprtcProgram, std::size_t*) = nullptr;
  hiprtcResult (*get_program_log)(hiprtcProgram, char*) = nullptr;
  hiprtcResult (*get_code_size)(hiprtcProgram, std::size_t*) = nullptr;
  hiprtcResult (*get_code)(hiprtcProgram, char*) = nullptr;
  hiprtcResult (*destroy_program)(hiprtcProgram*) = nullptr;
  const char* (*get_error_string)(hiprtcResult) = nullptr;
};

std::vector<std::string> candidate_paths() {
  const char* override_path = std::getenv("MFJIT_HIPRTC");
  if (override_path != nullptr && *override_path != '\0') return {override_path};
  // ROCm 6 moved hipRTC into its own library; 5.x (Debian 12) has it in libamdhip64.
  return {"libhiprtc.so.6", "libhiprtc.so", "libamdhip64.so.5", "/opt/rocm/lib/libhiprtc.so"};
}

bool resolve_all(void* library, const std::string& path, Functions& f, std::string& missing) {
  return resolve_symbol(library, path, "hiprtcVersion", f.version, missing) &&
         resolve_symbol(library, path, "hiprtcCreateProgram", f.create_program, missing) &&
         resolve_symbol(library, path, "hiprtcCompileProgram", f.compile_program, missing) &&
         resolve_symbol(library, path, "hiprtcGetProgramLogSize", f.get_program_log_size, missing) &&
         resolve_symbol(library, path, "hiprtcGetProgramLog", f.get_program_log, missing) &&
         resolve_symbol(library, path, "hiprtcGetCodeSize", f.get_code_size, missing) &&
         resolve_symbol(library, path, "hiprtcGetCode", f.get_code, missing) &&
         resolve_symbol(library, path, "hiprtcDestroyProgram", f.destroy_program, missing) &&
         resolve_symbol(library, path, "hiprtcGetErrorString", f.get_error_string, missing);
}

std::string error_text(const Functions& f, hiprtcResult result) {
  const char* text = f.get_error_string(result);
  return fmt::format("{} ({})", text != nullptr ? text : "unknown error", result);
}

// What the child reports through its pipe: whether it compiled, why not, the log and the
// code object, each string as a u64 length and its bytes.
struct Outcome {
  bool compiled = false;
  std::string failure, log, code;
};

void append_field(std::string& out, const std::string& field) {
  const std::uint64_t size = field.size();
  out.append(reinterpret_cast<const char*>(&size), sizeof size);
  out += field;
}

bool take_field(const std::string& in, std::size_t& at, std::string& field) {
  std::uint64_t size = 0;
  if (in.size() - at < sizeof size) return false;
  std::memcpy(&size, in.data() + at, sizeof size);
  at += sizeof size;
  if (in.size() - at < size) return false;
  field = in.substr(at, size);
  at += size;
  return true;
}

// Runs in the child: the whole hipRTC conversation, its result serialised.
std::string compile_here(const Functions& f, const std::string& source, const std::string& name,
                         const std::vector<std::string>& options) {
  Outcome outcome;
  hiprtcProgram program = nullptr;
  if (hiprtcResult result = f.create_program(&program, source.c_str(), name.c_str(), 0, nullptr, nullptr);
      result != kSuccess) {
    outcome.failure = "hiprtcCreateProgram failed: " + error_text(f, result);
  } else {
    std::vector<const char*> pointers;
    for (const std::string& option : options) pointers.push_back(option.c_str());
    const hiprtcResult compiled = f.compile_program(program, static_cast<int>(pointers.size()), pointers.data());
    std::size_t size = 0;
    if (f.get_program_log_size(program, &size) == kSuccess && size > 0) {
      outcome.log.assign(size, '\0');
      if (f.get_program_log(program, outcome.log.data()) != kSuccess) outcome.log.clear();
      while (!outcome.log.empty() && outcome.log.back() == '\0') outcome.log.pop_back();
    }
    if (compiled != kSuccess) {
      outcome.failure = error_text(f, compiled);
    } else if (hiprtcResult sized = f.get_code_size(program, &size); sized != kSuccess) {
      outcome.failure = "no code object: " + error_text(f, sized);
    } else {
      outcome.code.assign(size, '\0');
      if (hiprtcResult got = f.get_code(program, outcome.code.data()); got != kSuccess)
        outcome.failure = "no code object: " + error_text(f, got);
      else
        outcome.compiled = true;
    }
    f.destroy_program(&program);
  }
  std::string out(1, outcome.compiled ? '1' : '0');
  append_field(out, outcome.failure);
  append_field(out, outcome.log);
  append_field(out, outcome.code);
  return out;
}

bool write_all(int fd, const std::string& data) {
  for (std::size_t at = 0; at < data.size();) {
    const ssize_t n = ::write(fd, data.data() + at, data.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    at += static_cast<std::size_t>(n);
  }
  return true;
}

std::string read_all(int fd) {
  std::string data;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return data;
    data.append(buffer, static_cast<std::size_t>(n));
  }
}

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    const char* signal_name = sigabbrev_np(signal);
    return fmt::format("crashed with signal {} (SIG{})", signal, signal_name != nullptr ? signal_name : "?");
  }
  return fmt::format("exited with status {} before reporting", WEXITSTATUS(status));
}

// Compiles in a forked child and returns its outcome; a child that dies is a rejection
// that says how it died.
Outcome compile_in_child(const Functions& f, const std::string& source, const std::string& name,
                         const std::string& arch, const std::vector<std::string>& options) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw CompileError(CompileError::Kind::kRejected,
                       fmt::format("hipRTC cannot compile {} for {}: pipe: {}", name, arch, std::strerror(errno)));
  const pid_t child = ::fork();
  if (child < 0) {
    const int error = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw CompileError(CompileError::Kind::kRejected,
                       fmt::format("hipRTC cannot compile {} for {}: fork: {}", name, arch, std::strerror(error)));
  }
  if (child == 0) {
    ::close(fds[0]);
    isolate_compiler_llvm();
    const bool written = write_all(fds[1], compile_here(f, source, name, options));
    ::_exit(written ? 0 : 3);  // no atexit handlers, no destructors of the parent's objects
  }
  ::close(fds[1]);
  const std::string report = read_all(fds[0]);
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  Outcome outcome;
  std::size_t at = 1;
  const bool whole = !report.empty() && take_field(report, at, outcome.failure) && take_field(report, at, outcome.log) &&
                     take_field(report, at, outcome.code) && at == report.size();
  if (!whole || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw_rejected("hipRTC", fmt::format("the compiler {}; this hipRTC cannot compile for {}", describe_exit(status), arch),
                   name, arch, whole ? outcome.log : std::string());
  }
  outcome.compiled = report[0] == '1';
  return outcome;
}

bool is_elf(const std::string& binary) { return binary.size() >= 4 && std::memcmp(binary.data(), "\x7f" "ELF", 4) == 0; }

}  // namespace

struct HipRtc::Api : Functions {};

HipRtc::HipRtc() {
  auto [library, path] = open_first_library(candidate_paths(), unavailable_reason_);
  if (library == nullptr) return;
  unavailable_reason_.clear();  // an earlier candidate failed, but this one loaded
  auto api = std::make_unique<Api>();
  if (!resolve_all(library, path, *api, unavailable_reason_)) return;
  if (hiprtcResult result = api->version(&major_, &minor_); result != kSuccess) {
    unavailable_reason_ = fmt::format("hiprtcVersion failed: {}", error_text(*api, result));
    return;
  }
  api_ = std::move(api);
}

HipRtc::~HipRtc() = default;

const HipRtc& HipRtc::instance() {
  static const HipRtc hiprtc;
  return hiprtc;
}

std::string HipRtc::version() const { return available() ? fmt::format("{}.{}", major_, minor_) : std::string(); }

CompiledCodeObject HipRtc::compile(const std::string& source, const std::string& name, const std::string& arch,
                                   const std::vector<std::string>& options) const {
  if (!available())
    throw CompileError(CompileError::Kind::kToolchainUnavailable, "hipRTC is not available: " + unavailable_reason_);
  std::vector<std::string> all_options = {"--offload-arch=" + arch, "-O3", "-std=c++17",
                                          // the templates are concatenated headers
                                          "-Wno-pragma-once-outside-header"};
  all_options.insert(all_options.end(), options.begin(), options.end());
  Outcome outcome = compile_in_child(*api_, source, name, arch, all_options);
  if (!outcome.compiled) throw_rejected("hipRTC", outcome.failure, name, arch, outcome.log);
  if (!is_elf(outcome.code))
    throw CompileError(CompileError::Kind::kCorruptBinary,
                       fmt::format("hipRTC returned {} bytes for {} ({}) that are not an ELF code object",
                                   outcome.code.size(), name, arch));
  return {std::vector<char>(outcome.code.begin(), outcome.code.end()), std::move(outcome.log)};
}

bool HipRtc::compiles_for(const std::string& arch) const {
  if (!available()) return false;
  static std::mutex mutex;
  static std::map<std::string, bool> known;
  const std::lock_guard lock(mutex);
  if (auto it = known.find(arch); it != known.end()) return it->second;
  bool compiles = true;
  try {
    compile("extern \"C\" __global__ void mf_probe(float* x) { x[threadIdx.x] += 1.0f; }", "mf_probe.hip", arch);
  } catch (const CompileError&) {
    compiles = false;
  }
  return known[arch] = compiles;
}

}  // namespace mf::compiler
