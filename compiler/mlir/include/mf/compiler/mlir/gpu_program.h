// The MLIR generator's GPU path: the stages of a problem's program (the same builders as
// the host path, see host_program.h) as gpu.func kernels of the problem's static shapes and
// strides, lowered through the NVVM or ROCDL dialects to PTX or AMDGCN and linked into a
// cubin (nvJitLink) or an HSACO (ld.lld). This header carries no MLIR type.
//
// Kernel contract: stage kernels run in order on one stream. Kernel i takes, as bare
// device pointers, the data pointers of ir::tensor_list(problem) in its order, then the
// program's workspace (workspace_elements() values of the compute type), then the scratch
// arena (scratch_elements() values); it runs `grid` blocks of `block` threads, no dynamic
// shared memory.
//
// Version 1 runs each stage iteration (a row, a slice group, a feature) on one thread with
// its scratch rows in the arena: correct for every problem the GPU path serves, but not
// tiled and without tensor cores (bench/notes/mlir_generator.md says what comes next).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mf/ir/problem.h"

namespace mf::compiler::mlir_generator {

struct GpuKernel {
  std::string name;
  std::int64_t iterations = 0;  // of the stage
  std::int64_t threads = 0;     // that run them: thread t runs t, t + threads, ...
  std::int64_t block = 0;       // threads per block
  std::int64_t grid = 0;        // blocks
  std::int64_t scratch_elements_per_thread = 0;
};

struct GpuProgram {
  std::string arch;              // "sm_90a", "sm_80", "gfx942", "gfx90a"
  std::string assembly;          // PTX, or AMDGCN assembly
  std::vector<char> binary;      // the cubin or the HSACO
  std::string link_log;          // nvJitLink's ptxas report (NVIDIA); "" for AMD
  std::vector<GpuKernel> kernels;  // in stage order
  std::int64_t workspace_elements = 0;  // of the compute type
  std::int64_t scratch_elements = 0;    // of the compute type: the largest stage's arena
  std::size_t element_bytes = 4;        // of the compute type (f32)

  // The one device buffer a launcher passes: the workspace (at least one value), then the
  // scratch arena from arena_offset(), 256-byte aligned.
  std::size_t arena_offset() const;
  std::size_t workspace_bytes() const;
};

// Why the GPU path cannot serve `problem` (f64 problems: GPUs run the f32 path and the
// host serves f64), or nullopt when it can.
std::optional<std::string> gpu_unsupported(const ir::Problem& problem);
// The problem's GPU module before lowering, as MLIR text.
std::string gpu_module_text(const ir::Problem& problem);
// The module lowered to the LLVM dialect for `arch` (NVVM for sm_*, ROCDL for gfx*).
std::string gpu_lowered_text(const ir::Problem& problem, const std::string& arch);
// The program's kernels and buffers without compiling it (assembly and binary empty):
// what a launcher needs besides a binary it has cached.
GpuProgram gpu_program_layout(const ir::Problem& problem, const std::string& arch);
// What results of GPU programs are keyed by: the generator's sources and its LLVM.
std::string gpu_program_version();
// Builds, lowers, compiles and links the problem's kernels for `arch`. The problem must
// have passed ir::validate. Throws ir::Error (kUnsupported) for what gpu_unsupported names
// and for an unknown arch, CompileError when lowering, code generation or linking fails
// or its tool (nvJitLink, ld.lld) is missing.
GpuProgram compile_gpu_program(const ir::Problem& problem, const std::string& arch);

}  // namespace mf::compiler::mlir_generator
