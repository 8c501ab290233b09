#include "host_lowering.h"

#include <llvm/Support/raw_ostream.h>
#include <mlir/Conversion/Passes.h>
#include <mlir/Dialect/Arith/Transforms/Passes.h>
#include <mlir/Dialect/MemRef/Transforms/Passes.h>
#include <mlir/IR/Diagnostics.h>
#include <mlir/Pass/PassManager.h>
#include <mlir/Transforms/Passes.h>

#include "mf/compiler/compile_error.h"

namespace mf::compiler::mlir_generator {

void lower_to_llvm(mlir::ModuleOp module) {
  mlir::MLIRContext& context = *module.getContext();
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic& diagnostic) {
    llvm::raw_string_ostream(diagnostics) << diagnostic << "\n";
    return mlir::success();
  });

  mlir::PassManager pm(&context);
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createLoopInvariantCodeMotionPass());
  // bf16 has no LLVM arithmetic on most hosts: its conversions become integer operations.
  mlir::arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(mlir::arith::createArithExpandOpsPass(expand));
  pm.addPass(mlir::createSCFToControlFlowPass());
  pm.addPass(mlir::memref::createExpandStridedMetadataPass());
  pm.addPass(mlir::createLowerAffinePass());
  pm.addPass(mlir::createConvertMathToLLVMPass());
  pm.addPass(mlir::createArithToLLVMConversionPass());
  pm.addPass(mlir::createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(mlir::createConvertControlFlowToLLVMPass());
  pm.addPass(mlir::createConvertFuncToLLVMPass());
  pm.addPass(mlir::createReconcileUnrealizedCastsPass());
  if (mlir::failed(pm.run(module)))
    throw CompileError(CompileError::Kind::kRejected, "lowering the host module to LLVM failed: " + diagnostics);
}

}  // namespace mf::compiler::mlir_generator
