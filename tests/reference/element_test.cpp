#include "mf/reference/element.h"

#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace mf::reference {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is_nan_bf16(std::uint16_t bits) { return (bits & 0x7F80) == 0x7F80 && (bits & 0x007F) != 0; }
bool is_nan_f16(std::uint16_t bits) { return (bits & 0x7C00) == 0x7C00 && (bits & 0x03FF) != 0; }

TEST(Bf16, ExactValues) {
  EXPECT_EQ(double_to_bf16(1.0), 0x3F80);
  EXPECT_EQ(double_to_bf16(-2.5), 0xC020);
  EXPECT_EQ(double_to_bf16(0.0), 0x0000);
  EXPECT_EQ(double_to_bf16(-0.0), 0x8000);
  EXPECT_EQ(double_to_bf16(std::ldexp(1.0, -126)), 0x0080);          // smallest normal
  EXPECT_EQ(double_to_bf16(std::ldexp(1.0, -133)), 0x0001);          // smallest subnormal
  EXPECT_EQ(double_to_bf16(std::ldexp(127.0, -133)), 0x007F);        // largest subnormal
  EXPECT_EQ(double_to_bf16(std::ldexp(255.0, 120)), 0x7F7F);         // max finite (2 − 2⁻⁷)·2¹²⁷
}

TEST(Bf16, TiesRoundToEven) {
  EXPECT_EQ(double_to_bf16(1.0 + std::ldexp(1.0, -8)), 0x3F80);      // halfway 1 and 1+2⁻⁷: even is 1
  EXPECT_EQ(double_to_bf16(1.0 + 3 * std::ldexp(1.0, -8)), 0x3F82);  // halfway 0x3F81 and 0x3F82
  EXPECT_EQ(double_to_bf16(std::ldexp(1.0, -134)), 0x0000);          // half the smallest subnormal
  EXPECT_EQ(double_to_bf16(std::ldexp(3.0, -134)), 0x0002);          // 1.5 subnormal ulps
  EXPECT_EQ(double_to_bf16(std::ldexp(127.5, -133)), 0x0080);        // the tie carries into the smallest normal
}

TEST(Bf16, RoundsOnceFromDouble) {
  // Through float, 1 + 2⁻⁸ + 2⁻³⁰ first becomes the tie 1 + 2⁻⁸ and then rounds down to 1.
  EXPECT_EQ(double_to_bf16(1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30)), 0x3F81);
  EXPECT_EQ(double_to_bf16(std::ldexp(1.0, -134) * (1.0 + std::ldexp(1.0, -40))), 0x0001);
}

TEST(Bf16, OverflowInfinityAndNaN) {
  const double max = std::ldexp(255.0, 120);
  const double half_ulp = std::ldexp(1.0, 119);
  EXPECT_EQ(double_to_bf16(max + half_ulp), 0x7F80);  // tie with an odd max: rounds to infinity
  EXPECT_EQ(double_to_bf16(max + half_ulp * (1 - 1e-9)), 0x7F7F);
  EXPECT_EQ(double_to_bf16(1e300), 0x7F80);
  EXPECT_EQ(double_to_bf16(-1e300), 0xFF80);
  EXPECT_EQ(double_to_bf16(kInf), 0x7F80);
  EXPECT_EQ(double_to_bf16(-kInf), 0xFF80);
  EXPECT_TRUE(is_nan_bf16(double_to_bf16(kNaN)));
  EXPECT_TRUE(is_nan_bf16(double_to_bf16(-kNaN)));
  EXPECT_EQ(double_to_bf16(1e-300), 0x0000);
  EXPECT_EQ(double_to_bf16(-std::numeric_limits<double>::denorm_min()), 0x8000);
}

TEST(F16, ExactValues) {
  EXPECT_EQ(double_to_f16(1.0), 0x3C00);
  EXPECT_EQ(double_to_f16(-2.5), 0xC100);
  EXPECT_EQ(double_to_f16(65504.0), 0x7BFF);  // max finite
  EXPECT_EQ(double_to_f16(-0.0), 0x8000);
  EXPECT_EQ(double_to_f16(std::ldexp(1.0, -14)), 0x0400);     // smallest normal
  EXPECT_EQ(double_to_f16(std::ldexp(1.0, -24)), 0x0001);     // smallest subnormal
  EXPECT_EQ(double_to_f16(std::ldexp(1023.0, -24)), 0x03FF);  // largest subnormal
}

TEST(F16, TiesRoundToEven) {
  EXPECT_EQ(double_to_f16(1.0 + std::ldexp(1.0, -11)), 0x3C00);
  EXPECT_EQ(double_to_f16(1.0 + 3 * std::ldexp(1.0, -11)), 0x3C02);
  EXPECT_EQ(double_to_f16(std::ldexp(1.0, -25)), 0x0000);
  EXPECT_EQ(double_to_f16(std::ldexp(3.0, -25)), 0x0002);
  EXPECT_EQ(double_to_f16(std::ldexp(1023.5, -24)), 0x0400);  // the tie carries into the smallest normal
  EXPECT_EQ(double_to_f16(std::ldexp(1022.5, -24)), 0x03FE);
}

TEST(F16, RoundsOnceFromDouble) {
  EXPECT_EQ(double_to_f16(1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40)), 0x3C01);
  EXPECT_EQ(double_to_f16(std::ldexp(1.0, -25) * (1.0 + std::ldexp(1.0, -40))), 0x0001);
}

TEST(F16, OverflowInfinityAndNaN) {
  EXPECT_EQ(double_to_f16(65520.0), 0x7C00);  // the tie above max rounds to infinity
  EXPECT_EQ(double_to_f16(65519.99), 0x7BFF);
  EXPECT_EQ(double_to_f16(1e6), 0x7C00);
  EXPECT_EQ(double_to_f16(-1e6), 0xFC00);
  EXPECT_EQ(double_to_f16(kInf), 0x7C00);
  EXPECT_EQ(double_to_f16(-kInf), 0xFC00);
  EXPECT_TRUE(is_nan_f16(double_to_f16(kNaN)));
  // A NaN whose payload lives only in the low bits must not turn into infinity.
  EXPECT_TRUE(is_nan_f16(double_to_f16(std::bit_cast<double>(std::uint64_t{0x7FF0000000000001}))));
  EXPECT_TRUE(is_nan_bf16(double_to_bf16(std::bit_cast<double>(std::uint64_t{0x7FF0000000000001}))));
}

TEST(Widening, KnownValues) {
  EXPECT_EQ(bf16_to_double(0x3F80), 1.0);
  EXPECT_EQ(bf16_to_double(0xC020), -2.5);
  EXPECT_EQ(bf16_to_double(0x0001), std::ldexp(1.0, -133));
  EXPECT_EQ(bf16_to_double(0x7F80), kInf);
  EXPECT_TRUE(std::isnan(bf16_to_double(0x7FC0)));
  EXPECT_EQ(f16_to_double(0x7BFF), 65504.0);
  EXPECT_EQ(f16_to_double(0x0001), std::ldexp(1.0, -24));
  EXPECT_EQ(f16_to_double(0xFC00), -kInf);
  EXPECT_TRUE(std::signbit(f16_to_double(0x8000)));
}

TEST(Widening, EveryBf16PatternRoundTrips) {
  for (std::uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const auto pattern = static_cast<std::uint16_t>(bits);
    ASSERT_EQ(double_to_bf16(bf16_to_double(pattern)), pattern) << std::hex << bits;
  }
}

TEST(Widening, EveryF16PatternRoundTrips) {
  for (std::uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const auto pattern = static_cast<std::uint16_t>(bits);
    ASSERT_EQ(double_to_f16(f16_to_double(pattern)), pattern) << std::hex << bits;
  }
}

// Every bf16 value agrees with float's own round-to-nearest-even where float is exact:
// the bf16 of a float is its top 16 bits after RNE on the low 16.
TEST(Widening, Bf16MatchesFloatBitRounding) {
  std::uint32_t state = 12345;
  for (int i = 0; i < 200000; ++i) {
    state = state * 1664525u + 1013904223u;
    const std::uint32_t f = state;
    float value;
    std::memcpy(&value, &f, sizeof value);
    if (std::isnan(value)) continue;
    const std::uint32_t lsb = (f >> 16) & 1;
    std::uint32_t rounded = (f + 0x7FFF + lsb) >> 16;
    ASSERT_EQ(double_to_bf16(value), static_cast<std::uint16_t>(rounded)) << std::hex << f;
  }
}

TEST(LoadStore, EveryDType) {
  std::array<std::byte, 64> buffer{};
  store(ir::DType::kF64, buffer.data(), 3, 0.1);
  EXPECT_EQ(load(ir::DType::kF64, buffer.data(), 3), 0.1);
  store(ir::DType::kF32, buffer.data(), 5, 0.1);
  EXPECT_EQ(load(ir::DType::kF32, buffer.data(), 5), static_cast<double>(0.1f));
  store(ir::DType::kF32, buffer.data(), 6, 1e300);
  EXPECT_EQ(load(ir::DType::kF32, buffer.data(), 6), kInf);
  store(ir::DType::kBF16, buffer.data(), 7, -2.5);
  EXPECT_EQ(load(ir::DType::kBF16, buffer.data(), 7), -2.5);
  store(ir::DType::kF16, buffer.data(), 9, 65504.0);
  EXPECT_EQ(load(ir::DType::kF16, buffer.data(), 9), 65504.0);
  store(ir::DType::kBool, buffer.data(), 30, 0.5);
  EXPECT_EQ(load(ir::DType::kBool, buffer.data(), 30), 1.0);
  store(ir::DType::kBool, buffer.data(), 31, 0.0);
  EXPECT_EQ(load(ir::DType::kBool, buffer.data(), 31), 0.0);
  buffer[32] = std::byte{0x7F};  // any nonzero byte is true
  EXPECT_EQ(load(ir::DType::kBool, buffer.data(), 32), 1.0);
}

TEST(LoadStore, F32RoundsToNearestEvenLikeTheHardware) {
  std::array<std::byte, 8> buffer{};
  const double values[] = {1.0 / 3.0, 1.0 + std::ldexp(1.0, -24), 1.0 + 3 * std::ldexp(1.0, -24),
                           std::ldexp(1.0, -150), std::ldexp(3.0, -150), 3.4e38, -1e-40};
  for (double value : values) {
    store(ir::DType::kF32, buffer.data(), 0, value);
    EXPECT_EQ(load(ir::DType::kF32, buffer.data(), 0), static_cast<double>(static_cast<float>(value))) << value;
  }
}

TEST(LoadStore, F32MatchesTheHardwareOnRandomDoubles) {
  std::array<std::byte, 4> buffer{};
  std::uint64_t state = 99;
  for (int i = 0; i < 200000; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    // Random significand, exponent spread over float's normal and subnormal range.
    const double significand = 1.0 + static_cast<double>(state >> 12) * 0x1.0p-52;
    const double value = std::ldexp(significand, static_cast<int>(state % 270) - 150) * ((state >> 8) & 1 ? -1 : 1);
    store(ir::DType::kF32, buffer.data(), 0, value);
    ASSERT_EQ(load(ir::DType::kF32, buffer.data(), 0), static_cast<double>(static_cast<float>(value))) << value;
  }
}

}  // namespace
}  // namespace mf::reference
