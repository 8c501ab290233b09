// The cuda backend's MLIR-generated kernels (compiler/mlir gpu_program.h): chosen instead
// of the template generator's with MFJIT_CUDA_GENERATOR=mlir (docs/c-api.md), so that the
// GPU tests and benchmarks can run them; the tuner does not choose between the two yet.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "backend.h"
#include "cuda_module.h"
#include "mf/compiler/binary_cache.h"

namespace mf::runtime {

// Whether MFJIT_CUDA_GENERATOR asks for the MLIR generator ("mlir"); "template" or unset
// keeps the template generator. Any other value is MF_ERROR_INVALID_ARGUMENT.
bool mlir_gpu_requested();
// Why the MLIR generator cannot serve `problem` on a GPU (not built in, f64), or nullopt.
std::optional<std::string> mlir_gpu_unsupported(const ir::Problem& problem);
// The GPU programs' version and LLVM, for tuning identity.
std::string mlir_gpu_version();
// Compiles (or takes from `cache`) and loads the problem's kernels for `arch`.
std::unique_ptr<Executable> build_mlir_gpu(const ir::Problem& problem, const std::string& arch,
                                           std::shared_ptr<const CudaPrimaryContext> context,
                                           const compiler::BinaryCache& cache);

}  // namespace mf::runtime
