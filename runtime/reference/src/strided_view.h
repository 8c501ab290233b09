// Internal: typed, strided tensors addressed by logical indices, so that the operators
// read like their formulas (q(b, s, n, h, d)) whatever the dtype, strides or broadcast.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <cassert>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "mf/ir/error.h"
#include "mf/ir/tensor_desc.h"
#include "mf/reference/element.h"

namespace mf::reference::internal {

using Shape = std::vector<std::int64_t>;

enum class Broadcast : bool { kForbidden, kAllowed };

// Element offsets of a tensor addressed by indices into `logical_shape`. With broadcast
// allowed, a dimension of size 1 ignores its index (stride 0), so a bias [B, 1, H, N, N]
// can be read at every (b, s, h, q, k).
class StridedIndex {
 public:
  StridedIndex(std::string_view name, const ir::TensorDesc& desc, std::span<const std::int64_t> logical_shape,
               Broadcast broadcast) {
    if (desc.rank() != static_cast<int>(logical_shape.size()) || desc.rank() > ir::kMaxRank)
      ir::fail(ir::ErrorKind::kShapeMismatch, fmt::format("reference: {} {} does not have rank {}", name,
                                                          ir::to_string(desc), logical_shape.size()));
    rank_ = desc.rank();
    for (int d = 0; d < rank_; ++d) {
      const bool broadcasts = broadcast == Broadcast::kAllowed && desc.shape[d] == 1;
      if (!broadcasts && desc.shape[d] != logical_shape[d])
        ir::fail(ir::ErrorKind::kShapeMismatch,
                 fmt::format("reference: {} {} does not match the logical shape [{}]", name, ir::to_string(desc),
                             fmt::join(logical_shape, ",")));
      strides_[d] = broadcasts ? 0 : desc.strides[d];
    }
  }

  template <typename... Index>
  std::int64_t offset(Index... index) const {
    assert(static_cast<int>(sizeof...(Index)) == rank_);
    const std::array<std::int64_t, sizeof...(Index)> at{static_cast<std::int64_t>(index)...};
    std::int64_t result = 0;
    for (std::size_t d = 0; d < at.size(); ++d) result += at[d] * strides_[d];
    return result;
  }

 private:
  std::array<std::int64_t, ir::kMaxRank> strides_{};
  int rank_ = 0;
};

inline void require_data(std::string_view name, const ir::TensorDesc& desc, const void* base) {
  if (base == nullptr && desc.numel() != 0)
    throw std::invalid_argument(fmt::format("reference: {} has no data pointer", name));
}

// An input: reads elements as double. Size-1 dimensions broadcast.
class ConstView {
 public:
  ConstView(std::string_view name, const ir::TensorDesc& desc, const void* base, std::span<const std::int64_t> shape)
      : dtype_(desc.dtype), base_(base), index_(name, desc, shape, Broadcast::kAllowed) {
    require_data(name, desc, base);
  }

  template <typename... Index>
  double operator()(Index... index) const {
    return load(dtype_, base_, index_.offset(index...));
  }

 private:
  ir::DType dtype_;
  const void* base_;
  StridedIndex index_;
};

// An output: `view(i, j) = value` rounds the value to the tensor's dtype and stores it.
// The shape must equal the logical shape (no broadcast: every element is written once).
class View {
 public:
  class Element {
   public:
    Element(ir::DType dtype, void* base, std::int64_t offset) : dtype_(dtype), base_(base), offset_(offset) {}
    void operator=(double value) const { store(dtype_, base_, offset_, value); }

   private:
    ir::DType dtype_;
    void* base_;
    std::int64_t offset_;
  };

  View(std::string_view name, const ir::TensorDesc& desc, void* base, std::span<const std::int64_t> shape)
      : dtype_(desc.dtype), base_(base), index_(name, desc, shape, Broadcast::kForbidden) {
    require_data(name, desc, base);
  }

  template <typename... Index>
  Element operator()(Index... index) const {
    return Element(dtype_, base_, index_.offset(index...));
  }

 private:
  ir::DType dtype_;
  void* base_;
  StridedIndex index_;
};

inline std::optional<ConstView> optional_input(std::string_view name, const std::optional<ir::TensorDesc>& desc,
                                               const void* base, std::span<const std::int64_t> shape) {
  if (!desc) return std::nullopt;
  return ConstView(name, *desc, base, shape);
}

inline std::optional<View> optional_output(std::string_view name, const std::optional<ir::TensorDesc>& desc,
                                           void* base, std::span<const std::int64_t> shape) {
  if (!desc) return std::nullopt;
  return View(name, *desc, base, shape);
}

// An input the pass cannot run without (d_o, d_y); ir::validate rejects its absence.
inline ConstView required_input(std::string_view name, const std::optional<ir::TensorDesc>& desc,
                                const void* base, std::span<const std::int64_t> shape) {
  if (!desc) ir::fail(ir::ErrorKind::kInvalidArgument, fmt::format("reference: the backward needs {}", name));
  return ConstView(name, *desc, base, shape);
}

// The output of a gradient the direction asks for; asking for one without its tensor is
// a caller error (ir::validate rejects it).
inline std::optional<View> wanted_output(bool wanted, std::string_view name,
                                         const std::optional<ir::TensorDesc>& desc, void* base,
                                         std::span<const std::int64_t> shape) {
  if (!wanted) return std::nullopt;
  if (!desc)
    ir::fail(ir::ErrorKind::kInvalidArgument,
             fmt::format("reference: the direction asks for {} but the problem has no such tensor", name));
  return View(name, *desc, base, shape);
}

}  // namespace mf::reference::internal
