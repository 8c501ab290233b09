// NVRTC, the CUDA run-time compiler, loaded with dlopen so that mfjit loads and reports
// "not available" cleanly where the CUDA toolkit is missing. $MFJIT_NVRTC names the
// library to load instead of the usual candidates (for unusual installs, and the tests).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace mf::compiler {

struct CompiledBinary {
  std::vector<char> cubin;
  std::string log;  // NVRTC's log, the ptxas -v report included
};

class Nvrtc {
 public:
  // Loads the library once per process (thread-safe); never throws.
  static const Nvrtc& instance();

  bool available() const { return unavailable_reason_.empty(); }
  // Why NVRTC cannot be used, e.g. "dlopen(libnvrtc.so.13): <dlerror>"; "" when available.
  const std::string& unavailable_reason() const { return unavailable_reason_; }
  std::string version() const;  // "13.0"; "" when not available

  // Compiles one translation unit to a cubin for `arch` ("sm_90a", "sm_80") with
  // --gpu-architecture=<arch> -std=c++17 --ptxas-options=-v -default-device and `options`.
  // Throws CompileError: kToolchainUnavailable when NVRTC is not available, kRejected when
  // the source, an option or the arch is refused (the message names `name` and `arch` and
  // quotes the start of the log), kCorruptBinary when the output is not an ELF cubin.
  CompiledBinary compile(const std::string& source, const std::string& name, const std::string& arch,
                         const std::vector<std::string>& options = {}) const;

  Nvrtc(const Nvrtc&) = delete;
  Nvrtc& operator=(const Nvrtc&) = delete;
  ~Nvrtc();

 private:
  struct Api;  // the resolved entry points; defined in nvrtc.cpp so that <nvrtc.h> stays private

  Nvrtc();

  std::unique_ptr<Api> api_;
  std::string unavailable_reason_;
  int major_ = 0;
  int minor_ = 0;
};

// The resources of one entry function as ptxas -v reports them.
struct KernelResources {
  std::string function;  // the mangled name, as the cubin's symbol table has it
  int registers = 0;
  int spill_store_bytes = 0;
  int spill_load_bytes = 0;
  int stack_frame_bytes = 0;
  int shared_bytes = 0;  // static shared memory only; dynamic shared memory is a launch parameter
};

// Every entry function of a ptxas -v report (CompiledBinary::log), in the order ptxas
// compiled them. Non-entry functions and lines it does not recognise are skipped.
std::vector<KernelResources> parse_ptxas_report(const std::string& log);

}  // namespace mf::compiler
