#include "mf/ir/tensor_desc.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <numeric>

#include "mf/ir/error.h"

namespace mf::ir {
namespace {

std::int64_t checked_mul(std::int64_t a, std::int64_t b, const TensorDesc& desc) {
  std::int64_t result = 0;
  if (__builtin_mul_overflow(a, b, &result))
    fail(ErrorKind::kOverflow, fmt::format("{}: element count or offset overflows int64", to_string(desc)));
  return result;
}

std::int64_t checked_add(std::int64_t a, std::int64_t b, const TensorDesc& desc) {
  std::int64_t result = 0;
  if (__builtin_add_overflow(a, b, &result))
    fail(ErrorKind::kOverflow, fmt::format("{}: element offset overflows int64", to_string(desc)));
  return result;
}

}  // namespace

TensorDesc TensorDesc::contiguous(DType dtype, std::vector<std::int64_t> shape) {
  TensorDesc desc{dtype, std::move(shape), {}};
  desc.strides.assign(desc.shape.size(), 1);
  for (int d = desc.rank() - 2; d >= 0; --d)
    desc.strides[d] = checked_mul(desc.strides[d + 1], std::max<std::int64_t>(desc.shape[d + 1], 1), desc);
  return desc;
}

std::int64_t TensorDesc::numel() const {
  std::int64_t count = 1;
  for (std::int64_t extent : shape) count = checked_mul(count, extent, *this);
  return count;
}

std::int64_t TensorDesc::max_offset() const {
  std::int64_t offset = 0;
  for (int d = 0; d < rank(); ++d) {
    if (shape[d] <= 0) return 0;
    offset = checked_add(offset, checked_mul(shape[d] - 1, strides[d], *this), *this);
  }
  return offset;
}

TensorDesc TensorDesc::permuted(const std::vector<int>& perm) const {
  TensorDesc result{dtype, {}, {}};
  for (int d : perm) {
    result.shape.push_back(shape.at(d));
    result.strides.push_back(strides.at(d));
  }
  return result;
}

bool TensorDesc::is_non_overlapping() const {
  // Sort the dimensions that matter by stride; the layout is injective when each stride
  // reaches past the whole extent of the smaller dimensions (sufficient, and exact for
  // every layout a framework produces).
  std::vector<int> dims;
  for (int d = 0; d < rank(); ++d)
    if (shape[d] > 1) dims.push_back(d);
  std::sort(dims.begin(), dims.end(), [&](int a, int b) { return strides[a] < strides[b]; });
  std::int64_t extent = 1;  // one past the largest offset of the dimensions seen so far
  for (int d : dims) {
    if (strides[d] < extent) return false;
    extent = checked_add(extent, checked_mul(shape[d] - 1, strides[d], *this), *this);
  }
  return true;
}

std::string to_string(const TensorDesc& desc) {
  return fmt::format("{}[{}]{{{}}}", name_of(desc.dtype), fmt::join(desc.shape, ","),
                     fmt::join(desc.strides, ","));
}

}  // namespace mf::ir
