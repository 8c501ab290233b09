// The GPU path's kernels run on the host, for tests on machines without a GPU: each
// kernel of a GPU stage module becomes a host function that runs a range of the kernel's
// threads one after another. The kernels' threads never talk to each other (no shared
// memory, no barriers), so running them in turn computes what the GPU computes.
#pragma once

#include <mlir/IR/BuiltinOps.h>

namespace mf::compiler::mlir_generator {

// Rewrites every gpu.func kernel of `module` as func.func @name(kernel arguments...,
// begin, end), which runs threads [begin, end) with gpu.global_id x as the thread, and
// drops the gpu.module.
void emulate_gpu_kernels(mlir::ModuleOp module);

}  // namespace mf::compiler::mlir_generator
