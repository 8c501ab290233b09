// One stage of a host program as an MLIR function: one strided memref argument per
// tensor of the problem's tensor list (in its order), the program's workspace (values one
// stage leaves for a later one, in the compute type), then the range [begin, end) of the
// stage's outermost loop that this call runs. Threads split a stage by that range.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/BuiltinOps.h>

#include "kernel_builder.h"
#include "mf/ir/tensor_list.h"

namespace mf::compiler::mlir_generator {

class StageFunction {
 public:
  // Appends the function `name` to `module`; kernel() then builds into its body.
  StageFunction(mlir::ModuleOp module, const std::string& name, const std::vector<ir::NamedTensor>& tensors,
                mlir::FloatType compute);
  StageFunction(const StageFunction&) = delete;  // kernel() refers to this object's builder
  StageFunction& operator=(const StageFunction&) = delete;

  bool has(std::string_view tensor) const;
  // The argument of `tensor`; throws std::logic_error when the problem lacks it.
  Tensor tensor(std::string_view tensor) const;
  Tensor workspace() const { return workspace_; }
  mlir::Value begin() const { return begin_; }
  mlir::Value end() const { return end_; }
  KernelBuilder& kernel() { return kernel_; }

 private:
  mlir::ImplicitLocOpBuilder builder_;
  KernelBuilder kernel_;
  std::vector<std::pair<std::string, Tensor>> tensors_;
  Tensor workspace_;
  mlir::Value begin_, end_;
};

// The strided memref type of a tensor argument: rank of the descriptor, every size
// dynamic, unit strides static and the other strides dynamic.
mlir::MemRefType argument_type(mlir::MLIRContext& context, const ir::TensorDesc& desc);

}  // namespace mf::compiler::mlir_generator
