// One stage of a program as an MLIR function: one strided memref argument per tensor of
// the problem's tensor list (in its order), then the program's workspace (values one stage
// leaves for a later one, in the compute type).
// - Host: a func.func whose last two arguments are the range [begin, end) of the stage's
//   iterations that this call runs; threads split a stage by that range.
// - GPU: a gpu.func kernel of static shapes and strides (the problem's own), taking every
//   memref as a bare pointer and the scratch arena last; each of its `threads` threads runs
//   iterations slot, slot + threads, ... The kernel carries its launch contract as
//   attributes (kIterationsAttr, kThreadsAttr, kScratchAttr).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <mlir/Dialect/Func/IR/FuncOps.h>
#include <mlir/IR/BuiltinOps.h>

#include "kernel_builder.h"
#include "mf/ir/tensor_list.h"

namespace mf::compiler::mlir_generator {

enum class StageTarget { kHost, kGpu };

inline constexpr const char* kIterationsAttr = "mf.iterations";
inline constexpr const char* kThreadsAttr = "mf.threads";

// Threads a block of a GPU stage runs.
inline constexpr std::int32_t kGpuBlockThreads = 128;

// Threads of a GPU stage of `iterations` iterations: one per iteration up to a cap that
// keeps the scratch arena (threads × a stage's scratch row lengths) small.
std::int64_t gpu_stage_threads(std::int64_t iterations);

class StageFunction {
 public:
  // Appends the function `name` to `body` (a module's, or a gpu.module's for kGpu);
  // kernel() then builds into it. `workspace_elements` sizes a GPU kernel's workspace.
  StageFunction(mlir::Block* body, StageTarget target, const std::string& name,
                const std::vector<ir::NamedTensor>& tensors, mlir::FloatType compute, std::int64_t iterations,
                std::int64_t workspace_elements);
  StageFunction(const StageFunction&) = delete;  // kernel() refers to this object's builder
  StageFunction& operator=(const StageFunction&) = delete;

  bool has(std::string_view tensor) const;
  // The argument of `tensor`; throws std::logic_error when the problem lacks it.
  Tensor tensor(std::string_view tensor) const;
  Tensor workspace() const { return workspace_; }
  KernelBuilder& kernel() { return kernel_; }
  // for each iteration i of this call's share of the stage: body(i)
  void for_each_iteration(const KernelBuilder::Body& body);

 private:
  mlir::ImplicitLocOpBuilder builder_;
  KernelBuilder kernel_;
  std::vector<std::pair<std::string, Tensor>> tensors_;
  Tensor workspace_;
  mlir::Value begin_, end_, step_;
};

// The strided memref type of a tensor argument. Host: every size dynamic, unit strides
// static and the other strides dynamic. GPU: the tensor's own sizes and strides.
mlir::MemRefType argument_type(mlir::MLIRContext& context, const ir::TensorDesc& desc, StageTarget target);

}  // namespace mf::compiler::mlir_generator
