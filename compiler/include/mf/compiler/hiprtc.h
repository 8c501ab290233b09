// hipRTC, AMD's run-time compiler (inside libamdhip64 up to ROCm 5.x, libhiprtc after),
// loaded with dlopen so that mfjit loads and reports "not available" cleanly where ROCm is
// missing. $MFJIT_HIPRTC names the library to load instead of the usual candidates.
//
// Every compile runs in a process of its own, the program mf-hiprtc-worker (the build
// tree's for a binary of the build tree; else beside the library, in ../bin or
// ../libexec/mfjit from it; or where $MFJIT_HIPRTC_WORKER says), killed after
// $MFJIT_HIPRTC_TIMEOUT seconds (600): the distribution's hipRTC 5.2 aborts the process
// (heap corruption) on targets newer than it knows (gfx940 and later), and a compiler that
// crashes must cost a compile error, not the caller's process. A fresh program rather than
// a fork: see compiler/src/hiprtc_worker.cpp; docs/hip.md.
#pragma once

#include <string>
#include <vector>

namespace mf::compiler {

struct CompiledCodeObject {
  std::vector<char> code;  // an AMDGPU code object (ELF) for hipModuleLoadData
  std::string log;         // hipRTC's log
};

class HipRtc {
 public:
  // Loads the library once per process (thread-safe); never throws.
  static const HipRtc& instance();

  bool available() const { return unavailable_reason_.empty(); }
  // Why hipRTC cannot be used, e.g. "dlopen(libamdhip64.so.5): <dlerror>" or where the worker
  // program was looked for; "" when available.
  const std::string& unavailable_reason() const { return unavailable_reason_; }
  std::string version() const;  // hiprtcVersion, "9.0" for HIP 5.2; "" when not available

  // Compiles one translation unit for `arch` ("gfx90a") with --offload-arch=<arch> -O3
  // -std=c++17 -Wno-pragma-once-outside-header and `options`, in a worker process; any
  // number of threads may compile at once. Throws CompileError:
  // kToolchainUnavailable when hipRTC is not available, kRejected when the source, an option
  // or the arch is refused or the compiler crashed (the message says which, names `name` and
  // `arch` and quotes the start of the log), kCorruptBinary when the output is not an ELF
  // code object.
  CompiledCodeObject compile(const std::string& source, const std::string& name, const std::string& arch,
                             const std::vector<std::string>& options = {}) const;

  // Whether this hipRTC compiles for `arch`: a trivial kernel compiled once per arch and
  // process. The hip backend compiles the templates for the archs where it does, and uses
  // the MLIR generator (LLVM's own AMDGPU back end) for the others.
  bool compiles_for(const std::string& arch) const;

  HipRtc(const HipRtc&) = delete;
  HipRtc& operator=(const HipRtc&) = delete;
  ~HipRtc();

 private:
  HipRtc();

  std::string library_;  // the hipRTC library loaded, which the worker loads too
  std::string worker_;   // the path of mf-hiprtc-worker
  int timeout_seconds_ = 0;  // $MFJIT_HIPRTC_TIMEOUT, 600 by default
  std::string unavailable_reason_;
  int major_ = 0;
  int minor_ = 0;
};

}  // namespace mf::compiler
