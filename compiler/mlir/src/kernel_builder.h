// The few primitives host kernels are written in: typed loads and stores that convert to
// and from the compute type, counted loops and sums (scf.for), scratch rows, arithmetic.
// With them a generated kernel reads like the operator's math.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <mlir/IR/Builders.h>
#include <mlir/IR/ImplicitLocOpBuilder.h>

#include "mf/ir/dtype.h"

namespace mf::compiler::mlir_generator {

// The attribute of a GPU kernel that gives the scratch elements each of its threads uses.
inline constexpr const char* kScratchAttr = "mf.scratch_elements_per_thread";

// A tensor argument of a generated function: a strided memref and the IR dtype of its
// elements.
struct Tensor {
  mlir::Value memref;
  ir::DType dtype;
};

class KernelBuilder {
 public:
  using Body = std::function<void(mlir::Value index)>;
  using Term = std::function<mlir::Value(mlir::Value index)>;

  // compute: the floating type arithmetic happens in (f32, or f64 for f64 problems).
  KernelBuilder(mlir::ImplicitLocOpBuilder& builder, mlir::FloatType compute);

  mlir::ImplicitLocOpBuilder& builder() { return b_; }
  mlir::FloatType compute() const { return compute_; }

  mlir::Value index(std::int64_t value);
  mlir::Value real(double value);                        // a compute-type constant
  mlir::Value size(const Tensor& tensor, int dimension);  // as an index; constant when static
  mlir::Value to_real(mlir::Value index);                 // index → compute type

  // Element loads convert to the compute type; stores convert from it. A boolean (i8)
  // element loads as 1.0 for nonzero, else 0.0.
  mlir::Value load(const Tensor& tensor, mlir::ValueRange indices);
  // Whether the (boolean) element is nonzero, as an i1.
  mlir::Value is_set(const Tensor& tensor, mlir::ValueRange indices);
  void store(const Tensor& tensor, mlir::ValueRange indices, mlir::Value value);

  // for i in [begin, end): body(i)
  void loop(mlir::Value begin, mlir::Value end, const Body& body);
  // Σ_{i in [begin, end)} term(i), accumulated in order in the compute type.
  mlir::Value sum(mlir::Value begin, mlir::Value end, const Term& term);
  // Several such sums over one loop: terms(i) returns one term per sum.
  std::vector<mlir::Value> sums(mlir::Value begin, mlir::Value end, std::size_t count,
                                const std::function<std::vector<mlir::Value>(mlir::Value index)>& terms);
  // max_{i in [begin, end)} term(i); −∞ for an empty range.
  mlir::Value maximum(mlir::Value begin, mlir::Value end, const Term& term);

  // A row of `length` compute-type elements, for values reused across a loop; free it
  // with release() after its last use. On the host it lives on the heap; in a GPU kernel
  // (after use_gpu_scratch) it is the thread's slice of the scratch arena, and `length`
  // must fold to a constant.
  Tensor scratch(mlir::Value length);
  void release(const Tensor& scratch);

  // GPU kernels take scratch rows from `arena` (a 1-element memref the kernel receives as a
  // bare pointer): element e of the thread's rows lies at slot + e·threads, so that the
  // threads of a warp touch consecutive addresses.
  // The kernel `function` records the elements per thread in its kScratchAttr.
  void use_gpu_scratch(mlir::Value arena, mlir::Value slot, std::int64_t threads, mlir::Operation* function);

  mlir::Value add(mlir::Value a, mlir::Value b);
  mlir::Value sub(mlir::Value a, mlir::Value b);
  mlir::Value mul(mlir::Value a, mlir::Value b);
  mlir::Value div(mlir::Value a, mlir::Value b);
  mlir::Value rsqrt(mlir::Value a);
  mlir::Value exp(mlir::Value a);
  mlir::Value log(mlir::Value a);
  mlir::Value infinity();                             // +∞ in the compute type
  mlir::Value greater(mlir::Value a, mlir::Value b);  // a > b (ordered), as an i1
  mlir::Value select(mlir::Value condition, mlir::Value if_true, mlir::Value if_false);
  // Index arithmetic folds constants (GPU kernels have static shapes, so their scratch
  // lengths fold to constants).
  mlir::Value index_rem(mlir::Value a, mlir::Value b);  // a ≥ 0, b > 0
  mlir::Value index_add(mlir::Value a, mlir::Value b);
  mlir::Value index_mul(mlir::Value a, mlir::Value b);
  mlir::Value index_div(mlir::Value a, mlir::Value b);  // a ≥ 0, b > 0

 private:
  mlir::ImplicitLocOpBuilder& b_;
  mlir::FloatType compute_;
  mlir::Value gpu_arena_, gpu_slot_;  // null on the host
  mlir::Operation* gpu_function_ = nullptr;
  std::int64_t gpu_threads_ = 0, gpu_scratch_used_ = 0;
};

// The MLIR element type that stores `dtype` (bool as i8).
mlir::Type element_type(mlir::MLIRContext& context, ir::DType dtype);

}  // namespace mf::compiler::mlir_generator
