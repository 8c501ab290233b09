#include "stage_function.h"

#include <algorithm>
#include <stdexcept>

#include <mlir/Dialect/Arith/IR/Arith.h>
#include <mlir/Dialect/GPU/IR/GPUDialect.h>
#include <mlir/Dialect/LLVMIR/LLVMDialect.h>
#include <mlir/Dialect/SCF/IR/SCF.h>

namespace mf::compiler::mlir_generator {

// 16384 threads fill an H100 or MI300 several times over with 128-thread blocks, while
// their scratch rows stay small (the EvoAttention forward's N + D values a thread: 27 MB
// at N = 384).
std::int64_t gpu_stage_threads(std::int64_t iterations) { return std::clamp<std::int64_t>(iterations, 1, 16384); }

mlir::MemRefType argument_type(mlir::MLIRContext& context, const ir::TensorDesc& desc, StageTarget target) {
  if (target == StageTarget::kGpu) {
    auto layout = mlir::StridedLayoutAttr::get(&context, /*offset=*/0, desc.strides);
    return mlir::MemRefType::get(desc.shape, element_type(context, desc.dtype), layout);
  }
  std::vector<std::int64_t> sizes(desc.shape.size(), mlir::ShapedType::kDynamic);
  // A unit stride is part of the problem (its key's stride class), so the program may
  // rely on it: contiguous inner loops then vectorise.
  std::vector<std::int64_t> strides;
  for (std::int64_t stride : desc.strides) strides.push_back(stride == 1 ? 1 : mlir::ShapedType::kDynamic);
  auto layout = mlir::StridedLayoutAttr::get(&context, /*offset=*/0, strides);
  return mlir::MemRefType::get(sizes, element_type(context, desc.dtype), layout);
}

namespace {

std::vector<mlir::Type> tensor_types(mlir::MLIRContext& context, const std::vector<ir::NamedTensor>& tensors,
                                     StageTarget target) {
  std::vector<mlir::Type> types;
  for (const auto& named : tensors) types.push_back(argument_type(context, *named.desc, target));
  return types;
}

// func.func @name(tensors..., workspace, begin, end), callable through its C interface.
mlir::func::FuncOp declare_host(mlir::ImplicitLocOpBuilder& builder, const std::string& name,
                                const std::vector<ir::NamedTensor>& tensors, mlir::FloatType compute) {
  std::vector<mlir::Type> inputs = tensor_types(*builder.getContext(), tensors, StageTarget::kHost);
  inputs.push_back(mlir::MemRefType::get({mlir::ShapedType::kDynamic}, compute));  // workspace
  inputs.push_back(builder.getIndexType());  // begin
  inputs.push_back(builder.getIndexType());  // end
  auto function = mlir::func::FuncOp::create(builder, name, builder.getFunctionType(inputs, {}));
  // The C interface takes each memref as a pointer to its descriptor, which the host
  // fills from a tensor's pointer, sizes and strides.
  function->setAttr(mlir::LLVM::LLVMDialect::getEmitCWrapperAttrName(), builder.getUnitAttr());
  builder.setInsertionPointToStart(function.addEntryBlock());
  auto ret = mlir::func::ReturnOp::create(builder);
  builder.setInsertionPoint(ret);
  return function;
}

// gpu.func @name(tensors..., workspace, arena) kernel, with its launch contract.
mlir::gpu::GPUFuncOp declare_gpu(mlir::ImplicitLocOpBuilder& builder, const std::string& name,
                                 const std::vector<ir::NamedTensor>& tensors, mlir::FloatType compute,
                                 std::int64_t iterations, std::int64_t workspace_elements) {
  std::vector<mlir::Type> inputs = tensor_types(*builder.getContext(), tensors, StageTarget::kGpu);
  inputs.push_back(mlir::MemRefType::get({std::max<std::int64_t>(workspace_elements, 1)}, compute));
  inputs.push_back(mlir::MemRefType::get({1}, compute));  // the scratch arena, reinterpreted
  auto function = mlir::gpu::GPUFuncOp::create(builder, name, builder.getFunctionType(inputs, {}));
  function->setAttr(mlir::gpu::GPUDialect::getKernelFuncAttrName(), builder.getUnitAttr());
  function.setKnownBlockSizeAttr(builder.getDenseI32ArrayAttr({kGpuBlockThreads, 1, 1}));
  function->setAttr(kIterationsAttr, builder.getI64IntegerAttr(iterations));
  function->setAttr(kThreadsAttr, builder.getI64IntegerAttr(gpu_stage_threads(iterations)));
  function->setAttr(kScratchAttr, builder.getI64IntegerAttr(0));
  builder.setInsertionPointToStart(&function.getBody().front());
  auto ret = mlir::gpu::ReturnOp::create(builder);
  builder.setInsertionPoint(ret);
  return function;
}

}  // namespace

StageFunction::StageFunction(mlir::Block* body, StageTarget target, const std::string& name,
                             const std::vector<ir::NamedTensor>& tensors, mlir::FloatType compute,
                             std::int64_t iterations, std::int64_t workspace_elements)
    : builder_(mlir::ImplicitLocOpBuilder::atBlockEnd(mlir::UnknownLoc::get(compute.getContext()), body)),
      kernel_(builder_, compute) {
  mlir::Block::BlockArgListType arguments;
  if (target == StageTarget::kGpu) {
    auto function = declare_gpu(builder_, name, tensors, compute, iterations, workspace_elements);
    arguments = function.getArguments();
    // Thread `slot` runs iterations slot, slot + threads, ...; threads past the last slot
    // of the final block do nothing.
    const std::int64_t threads = gpu_stage_threads(iterations);
    mlir::Value slot = mlir::gpu::GlobalIdOp::create(builder_, mlir::gpu::Dimension::x);
    auto active = mlir::arith::CmpIOp::create(builder_, mlir::arith::CmpIPredicate::ult, slot, kernel_.index(threads));
    auto guard = mlir::scf::IfOp::create(builder_, active, /*withElseRegion=*/false);
    builder_.setInsertionPoint(guard.thenBlock()->getTerminator());
    begin_ = slot;
    end_ = kernel_.index(iterations);
    step_ = kernel_.index(threads);
    kernel_.use_gpu_scratch(arguments[tensors.size() + 1], slot, threads, function);
  } else {
    auto function = declare_host(builder_, name, tensors, compute);
    arguments = function.getArguments();
    begin_ = arguments[tensors.size() + 1];
    end_ = arguments[tensors.size() + 2];
    step_ = kernel_.index(1);
  }
  for (std::size_t i = 0; i < tensors.size(); ++i)
    tensors_.emplace_back(std::string(tensors[i].name), Tensor{arguments[i], tensors[i].desc->dtype});
  workspace_ = {arguments[tensors.size()], compute.getWidth() == 64 ? ir::DType::kF64 : ir::DType::kF32};
}

void StageFunction::for_each_iteration(const KernelBuilder::Body& body) {
  auto loop = mlir::scf::ForOp::create(builder_, begin_, end_, step_);
  mlir::OpBuilder::InsertionGuard guard(builder_);
  builder_.setInsertionPoint(loop.getBody()->getTerminator());
  body(loop.getInductionVar());
}

bool StageFunction::has(std::string_view tensor) const {
  for (const auto& [name, value] : tensors_)
    if (name == tensor) return true;
  return false;
}

Tensor StageFunction::tensor(std::string_view tensor) const {
  for (const auto& [name, value] : tensors_)
    if (name == tensor) return value;
  throw std::logic_error("the MLIR generator asked for tensor " + std::string(tensor) + ", which this pass lacks");
}

}  // namespace mf::compiler::mlir_generator
