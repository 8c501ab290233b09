#include "stage_function.h"

#include <stdexcept>

#include <mlir/Dialect/LLVMIR/LLVMDialect.h>

namespace mf::compiler::mlir_generator {

mlir::MemRefType argument_type(mlir::MLIRContext& context, const ir::TensorDesc& desc) {
  std::vector<std::int64_t> sizes(desc.shape.size(), mlir::ShapedType::kDynamic);
  // A unit stride is part of the problem (its key's stride class), so the program may
  // rely on it: contiguous inner loops then vectorise.
  std::vector<std::int64_t> strides;
  for (std::int64_t stride : desc.strides) strides.push_back(stride == 1 ? 1 : mlir::ShapedType::kDynamic);
  auto layout = mlir::StridedLayoutAttr::get(&context, /*offset=*/0, strides);
  return mlir::MemRefType::get(sizes, element_type(context, desc.dtype), layout);
}

namespace {

mlir::func::FuncOp declare(mlir::ImplicitLocOpBuilder& builder, const std::string& name,
                           const std::vector<ir::NamedTensor>& tensors, mlir::FloatType compute) {
  std::vector<mlir::Type> inputs;
  for (const auto& named : tensors) inputs.push_back(argument_type(*builder.getContext(), *named.desc));
  inputs.push_back(mlir::MemRefType::get({mlir::ShapedType::kDynamic}, compute));  // workspace
  inputs.push_back(builder.getIndexType());  // begin
  inputs.push_back(builder.getIndexType());  // end
  auto function = mlir::func::FuncOp::create(builder, name, builder.getFunctionType(inputs, {}));
  // The C interface takes each memref as a pointer to its descriptor, which the host
  // fills from a tensor's pointer, sizes and strides.
  function->setAttr(mlir::LLVM::LLVMDialect::getEmitCWrapperAttrName(), builder.getUnitAttr());
  mlir::Block* entry = function.addEntryBlock();
  builder.setInsertionPointToStart(entry);
  auto ret = mlir::func::ReturnOp::create(builder);
  builder.setInsertionPoint(ret);
  return function;
}

}  // namespace

StageFunction::StageFunction(mlir::ModuleOp module, const std::string& name,
                             const std::vector<ir::NamedTensor>& tensors, mlir::FloatType compute)
    : builder_(mlir::ImplicitLocOpBuilder::atBlockEnd(module.getLoc(), module.getBody())), kernel_(builder_, compute) {
  auto function = declare(builder_, name, tensors, compute);
  auto arguments = function.getArguments();
  for (std::size_t i = 0; i < tensors.size(); ++i)
    tensors_.emplace_back(std::string(tensors[i].name), Tensor{arguments[i], tensors[i].desc->dtype});
  workspace_ = {arguments[tensors.size()], compute.getWidth() == 64 ? ir::DType::kF64 : ir::DType::kF32};
  begin_ = arguments[tensors.size() + 1];
  end_ = arguments[tensors.size() + 2];
}

bool StageFunction::has(std::string_view tensor) const {
  for (const auto& [name, value] : tensors_)
    if (name == tensor) return true;
  return false;
}

Tensor StageFunction::tensor(std::string_view tensor) const {
  for (const auto& [name, value] : tensors_)
    if (name == tensor) return value;
  throw std::logic_error("the host generator asked for tensor " + std::string(tensor) + ", which this pass lacks");
}

}  // namespace mf::compiler::mlir_generator
