// From a GPU stage module (a gpu.module of gpu.func kernels, see stage_modules.h) to
// device code: the lowering to the NVVM or ROCDL flavour of the LLVM dialect, then PTX
// (MLIR's NVVM serialiser, libdevice linked) or AMDGCN (LLVM's AMDGPU back end), and the
// HSACO that ld.lld links from AMDGCN objects.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <mlir/IR/BuiltinOps.h>

namespace mf::compiler::mlir_generator {

enum class GpuVendor { kNvidia, kAmd };

// NVIDIA for "sm_<2+ digits>[a]", AMD for "gfx<digit><2+ hex digits>", else nullopt.
std::optional<GpuVendor> gpu_vendor(const std::string& arch);

// Lowers every gpu.module of `module` in place. Throws CompileError when a pass fails.
void lower_gpu_module(mlir::ModuleOp module, GpuVendor vendor, const std::string& arch);

// The PTX of the lowered gpu.module `name` for `arch` (sm_90a gets PTX ISA 8.0, which
// its wgmma and setmaxnreg need).
std::string emit_ptx(mlir::ModuleOp lowered, const std::string& name, const std::string& arch);

struct AmdgcnCode {
  std::string assembly;
  std::vector<char> object;  // a relocatable ELF, for link_hsaco
};
// The AMDGCN of the lowered gpu.module `name` for `arch`, at -O3.
AmdgcnCode emit_amdgcn(mlir::ModuleOp lowered, const std::string& name, const std::string& arch);

// Links a relocatable AMDGCN object into a loadable HSACO with ld.lld ($MFJIT_LLD, else
// ld.lld-22 or ld.lld on the PATH, else /usr/lib/llvm-22/bin/ld.lld). Throws CompileError:
// kToolchainUnavailable without ld.lld, kRejected when it fails.
std::vector<char> link_hsaco(const std::vector<char>& object, const std::string& name);

}  // namespace mf::compiler::mlir_generator
