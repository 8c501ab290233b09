// The module builders of the host path, one per operator, and what they share.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/OwningOpRef.h>

#include "mf/compiler/mlir/host_program.h"
#include "mf/ir/problem.h"

namespace mf::compiler::mlir_generator {

struct HostModule {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::vector<HostStage> stages;
  mlir::FloatType compute;  // the arithmetic's type, and the workspace's element type
  std::int64_t workspace_elements = 0;  // of the compute type: the workspace the stages share
};

// The type a problem whose main tensors are `dtype` computes in: f64 for f64, else f32.
mlir::FloatType compute_type(mlir::MLIRContext& context, ir::DType dtype);

std::optional<std::string> evo_attention_unsupported(const ir::Problem& problem);
HostModule evo_attention_module(mlir::MLIRContext& context, const ir::Problem& problem);
std::optional<std::string> layer_norm_linear_unsupported(const ir::Problem& problem);
HostModule layer_norm_linear_module(mlir::MLIRContext& context, const ir::Problem& problem);
std::optional<std::string> transition_unsupported(const ir::Problem& problem);
HostModule transition_module(mlir::MLIRContext& context, const ir::Problem& problem);

}  // namespace mf::compiler::mlir_generator
