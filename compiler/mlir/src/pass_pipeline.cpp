#include "pass_pipeline.h"

#include <llvm/Support/raw_ostream.h>
#include <mlir/Conversion/Passes.h>
#include <mlir/Dialect/Arith/Transforms/Passes.h>
#include <mlir/Dialect/MemRef/Transforms/Passes.h>
#include <mlir/IR/Diagnostics.h>
#include <mlir/Transforms/Passes.h>

#include "mf/compiler/compile_error.h"

namespace mf::compiler::mlir_generator {

void add_loop_lowering(mlir::OpPassManager& pm) {
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createLoopInvariantCodeMotionPass());
  mlir::arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(mlir::arith::createArithExpandOpsPass(expand));
  pm.addPass(mlir::createSCFToControlFlowPass());
  pm.addPass(mlir::memref::createExpandStridedMetadataPass());
  pm.addPass(mlir::createLowerAffinePass());
}

void run_passes(mlir::PassManager& pm, mlir::ModuleOp module, const std::string& what) {
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(module.getContext(), [&](mlir::Diagnostic& diagnostic) {
    llvm::raw_string_ostream(diagnostics) << diagnostic << "\n";
    return mlir::success();
  });
  if (mlir::failed(pm.run(module))) throw CompileError(CompileError::Kind::kRejected, what + " failed: " + diagnostics);
}

}  // namespace mf::compiler::mlir_generator
