// The module builders of the host path, one per operator, and what they share.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/OwningOpRef.h>

#include "mf/compiler/mlir/host_program.h"
#include "mf/ir/problem.h"
#include "stage_function.h"

namespace mf::compiler::mlir_generator {

struct HostModule {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::vector<HostStage> stages;
  mlir::FloatType compute;  // the arithmetic's type, and the workspace's element type
  std::int64_t workspace_elements = 0;  // of the compute type: the workspace the stages share
};

// The type a problem whose main tensors are `dtype` computes in: f64 for f64, else f32.
mlir::FloatType compute_type(mlir::MLIRContext& context, ir::DType dtype);

// A host module under construction: one stage function after another, all taking the
// problem's tensors and computing in one type.
class HostModuleBuilder {
 public:
  // compute_dtype: the dtype of the operator's main tensors (q or x).
  HostModuleBuilder(mlir::MLIRContext& context, const ir::Problem& problem, ir::DType compute_dtype);
  // Appends the stage `name` of `iterations` iterations; its body is built through the
  // returned function's kernel().
  StageFunction stage(const std::string& name, std::int64_t iterations);
  void set_workspace_elements(std::int64_t elements) { module_.workspace_elements = elements; }
  HostModule finish() { return std::move(module_); }

 private:
  std::vector<ir::NamedTensor> tensors_;
  HostModule module_;
};

HostModule evo_attention_module(mlir::MLIRContext& context, const ir::Problem& problem);
HostModule layer_norm_linear_module(mlir::MLIRContext& context, const ir::Problem& problem);
HostModule transition_module(mlir::MLIRContext& context, const ir::Problem& problem);

}  // namespace mf::compiler::mlir_generator
