// A strided view of device or host memory: dtype, logical shape, element strides.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mf/ir/dtype.h"

namespace mf::ir {

inline constexpr int kMaxRank = 8;

struct TensorDesc {
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> strides;  // in elements; 0 broadcasts the dimension

  // Row-major strides for `shape`.
  static TensorDesc contiguous(DType dtype, std::vector<std::int64_t> shape);

  int rank() const { return static_cast<int>(shape.size()); }
  // Number of logical elements; throws ErrorKind::kOverflow past int64.
  std::int64_t numel() const;
  // Largest element offset reachable from the base pointer (0 for an empty tensor);
  // throws ErrorKind::kOverflow past int64.
  std::int64_t max_offset() const;
  // The view with dimensions reordered: result.shape[i] = shape[perm[i]].
  TensorDesc permuted(const std::vector<int>& perm) const;
  // True when no two logical elements share memory (required of outputs).
  bool is_non_overlapping() const;
  // A dimension is broadcast when it has size 1 or stride 0.
  bool is_broadcast_dim(int dim) const { return shape[dim] == 1 || strides[dim] == 0; }

  friend bool operator==(const TensorDesc&, const TensorDesc&) = default;
};

// "bf16[2,3]{3,1}" — for messages and logs.
std::string to_string(const TensorDesc& desc);

}  // namespace mf::ir
