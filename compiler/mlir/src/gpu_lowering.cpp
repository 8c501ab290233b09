#include "gpu_lowering.h"

#include <regex>

#include <llvm/Support/raw_ostream.h>
#include <mlir/Conversion/Passes.h>
#include <mlir/Dialect/Arith/Transforms/Passes.h>
#include <mlir/Dialect/GPU/IR/GPUDialect.h>
#include <mlir/Dialect/GPU/Transforms/Passes.h>
#include <mlir/Dialect/MemRef/Transforms/Passes.h>
#include <mlir/IR/Diagnostics.h>
#include <mlir/Pass/PassManager.h>
#include <mlir/Transforms/Passes.h>

#include "mf/compiler/compile_error.h"

namespace mf::compiler::mlir_generator {
namespace {

// Runs `pm` on `module`; a failure throws with MLIR's diagnostics.
void run_passes(mlir::PassManager& pm, mlir::ModuleOp module, const std::string& what) {
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(module.getContext(), [&](mlir::Diagnostic& diagnostic) {
    llvm::raw_string_ostream(diagnostics) << diagnostic << "\n";
    return mlir::success();
  });
  if (mlir::failed(pm.run(module))) throw CompileError(CompileError::Kind::kRejected, what + " failed: " + diagnostics);
}

}  // namespace

std::optional<GpuVendor> gpu_vendor(const std::string& arch) {
  static const std::regex nvidia("sm_[0-9]+a?"), amd("gfx[0-9][0-9a-f]+");
  if (std::regex_match(arch, nvidia)) return GpuVendor::kNvidia;
  if (std::regex_match(arch, amd)) return GpuVendor::kAmd;
  return std::nullopt;
}

void lower_gpu_module(mlir::ModuleOp module, GpuVendor vendor, const std::string& arch) {
  mlir::PassManager pm(module.getContext());
  mlir::OpPassManager& kernels = pm.nest<mlir::gpu::GPUModuleOp>();
  kernels.addPass(mlir::createCanonicalizerPass());
  kernels.addPass(mlir::createLoopInvariantCodeMotionPass());
  // bf16 conversions as integer operations: every target has those.
  mlir::arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  kernels.addPass(mlir::arith::createArithExpandOpsPass(expand));
  kernels.addPass(mlir::createSCFToControlFlowPass());
  kernels.addPass(mlir::memref::createExpandStridedMetadataPass());
  kernels.addPass(mlir::createLowerAffinePass());
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
