#include "mf/reference/host_tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

namespace mf::reference {
namespace {

using ir::DType;
using ir::TensorDesc;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(HostTensor, StorageCoversEveryReachableElement) {
  TensorDesc padded{DType::kBF16, {3, 4}, {10, 2}};
  HostTensor tensor(padded);
  EXPECT_EQ(tensor.bytes(), (2 * 10 + 3 * 2 + 1) * 2u);
  TensorDesc broadcast{DType::kF32, {5, 4}, {0, 1}};
  EXPECT_EQ(HostTensor(broadcast).bytes(), 4 * 4u);
}

TEST(HostTensor, GetAndSetFollowTheStrides) {
  HostTensor tensor(TensorDesc::contiguous(DType::kF32, {2, 3}).permuted({1, 0}));  // [3, 2] view
  tensor.set({{2, 1}}, 1.5);
  EXPECT_EQ(tensor.get({{2, 1}}), 1.5);
  EXPECT_EQ(static_cast<const float*>(tensor.data())[1 * 3 + 2], 1.5f);
  EXPECT_THROW(tensor.get({{3, 0}}), std::out_of_range);
  EXPECT_THROW(tensor.get({{0}}), std::out_of_range);
}

TEST(HostTensor, SetRoundsToTheDType) {
  HostTensor tensor(TensorDesc::contiguous(DType::kBF16, {1}));
  tensor.set({{0}}, 1.0 + 1.0 / 256 + 1e-9);
  EXPECT_EQ(tensor.get({{0}}), 1.0 + 1.0 / 128);
}

TEST(HostTensor, FillUniformIsDeterministicInRangeAndNeverConstant) {
  for (DType dtype : {DType::kF64, DType::kF32, DType::kBF16, DType::kF16}) {
    HostTensor a(TensorDesc::contiguous(dtype, {50, 20})), b(a.desc()), c(a.desc());
    a.fill_uniform(7, -1.0, 1.0);
    b.fill_uniform(7, -1.0, 1.0);
    c.fill_uniform(8, -1.0, 1.0);
    EXPECT_EQ(a.values(), b.values());
    EXPECT_NE(a.values(), c.values());
    std::set<double> distinct;
    for (double value : a.values()) {
      EXPECT_GE(value, -1.0);
      EXPECT_LT(value, 1.0);
      distinct.insert(value);
    }
    EXPECT_GT(distinct.size(), 100u);
  }
}

TEST(HostTensor, FillUniformBoolKeepsWithProbabilityHi) {
  HostTensor mask(TensorDesc::contiguous(DType::kBool, {10000}));
  mask.fill_uniform(3, 0.0, 0.8);
  double kept = 0;
  for (double value : mask.values()) kept += value;
  EXPECT_NEAR(kept / 10000, 0.8, 0.02);
}

TEST(HostTensor, PoisonMakesEveryFloatingElementNaN) {
  for (DType dtype : {DType::kF64, DType::kF32, DType::kBF16, DType::kF16}) {
    HostTensor tensor(TensorDesc::contiguous(dtype, {4, 3}));
    tensor.fill_uniform(1, 0.0, 1.0);
    tensor.poison();
    for (double value : tensor.values()) EXPECT_TRUE(std::isnan(value));
  }
  HostTensor mask(TensorDesc::contiguous(DType::kBool, {3}));
  mask.poison();
  EXPECT_EQ(static_cast<const unsigned char*>(mask.data())[2], 0xAB);
}

TEST(HostTensor, ValuesAreInLogicalRowMajorOrder) {
  HostTensor tensor(TensorDesc::contiguous(DType::kF64, {2, 3}).permuted({1, 0}));
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t j = 0; j < 2; ++j) tensor.set({{i, j}}, static_cast<double>(10 * i + j));
  EXPECT_EQ(tensor.values(), (std::vector<double>{0, 1, 10, 11, 20, 21}));
}

// values() walks the storage with an odometer and a read chosen per dtype: every dtype, a
// padded, permuted and broadcast view, against get() element by element.
TEST(HostTensor, ValuesMatchGetOnStridedViewsOfEveryDType) {
  for (DType dtype : {DType::kBF16, DType::kF16, DType::kF32, DType::kF64, DType::kBool}) {
    SCOPED_TRACE(ir::name_of(dtype));
    HostTensor tensor(TensorDesc{dtype, {3, 2, 4}, {1, 0, 5}});  // padded rows, broadcast middle
    tensor.fill_uniform(7, -3.0, 3.0);
    std::vector<double> expected;
    for (std::int64_t i = 0; i < 3; ++i)
      for (std::int64_t j = 0; j < 2; ++j)
        for (std::int64_t k = 0; k < 4; ++k) expected.push_back(tensor.get({{i, j, k}}));
    EXPECT_EQ(tensor.values(), expected);
  }
  EXPECT_EQ(HostTensor(TensorDesc{DType::kF32, {}, {}}).values(), std::vector<double>{0.0});
  EXPECT_TRUE(HostTensor(TensorDesc::contiguous(DType::kF32, {2, 0, 3})).values().empty());
}

// The tuner compares each candidate with one reference, flattened once.
TEST(ResultError, AgainstTheExactValuesEqualsAgainstTheReferenceTensor) {
  HostTensor ref(TensorDesc::contiguous(DType::kF64, {4, 3}));
  HostTensor out(TensorDesc{DType::kBF16, {4, 3}, {1, 6}});  // column-major, padded
  ref.fill_uniform(1, -1.0, 1.0);
  out.fill_uniform(2, -1.0, 1.0);
  EXPECT_DOUBLE_EQ(result_error(out, ref.values()), result_error(out, ref));
  out.set({{3, 2}}, kNaN);
  EXPECT_EQ(result_error(out, ref.values()), kInf);
  EXPECT_EQ(result_error(out, std::vector<double>(12, 0.0)), kInf);  // zero exact: largest |out|, NaN → inf
  EXPECT_THROW(result_error(out, std::vector<double>(11, 0.0)), std::invalid_argument);
}

// Against an exactly zero result the error is the largest absolute element instead.
TEST(ResultError, RelativeUnlessTheExactResultIsZero) {
  const ir::TensorDesc desc = ir::TensorDesc::contiguous(ir::DType::kF64, {3});
  HostTensor ref(desc), out(desc);
  out.set(std::vector<std::int64_t>{1}, -2e-4);
  EXPECT_DOUBLE_EQ(result_error(out, ref), 2e-4);
  out.set(std::vector<std::int64_t>{2}, std::nan(""));
  EXPECT_EQ(result_error(out, ref), INFINITY);
  ref.set(std::vector<std::int64_t>{0}, 2.0);
  out.set(std::vector<std::int64_t>{2}, 0.0);
  out.set(std::vector<std::int64_t>{0}, 2.0);
  EXPECT_DOUBLE_EQ(result_error(out, ref), relative_error(out, ref));
}

TEST(RelativeError, NormsAndNonFiniteValues) {
  const std::vector<double> ref = {3.0, 4.0};
  EXPECT_DOUBLE_EQ(relative_error(std::vector<double>{3.0, 4.5}, ref), 0.1);
  EXPECT_EQ(relative_error(std::vector<double>{3.0, kNaN}, ref), kInf);
  EXPECT_EQ(relative_error(std::vector<double>{kInf, 4.0}, ref), kInf);
  EXPECT_EQ(relative_error(std::vector<double>{0.0, 0.0}, std::vector<double>{0.0, 0.0}), 0.0);
  EXPECT_EQ(relative_error(std::vector<double>{1e-30, 0.0}, std::vector<double>{0.0, 0.0}), kInf);
}

TEST(RelativeError, NaNNeverPassesEvenWhenBothSidesHoldIt) {
  // An output nobody wrote, compared with a reference nobody wrote: both poisoned.
  EXPECT_EQ(relative_error(std::vector<double>{kNaN, 4.0}, std::vector<double>{kNaN, 4.0}), kInf);
  EXPECT_EQ(relative_error(std::vector<double>{3.0, 4.0}, std::vector<double>{kNaN, 4.0}), kInf);
  EXPECT_EQ(relative_error(std::vector<double>{kNaN}, std::vector<double>{kNaN}), kInf);
  EXPECT_EQ(relative_error(std::vector<double>{kNaN, 0.0}, std::vector<double>{0.0, 0.0}), kInf);
  EXPECT_EQ(relative_error(std::vector<double>{kInf}, std::vector<double>{kNaN}), kInf);
  HostTensor out(TensorDesc::contiguous(DType::kBF16, {2, 3})), ref(TensorDesc::contiguous(DType::kF32, {2, 3}));
  out.poison();
  ref.poison();
  EXPECT_EQ(relative_error(out, ref), kInf);
}

TEST(RelativeError, OnlyTheSameInfinityOnBothSidesIsEqual) {
  // The same infinity (+∞ is the lse of a fully masked row) in both contributes nothing.
  EXPECT_EQ(relative_error(std::vector<double>{kInf, 4.0}, std::vector<double>{kInf, 4.0}), 0.0);
  EXPECT_EQ(relative_error(std::vector<double>{-kInf, 4.0}, std::vector<double>{-kInf, 4.0}), 0.0);
  EXPECT_DOUBLE_EQ(relative_error(std::vector<double>{kInf, 3.0, 4.5}, std::vector<double>{kInf, 3.0, 4.0}), 0.1);
  EXPECT_EQ(relative_error(std::vector<double>{kInf}, std::vector<double>{kInf}), 0.0);
  // Any other infinity, on either side, fails.
  EXPECT_EQ(relative_error(std::vector<double>{1e300, 4.0}, std::vector<double>{kInf, 4.0}), kInf);
  EXPECT_EQ(relative_error(std::vector<double>{-1e30, 4.0}, std::vector<double>{-kInf, 4.0}), kInf);
  EXPECT_EQ(relative_error(std::vector<double>{kInf, 4.0}, std::vector<double>{-kInf, 4.0}), kInf);
  EXPECT_EQ(relative_error(std::vector<double>{-kInf, 4.0}, std::vector<double>{kInf, 4.0}), kInf);
  EXPECT_EQ(relative_error(std::vector<double>{3.0, 4.0}, std::vector<double>{-kInf, 4.0}), kInf);
}

TEST(RelativeError, ComparesHostTensorsByLogicalElement) {
  HostTensor a(TensorDesc::contiguous(DType::kF32, {2, 2})), b(TensorDesc{DType::kF64, {2, 2}, {1, 2}});
  a.fill_uniform(5, 1.0, 2.0);
  for (std::int64_t i = 0; i < 2; ++i)
    for (std::int64_t j = 0; j < 2; ++j) b.set({{i, j}}, a.get({{i, j}}));
  EXPECT_EQ(relative_error(a, b), 0.0);
  EXPECT_THROW(relative_error(a, HostTensor(TensorDesc::contiguous(DType::kF32, {4}))), std::invalid_argument);
}

}  // namespace
}  // namespace mf::reference
