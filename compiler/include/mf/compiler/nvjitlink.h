// nvJitLink, the CUDA toolkit's in-process linker, loaded with dlopen: it turns PTX (the
// MLIR generator's output for NVIDIA) into a cubin for one architecture, running ptxas in
// process. $MFJIT_NVJITLINK names the library to load instead of the usual candidates.
#pragma once

#include <string>
#include <vector>

#include "mf/compiler/nvrtc.h"  // CompiledBinary

namespace mf::compiler {

class NvJitLink {
 public:
  // Loads the library once per process (thread-safe); never throws.
  static const NvJitLink& instance();

  bool available() const { return unavailable_reason_.empty(); }
  // Why nvJitLink cannot be used; "" when available.
  const std::string& unavailable_reason() const { return unavailable_reason_; }

  // Links `ptx` (named `name` in messages) into a cubin for `arch` ("sm_90a", "sm_80"),
  // asking ptxas for its -v report (in the result's log). Throws CompileError:
  // kToolchainUnavailable when nvJitLink is not available, kRejected when the PTX or the
  // arch is refused (the message names `name` and `arch` and quotes the error log),
  // kCorruptBinary when the output is not an ELF cubin.
  CompiledBinary link_ptx(const std::string& ptx, const std::string& name, const std::string& arch) const;

  NvJitLink(const NvJitLink&) = delete;
  NvJitLink& operator=(const NvJitLink&) = delete;
  ~NvJitLink();

 private:
  struct Api;  // the resolved entry points; defined in nvjitlink.cpp
  NvJitLink();
  std::unique_ptr<Api> api_;
  std::string unavailable_reason_;
};

}  // namespace mf::compiler
