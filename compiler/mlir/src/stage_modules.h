// The module builders, one per operator, and what they share. One builder serves both
// targets: host programs (func.func stages) and GPU programs (gpu.func kernels in one
// gpu.module, kGpuModuleName).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <mlir/IR/BuiltinOps.h>
#include <mlir/IR/OwningOpRef.h>

#include "mf/compiler/mlir/gpu_program.h"
#include "mf/compiler/mlir/host_program.h"
#include "mf/ir/problem.h"
#include "stage_function.h"

namespace mf::compiler::mlir_generator {

struct StageModule {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::vector<HostStage> stages;
  mlir::FloatType compute;  // the arithmetic's type, and the workspace's element type
  std::int64_t workspace_elements = 0;  // of the compute type: the workspace the stages share
};

// The type a problem whose main tensors are `dtype` computes in: f64 for f64, else f32.
mlir::FloatType compute_type(mlir::MLIRContext& context, ir::DType dtype);

inline constexpr const char* kGpuModuleName = "mfjit_kernels";

// A module under construction: one stage function after another, all taking the
// problem's tensors and computing in one type.
class StageModuleBuilder {
 public:
  // compute_dtype: the dtype of the operator's main tensors (q or x).
  StageModuleBuilder(mlir::MLIRContext& context, const ir::Problem& problem, ir::DType compute_dtype,
                     StageTarget target);
  // Sets the workspace the stages share; before the first stage that uses it.
  void set_workspace_elements(std::int64_t elements) { module_.workspace_elements = elements; }
  // Appends the stage `name` of `iterations` iterations; its body is built through the
  // returned function's kernel().
  StageFunction stage(const std::string& name, std::int64_t iterations);
  StageModule finish() { return std::move(module_); }

 private:
  std::vector<ir::NamedTensor> tensors_;
  StageModule module_;
  StageTarget target_;
  mlir::Block* body_;  // where stages go: the module's body, or its gpu.module's
};

StageModule evo_attention_module(mlir::MLIRContext& context, const ir::Problem& problem, StageTarget target);
StageModule layer_norm_linear_module(mlir::MLIRContext& context, const ir::Problem& problem, StageTarget target);
StageModule transition_module(mlir::MLIRContext& context, const ir::Problem& problem, StageTarget target);

// The problem's module for `target`; callers first check that the target serves the
// problem (HostProgram::unsupported, gpu_unsupported).
StageModule build_stage_module(mlir::MLIRContext& context, const ir::Problem& problem, StageTarget target);

// The kernels and buffers of a built GPU module (its kernels' launch contract attributes),
// read before lowering drops them; assembly and binary empty.
GpuProgram gpu_layout(StageModule& built, const std::string& arch);

}  // namespace mf::compiler::mlir_generator
