#include "gpu_lowering.h"

#include <string_view>

#include <mlir/Conversion/Passes.h>
#include <mlir/Dialect/GPU/IR/GPUDialect.h>
#include <mlir/Dialect/GPU/Transforms/Passes.h>
#include <mlir/Pass/PassManager.h>

#include "mf/compiler/compile_error.h"
#include "pass_pipeline.h"

namespace mf::compiler::mlir_generator {

namespace {

// Whether `text` is `prefix` then at least `least` characters of `allowed`, then `suffix`.
bool spelled(std::string_view text, std::string_view prefix, std::string_view allowed, std::size_t least,
             std::string_view suffix) {
  if (!text.starts_with(prefix) || !text.ends_with(suffix) || text.size() < prefix.size() + suffix.size() + least)
    return false;
  const std::string_view body = text.substr(prefix.size(), text.size() - prefix.size() - suffix.size());
  return body.find_first_not_of(allowed) == std::string_view::npos;
}

}  // namespace

std::optional<GpuVendor> gpu_vendor(const std::string& arch) {
  constexpr std::string_view digits = "0123456789", hex = "0123456789abcdef";
  if (spelled(arch, "sm_", digits, 2, "") || spelled(arch, "sm_", digits, 2, "a")) return GpuVendor::kNvidia;
  if (spelled(arch, "gfx", hex, 3, "") && digits.find(arch[3]) != std::string_view::npos) return GpuVendor::kAmd;
  return std::nullopt;
}

void lower_gpu_module(mlir::ModuleOp module, GpuVendor vendor, const std::string& arch) {
  mlir::PassManager pm(module.getContext());
  mlir::OpPassManager& kernels = pm.nest<mlir::gpu::GPUModuleOp>();
  add_loop_lowering(kernels);
  if (vendor == GpuVendor::kNvidia) {
    // Math functions become libdevice calls, linked when the PTX is emitted.
    mlir::ConvertGpuOpsToNVVMOpsOptions options;
    options.useBarePtrCallConv = true;
    kernels.addPass(mlir::createConvertGpuOpsToNVVMOps(options));
  } else {
    // f32 exp, log and sqrt as LLVM intrinsics, which the AMDGPU back end expands itself:
    // ROCm's device libraries (ocml) are not needed.
    kernels.addPass(mlir::createConvertMathToLLVMPass());
    mlir::ConvertGpuOpsToROCDLOpsOptions options;
    options.chipset = arch;
    options.useBarePtrCallConv = true;
    kernels.addPass(mlir::createConvertGpuOpsToROCDLOps(options));
  }
  kernels.addPass(mlir::createReconcileUnrealizedCastsPass());
  run_passes(pm, module, "lowering the GPU module for " + arch);
}

std::string emit_ptx(mlir::ModuleOp lowered, const std::string& name, const std::string& arch) {
  mlir::PassManager pm(lowered.getContext());
  mlir::GpuNVVMAttachTargetOptions target;
  target.moduleMatcher = name;
  target.chip = arch;
  if (arch == "sm_90a") target.features = "+ptx80";
  target.optLevel = 3;
  pm.addPass(mlir::createGpuNVVMAttachTarget(target));
  mlir::GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  pm.addPass(mlir::createGpuModuleToBinaryPass(binary));
  run_passes(pm, lowered, "emitting PTX for " + arch);
  auto result = lowered.lookupSymbol<mlir::gpu::BinaryOp>(name);
  if (!result || result.getObjects().size() != 1)
    throw CompileError(CompileError::Kind::kRejected, "emitting PTX for " + arch + " gave no single object");
  auto object = mlir::cast<mlir::gpu::ObjectAttr>(result.getObjects()[0]);
  return object.getObject().getValue().str();
}

}  // namespace mf::compiler::mlir_generator
