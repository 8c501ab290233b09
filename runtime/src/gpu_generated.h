// The GPU backends' MLIR-generated kernels (compiler/mlir gpu_program.h: a cubin for cuda,
// an AMDGPU code object for hip), offered beside the template generator's, for the tuner to
// choose between; MFJIT_CUDA_GENERATOR narrows
// the offer to one of them (docs/c-api.md), so that GPU tests and benchmarks can run each.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "backend.h"
#include "gpu_device.h"
#include "mf/compiler/binary_cache.h"

namespace mf::runtime {

// Which generators MFJIT_CUDA_GENERATOR lets the GPU backends (cuda and hip) offer: unset or empty both
// (the template generator first), "template" or "mlir" that one alone. Any other value is
// MF_ERROR_INVALID_ARGUMENT.
struct GpuGenerators {
  bool template_generator = true;
  bool mlir = true;
};
GpuGenerators gpu_generators_requested();
// Why the MLIR generator cannot serve `problem` on a GPU (not built in, f64), or nullopt.
std::optional<std::string> mlir_gpu_unsupported(const ir::Problem& problem);
// The GPU programs' version and LLVM, for tuning identity.
std::string mlir_gpu_version();
// Compiles (or takes from `cache`) and loads the problem's kernels for `arch`.
std::unique_ptr<Executable> build_mlir_gpu(const ir::Problem& problem, const std::string& arch,
                                           std::shared_ptr<const GpuDevice> device,
                                           const compiler::BinaryCache& cache);

}  // namespace mf::runtime
