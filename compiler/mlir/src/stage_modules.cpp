#include "stage_modules.h"

#include <mlir/Dialect/GPU/IR/GPUDialect.h>

#include "mf/ir/tensor_list.h"

namespace mf::compiler::mlir_generator {

mlir::FloatType compute_type(mlir::MLIRContext& context, ir::DType dtype) {
  mlir::Builder b(&context);
  return dtype == ir::DType::kF64 ? mlir::FloatType(b.getF64Type()) : mlir::FloatType(b.getF32Type());
}

StageModuleBuilder::StageModuleBuilder(mlir::MLIRContext& context, const ir::Problem& problem,
                                       ir::DType compute_dtype, StageTarget target)
    : tensors_(ir::tensor_list(problem)),
      module_{mlir::ModuleOp::create(mlir::UnknownLoc::get(&context)), {}, compute_type(context, compute_dtype), 0},
      target_(target),
      body_(module_.module->getBody()) {
  if (target_ == StageTarget::kGpu) {
    mlir::ModuleOp module = *module_.module;
    module->setAttr(mlir::gpu::GPUDialect::getContainerModuleAttrName(), mlir::UnitAttr::get(&context));
    auto builder = mlir::ImplicitLocOpBuilder::atBlockEnd(module.getLoc(), module.getBody());
    body_ = mlir::gpu::GPUModuleOp::create(builder, kGpuModuleName).getBody();
  }
}

StageFunction StageModuleBuilder::stage(const std::string& name, std::int64_t iterations) {
  module_.stages.push_back({name, iterations});
  return StageFunction(body_, target_, name, tensors_, module_.compute, iterations, module_.workspace_elements);
}

StageModule build_stage_module(mlir::MLIRContext& context, const ir::Problem& problem, StageTarget target) {
  return std::visit(
      [&](const auto& op) {
        using Op = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<Op, ir::EvoAttention>) return evo_attention_module(context, problem, target);
        if constexpr (std::is_same_v<Op, ir::LayerNormLinear>)
          return layer_norm_linear_module(context, problem, target);
        if constexpr (std::is_same_v<Op, ir::Transition>) return transition_module(context, problem, target);
      },
      problem.op);
}

}  // namespace mf::compiler::mlir_generator
