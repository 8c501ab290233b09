// The GPU path's kernels run on the host, for tests on machines without a GPU: each
// kernel of a GPU stage module becomes a host function that runs a range of the kernel's
// threads one after another. The kernels' threads never talk to each other (no shared
// memory, no barriers), so running them in turn computes what the GPU computes.
#pragma once

#include <vector>

#include <mlir/IR/BuiltinOps.h>

#include "mf/compiler/mlir/host_program.h"

namespace mf::compiler::mlir_generator {

// Rewrites every gpu.func kernel of `module` as func.func @name(kernel arguments...,
// begin, end), which runs threads [begin, end) with gpu.global_id x as the thread, and
// drops the gpu.module. Returns one stage per kernel whose iterations are the threads the
// kernel is launched with (grid × block).
std::vector<HostStage> emulate_gpu_kernels(mlir::ModuleOp module);

}  // namespace mf::compiler::mlir_generator
