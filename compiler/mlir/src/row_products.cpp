#include "row_products.h"

namespace mf::compiler::mlir_generator {

using mlir::Value;

void row_times_matrix(KernelBuilder& k, Value I, Value J, const Row& row, const Matrix& matrix, bool j_contiguous,
                      const Emit& emit) {
  Value zero = k.index(0);
  if (!j_contiguous) {
    k.loop(zero, J, [&](Value j) { emit(j, k.sum(zero, I, [&](Value i) { return k.mul(row(i), matrix(i, j)); })); });
    return;
  }
  Tensor accumulator = k.scratch(J);
  k.loop(zero, J, [&](Value j) { k.store(accumulator, {j}, k.real(0.0)); });
  k.loop(zero, I, [&](Value i) {
    Value r = row(i);
    k.loop(zero, J, [&](Value j) {
      k.store(accumulator, {j}, k.add(k.load(accumulator, {j}), k.mul(r, matrix(i, j))));
    });
  });
  k.loop(zero, J, [&](Value j) { emit(j, k.load(accumulator, {j})); });
  k.release(accumulator);
}

bool unit_stride(const ir::TensorDesc& desc, int dimension) { return desc.strides[dimension] == 1; }

std::pair<Value, Value> row_statistics(KernelBuilder& k, const Tensor& x, Value m, double eps) {
  Value zero = k.index(0), features = k.size(x, 1);
  Value count = k.to_real(features);
  Value mean = k.div(k.sum(zero, features, [&](Value i) { return k.load(x, {m, i}); }), count);
  Value variance = k.div(k.sum(zero, features,
                               [&](Value i) {
                                 Value centred = k.sub(k.load(x, {m, i}), mean);
                                 return k.mul(centred, centred);
                               }),
                         count);
  return {mean, k.rsqrt(k.add(variance, k.real(eps)))};
}

}  // namespace mf::compiler::mlir_generator
