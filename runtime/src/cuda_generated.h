// The cuda backend's MLIR-generated kernels (compiler/mlir gpu_program.h): offered beside
// the template generator's, for the tuner to choose between; MFJIT_CUDA_GENERATOR narrows
// the offer to one of them (docs/c-api.md), so that GPU tests and benchmarks can run each.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "backend.h"
#include "cuda_module.h"
#include "mf/compiler/binary_cache.h"

namespace mf::runtime {

// Which generators MFJIT_CUDA_GENERATOR lets the cuda backend offer: unset or empty both
// (the template generator first), "template" or "mlir" that one alone. Any other value is
// MF_ERROR_INVALID_ARGUMENT.
struct CudaGenerators {
  bool template_generator = true;
  bool mlir = true;
};
CudaGenerators cuda_generators_requested();
// Why the MLIR generator cannot serve `problem` on a GPU (not built in, f64), or nullopt.
std::optional<std::string> mlir_gpu_unsupported(const ir::Problem& problem);
// The GPU programs' version and LLVM, for tuning identity.
std::string mlir_gpu_version();
// Compiles (or takes from `cache`) and loads the problem's kernels for `arch`.
std::unique_ptr<Executable> build_mlir_gpu(const ir::Problem& problem, const std::string& arch,
                                           std::shared_ptr<const CudaPrimaryContext> context,
                                           const compiler::BinaryCache& cache);

}  // namespace mf::runtime
