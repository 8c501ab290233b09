#include "mf/ir/tensor_desc.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "ir/expect_error.h"

namespace mf::ir {
namespace {

using testing::expect_error;

TEST(TensorDesc, ContiguousIsRowMajor) {
  const TensorDesc desc = TensorDesc::contiguous(DType::kBF16, {2, 3, 4});
  EXPECT_EQ(desc.dtype, DType::kBF16);
  EXPECT_EQ(desc.shape, (std::vector<std::int64_t>{2, 3, 4}));
  EXPECT_EQ(desc.strides, (std::vector<std::int64_t>{12, 4, 1}));
  EXPECT_EQ(desc.rank(), 3);
  EXPECT_EQ(desc.numel(), 24);
  EXPECT_EQ(desc.max_offset(), 23);
}

TEST(TensorDesc, ContiguousOverflowThrows) {
  const std::int64_t big = std::int64_t{1} << 40;
  expect_error(
      [&] {
        (void)TensorDesc::contiguous(DType::kF32, {2, big, big});
      },
      ErrorKind::kOverflow, "overflows int64");
}

TEST(TensorDesc, NumelOverflowThrows) {
  const std::int64_t big = std::int64_t{1} << 40;
  const TensorDesc desc{DType::kF32, {big, big}, {0, 0}};
  expect_error([&] { (void)desc.numel(); }, ErrorKind::kOverflow, "overflows int64");
  EXPECT_EQ(desc.max_offset(), 0);  // broadcast in both dimensions
}

TEST(TensorDesc, MaxOffsetFollowsStrides) {
  const TensorDesc padded{DType::kF16, {3, 5}, {8, 1}};
  EXPECT_EQ(padded.max_offset(), 2 * 8 + 4);
  const TensorDesc broadcast{DType::kF16, {3, 5}, {0, 1}};
  EXPECT_EQ(broadcast.max_offset(), 4);
  const TensorDesc overflowing{DType::kF16, {3, 5}, {std::numeric_limits<std::int64_t>::max() / 2, 1}};
  expect_error([&] { (void)overflowing.max_offset(); }, ErrorKind::kOverflow, "overflows int64");
}

TEST(TensorDesc, PermutedReordersShapeAndStridesWithoutCopy) {
  const TensorDesc desc = TensorDesc::contiguous(DType::kF32, {2, 3, 4});
  const TensorDesc view = desc.permuted({2, 0, 1});
  EXPECT_EQ(view.shape, (std::vector<std::int64_t>{4, 2, 3}));
  EXPECT_EQ(view.strides, (std::vector<std::int64_t>{1, 12, 4}));
  EXPECT_EQ(view.max_offset(), desc.max_offset());
  EXPECT_EQ(view.permuted({1, 2, 0}), desc);
}

TEST(TensorDesc, NonOverlapping) {
  EXPECT_TRUE(TensorDesc::contiguous(DType::kF32, {2, 3, 4}).is_non_overlapping());
  EXPECT_TRUE(TensorDesc::contiguous(DType::kF32, {5, 7}).permuted({1, 0}).is_non_overlapping());
  EXPECT_TRUE((TensorDesc{DType::kF32, {3, 5}, {8, 1}}).is_non_overlapping());   // padded rows
  EXPECT_TRUE((TensorDesc{DType::kF32, {1, 5}, {0, 1}}).is_non_overlapping());   // stride 0 on size 1
  EXPECT_FALSE((TensorDesc{DType::kF32, {2, 5}, {0, 1}}).is_non_overlapping());  // stride 0 broadcast
  EXPECT_FALSE((TensorDesc{DType::kF32, {3, 5}, {4, 1}}).is_non_overlapping());  // rows overlap
  EXPECT_FALSE((TensorDesc{DType::kF32, {2, 2}, {1, 1}}).is_non_overlapping());  // aliasing strides
  EXPECT_TRUE((TensorDesc{DType::kF32, {2, 3}, {1, 2}}).is_non_overlapping());   // column-major
}

TEST(TensorDesc, BroadcastDims) {
  const TensorDesc desc{DType::kF32, {1, 4, 4}, {16, 0, 1}};
  EXPECT_TRUE(desc.is_broadcast_dim(0));
  EXPECT_TRUE(desc.is_broadcast_dim(1));
  EXPECT_FALSE(desc.is_broadcast_dim(2));
}

TEST(TensorDesc, ToString) { EXPECT_EQ(to_string(TensorDesc::contiguous(DType::kBF16, {2, 3})), "bf16[2,3]{3,1}"); }

}  // namespace
}  // namespace mf::ir
