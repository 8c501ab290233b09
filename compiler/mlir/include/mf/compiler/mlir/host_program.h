// The MLIR generator's host path: a problem built as an MLIR module (func, scf, arith,
// math, memref with strided layouts), lowered to LLVM and compiled in process by MLIR's
// ExecutionEngine. The cpu backend runs these programs; this header carries no MLIR type,
// so its users compile without MLIR's headers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mf/ir/problem.h"

namespace mf::compiler::mlir_generator {

// One generated function of a program. It runs iterations [begin, end) of its outermost
// loop, whose iterations are independent, so callers split it across threads; each
// iteration writes its own outputs and sums in a fixed order, so results do not depend
// on the split. Stages run in order.
struct HostStage {
  std::string function;
  std::int64_t iterations = 0;
};

class HostProgram {
 public:
  ~HostProgram();
  HostProgram(const HostProgram&) = delete;
  HostProgram& operator=(const HostProgram&) = delete;

  // Why the host generator cannot serve `problem`, or nullopt when it can.
  static std::optional<std::string> unsupported(const ir::Problem& problem);
  // The problem's module before lowering, as MLIR text (for mf-compile and tests).
  static std::string module_text(const ir::Problem& problem);
  // The same module lowered to MLIR's LLVM dialect: what the ExecutionEngine compiles.
  static std::string lowered_text(const ir::Problem& problem);
  // Builds, lowers and compiles the problem, which must have passed ir::validate. Throws
  // ir::Error (kUnsupported) for what unsupported() names, CompileError when lowering or
  // compiling fails.
  static std::unique_ptr<HostProgram> compile(const ir::Problem& problem);
  // The GPU path's kernels (gpu_program.h) compiled for the host instead, so that their
  // logic is tested on machines without a GPU: stage i runs kernel i, its iterations are
  // the threads the kernel is launched with, and run() runs threads [begin, end) in turn.
  // The workspace holds the kernels' workspace and then their scratch arena. Throws like
  // compile(), and ir::Error (kUnsupported) for what gpu_unsupported() names.
  static std::unique_ptr<HostProgram> compile_gpu_kernels(const ir::Problem& problem);
  // What results are keyed by: the generator's version and the LLVM it compiles with.
  static std::string version();

  const std::vector<HostStage>& stages() const;
  // Bytes of the workspace every run of this program's stages shares (partial sums one
  // stage leaves for the next); 0 when it needs none.
  std::size_t workspace_bytes() const;
  // Runs stage `stage` over [begin, end). `tensors` are the data pointers of
  // ir::tensor_list(problem), in its order; the sizes and strides are the problem's.
  // `workspace` holds workspace_bytes(), 8-byte aligned. Safe to call from several threads
  // at once.
  void run(std::size_t stage, std::span<void* const> tensors, void* workspace, std::int64_t begin,
           std::int64_t end) const;

  struct State;  // defined in host_program.cpp

 private:
  explicit HostProgram(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace mf::compiler::mlir_generator
