#include "mf/ir/dtype.h"

#include <gtest/gtest.h>

namespace mf::ir {
namespace {

TEST(DType, NamesRoundTrip) {
  for (DType dtype : {DType::kBool, DType::kF16, DType::kBF16, DType::kF32, DType::kF64})
    EXPECT_EQ(parse_dtype(name_of(dtype)), dtype) << name_of(dtype);
}

TEST(DType, UnknownNamesDoNotParse) {
  EXPECT_EQ(parse_dtype("float32"), std::nullopt);
  EXPECT_EQ(parse_dtype("BF16"), std::nullopt);
  EXPECT_EQ(parse_dtype(""), std::nullopt);
}

TEST(DType, SizesAndKinds) {
  EXPECT_EQ(size_of(DType::kBool), 1u);
  EXPECT_EQ(size_of(DType::kF16), 2u);
  EXPECT_EQ(size_of(DType::kBF16), 2u);
  EXPECT_EQ(size_of(DType::kF32), 4u);
  EXPECT_EQ(size_of(DType::kF64), 8u);
  EXPECT_FALSE(is_floating(DType::kBool));
  EXPECT_TRUE(is_floating(DType::kBF16));
}

}  // namespace
}  // namespace mf::ir
