// Row-level pieces the LayerNormLinear and Transition kernels share: a row times a matrix
// in the loop order that suits the matrix's layout, and a row's LayerNorm statistics.
#pragma once

#include <functional>
#include <utility>

#include "kernel_builder.h"
#include "mf/ir/tensor_desc.h"

namespace mf::compiler::mlir_generator {

using Row = std::function<mlir::Value(mlir::Value)>;
using Matrix = std::function<mlir::Value(mlir::Value, mlir::Value)>;
using Emit = std::function<void(mlir::Value, mlir::Value)>;

// out[j] = Σ_{i < I} row(i)·matrix(i, j) for j < J, handed to emit(j, out[j]). With
// `j_contiguous` (the matrix is unit-stride along j) the loops run i outer and j inner
// over a scratch accumulator, so the innermost loop walks memory in order; otherwise
// each out[j] is a dot product over i.
void row_times_matrix(KernelBuilder& k, mlir::Value I, mlir::Value J, const Row& row, const Matrix& matrix,
                      bool j_contiguous, const Emit& emit);

// Whether `dimension` of `desc` has unit stride (decides loop orders, never correctness).
bool unit_stride(const ir::TensorDesc& desc, int dimension);

// mean and rstd = 1/sqrt(var + eps) of row m of x [M, K], in two passes.
std::pair<mlir::Value, mlir::Value> row_statistics(KernelBuilder& k, const Tensor& x, mlir::Value m, double eps);

}  // namespace mf::compiler::mlir_generator
