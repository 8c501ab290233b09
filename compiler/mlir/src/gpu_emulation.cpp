#include "gpu_emulation.h"

#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/Dialect/GPU/IR/GPUDialect.h>
#include <mlir/Dialect/LLVMIR/LLVMDialect.h>
#include <mlir/Dialect/SCF/IR/SCF.h>
#include <mlir/IR/ImplicitLocOpBuilder.h>


namespace mf::compiler::mlir_generator {
namespace {

// The host function that runs threads [begin, end) of `kernel`.
void emulate(mlir::gpu::GPUFuncOp kernel, mlir::ModuleOp module) {
  auto builder = mlir::ImplicitLocOpBuilder::atBlockEnd(kernel.getLoc(), module.getBody());
  std::vector<mlir::Type> inputs(kernel.getArgumentTypes().begin(), kernel.getArgumentTypes().end());
  inputs.push_back(builder.getIndexType());  // begin
  inputs.push_back(builder.getIndexType());  // end
  auto function = mlir::func::FuncOp::create(builder, kernel.getName(), builder.getFunctionType(inputs, {}));
  function->setAttr(mlir::LLVM::LLVMDialect::getEmitCWrapperAttrName(), builder.getUnitAttr());
  mlir::Block* entry = function.addEntryBlock();
  builder.setInsertionPointToStart(entry);
  const unsigned count = kernel.getNumArguments();
  auto threads = mlir::scf::ForOp::create(builder, entry->getArgument(count), entry->getArgument(count + 1),
                                          mlir::arith::ConstantIndexOp::create(builder, 1));
  mlir::func::ReturnOp::create(builder);

  mlir::Block& body = kernel.getBody().front();
  for (unsigned a = 0; a < count; ++a) body.getArgument(a).replaceAllUsesWith(entry->getArgument(a));
  kernel.walk([&](mlir::gpu::GlobalIdOp id) {
    id.replaceAllUsesWith(threads.getInductionVar());
    id.erase();
  });
  body.getTerminator()->erase();  // gpu.return
  mlir::Block* loop = threads.getBody();
  loop->getOperations().splice(loop->getTerminator()->getIterator(), body.getOperations());
}

}  // namespace

void emulate_gpu_kernels(mlir::ModuleOp module) {
  std::vector<mlir::gpu::GPUModuleOp> kernel_modules;
  module.walk([&](mlir::gpu::GPUModuleOp kernels) { kernel_modules.push_back(kernels); });
  for (mlir::gpu::GPUModuleOp kernels : kernel_modules) {
    std::vector<mlir::gpu::GPUFuncOp> functions;
    kernels.walk([&](mlir::gpu::GPUFuncOp kernel) { functions.push_back(kernel); });
    for (mlir::gpu::GPUFuncOp kernel : functions) emulate(kernel, module);
    kernels.erase();
  }
  module->removeAttr(mlir::gpu::GPUDialect::getContainerModuleAttrName());
}

}  // namespace mf::compiler::mlir_generator
