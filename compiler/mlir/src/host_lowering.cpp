#include "host_lowering.h"

#include <mlir/Conversion/Passes.h>
#include <mlir/Pass/PassManager.h>

#include "pass_pipeline.h"

namespace mf::compiler::mlir_generator {

void lower_to_llvm(mlir::ModuleOp module) {
  mlir::PassManager pm(module.getContext());
  add_loop_lowering(pm);
  pm.addPass(mlir::createConvertMathToLLVMPass());
  pm.addPass(mlir::createArithToLLVMConversionPass());
  pm.addPass(mlir::createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(mlir::createConvertControlFlowToLLVMPass());
  pm.addPass(mlir::createConvertFuncToLLVMPass());
  pm.addPass(mlir::createReconcileUnrealizedCastsPass());
  run_passes(pm, module, "lowering the host module to LLVM");
}

}  // namespace mf::compiler::mlir_generator
