// Host memory for one strided tensor: what tests, tools and the tuner use to hand the
// reference backend (and, copied, the devices) real data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "mf/ir/tensor_desc.h"

namespace mf::reference {

class HostTensor {
 public:
  HostTensor() = default;
  // Zero-filled storage for every element the strides reach (max_offset() + 1).
  explicit HostTensor(ir::TensorDesc desc);

  const ir::TensorDesc& desc() const { return desc_; }
  void* data() { return storage_.data(); }
  const void* data() const { return storage_.data(); }
  std::size_t bytes() const { return storage_.size(); }

  // The logical element at `index` (one entry per dimension), as double.
  double get(std::span<const std::int64_t> index) const;
  void set(std::span<const std::int64_t> index, double value);

  // Every storage element (reachable or not) uniform in [lo, hi), rounded to the dtype.
  // kBool tensors take 1 with probability `hi` instead (lo is ignored).
  void fill_uniform(std::uint64_t seed, double lo, double hi);
  // Every byte of storage set so that floating elements read as NaN (bool as 0xAB), to
  // prove that a kernel writes every output element.
  void poison();

  // All logical elements in row-major logical order, as double.
  std::vector<double> values() const;

 private:
  std::int64_t offset_of(std::span<const std::int64_t> index) const;

  ir::TensorDesc desc_;
  std::vector<std::byte> storage_;
};

// ‖out − ref‖₂ / ‖ref‖₂ over the logical elements (shapes must match); 0 when both are
// zero. Non-finite elements: a NaN in out or in ref (even in both) gives +infinity, so NaN
// never passes; the same infinity in both (+∞ and +∞, or −∞ and −∞) is equal and adds
// nothing; any other infinity in either gives +infinity.
double relative_error(const HostTensor& out, const HostTensor& ref);
double relative_error(std::span<const double> out, std::span<const double> ref);

// How far a computed result is from the exact one: relative_error, except where the exact
// result is zero (a gradient that vanishes in exact arithmetic, e.g. dS at N = 1), whose
// relative error does not exist: then the largest absolute element of `out` (NaN: +inf).
double result_error(const HostTensor& out, const HostTensor& ref);
// The same against the exact result's values (values() of the reference), read once by a
// caller that compares many results with one reference.
double result_error(const HostTensor& out, std::span<const double> exact);

// The largest relative_error a result in `dtype` may have (DESIGN.md §1.4): bf16 1e-2,
// f16 2e-3, f32 1e-5, f64 1e-12; 0 for bool.
double tolerance(ir::DType dtype);

}  // namespace mf::reference
