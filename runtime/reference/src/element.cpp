#include "mf/reference/element.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>
#include <stdexcept>

namespace mf::reference {
namespace {

// A binary interchange format narrower than double, described by its field widths.
struct NarrowFormat {
  int exponent_bits;
  int mantissa_bits;  // explicit fraction bits, without the implicit leading one

  int bias() const { return (1 << (exponent_bits - 1)) - 1; }
  int min_exponent() const { return 1 - bias(); }  // unbiased exponent of the smallest normal
  std::uint32_t exponent_mask() const { return ((1u << exponent_bits) - 1) << mantissa_bits; }
  std::uint32_t mantissa_mask() const { return (1u << mantissa_bits) - 1; }
  std::uint32_t sign_bit() const { return 1u << (exponent_bits + mantissa_bits); }
};

constexpr NarrowFormat kBF16{8, 7};
constexpr NarrowFormat kF16{5, 10};
constexpr NarrowFormat kF32{8, 23};

constexpr int kDoubleMantissaBits = 52;
constexpr int kDoubleBias = 1023;
constexpr std::uint64_t kDoubleMantissaMask = (std::uint64_t{1} << kDoubleMantissaBits) - 1;

// round(value / 2^shift) with ties to even, for shift >= 0.
std::uint64_t shift_right_to_nearest_even(std::uint64_t value, int shift) {
  if (shift == 0) return value;
  if (shift >= 64) return 0;  // value < 2^53, so the quotient is below one half
  const std::uint64_t quotient = value >> shift;
  const std::uint64_t remainder = value & ((std::uint64_t{1} << shift) - 1);
  const std::uint64_t half = std::uint64_t{1} << (shift - 1);
  const bool round_up = remainder > half || (remainder == half && (quotient & 1) != 0);
  return quotient + (round_up ? 1 : 0);
}

// NaN keeps its sign and the top payload bits; a payload that would vanish becomes the
// quiet bit so that the result is still a NaN.
std::uint32_t narrow_nan(std::uint64_t double_bits, std::uint32_t sign, const NarrowFormat& format) {
  std::uint32_t payload = static_cast<std::uint32_t>((double_bits & kDoubleMantissaMask) >>
                                                     (kDoubleMantissaBits - format.mantissa_bits));
  if (payload == 0) payload = 1u << (format.mantissa_bits - 1);
  return sign | format.exponent_mask() | payload;
}

// Rounds directly from double (one rounding, never through float), independently of the
// floating-point environment and without the undefined behaviour of casting an
// out-of-range double to float.
//
// A finite |value| = m·2^(E−52) with m the 53-bit significand. The result's quantum is
// 2^(max(E, emin) − p): rounding m to that quantum gives an integer r, and because the
// encoding of a binary float is monotone and continuous across the subnormal/normal and
// binade boundaries, its bit pattern is ((max(E, emin) − emin) << p) + r (a carry out of
// the significand lands in the exponent field exactly as it should).
std::uint32_t narrow(double value, const NarrowFormat& format) {
  const auto bits = std::bit_cast<std::uint64_t>(value);
  const std::uint32_t sign = (bits >> 63) != 0 ? format.sign_bit() : 0u;
  const int biased_exponent = static_cast<int>((bits >> kDoubleMantissaBits) & 0x7FF);
  if (biased_exponent == 0x7FF) {
    if ((bits & kDoubleMantissaMask) != 0) return narrow_nan(bits, sign, format);
    return sign | format.exponent_mask();
  }
  // Double subnormals (and zero) lie far below half the smallest subnormal of every
  // narrow format, so they round to a signed zero.
  if (biased_exponent == 0) return sign;

  const int exponent = biased_exponent - kDoubleBias;
  const int max_exponent = format.bias();
  if (exponent > max_exponent) return sign | format.exponent_mask();

  const std::uint64_t significand = (bits & kDoubleMantissaMask) | (std::uint64_t{1} << kDoubleMantissaBits);
  const int quantum_exponent = std::max(exponent, format.min_exponent());
  const int shift = kDoubleMantissaBits - format.mantissa_bits + (quantum_exponent - exponent);
  const std::uint64_t rounded = shift_right_to_nearest_even(significand, shift);
  const std::uint64_t magnitude =
      (static_cast<std::uint64_t>(quantum_exponent - format.min_exponent()) << format.mantissa_bits) + rounded;
  if (magnitude >= format.exponent_mask()) return sign | format.exponent_mask();
  return sign | static_cast<std::uint32_t>(magnitude);
}

double widen(std::uint16_t bits, const NarrowFormat& format) {
  const bool negative = (bits & format.sign_bit()) != 0;
  const std::uint32_t exponent_field = (bits & format.exponent_mask()) >> format.mantissa_bits;
  const std::uint32_t mantissa = bits & format.mantissa_mask();
  const std::uint32_t all_ones = format.exponent_mask() >> format.mantissa_bits;
  if (exponent_field == all_ones) {
    if (mantissa == 0) return negative ? -INFINITY : INFINITY;
    const std::uint64_t nan = (std::uint64_t{negative} << 63) | (std::uint64_t{0x7FF} << kDoubleMantissaBits) |
                              (std::uint64_t{mantissa} << (kDoubleMantissaBits - format.mantissa_bits));
    return std::bit_cast<double>(nan);
  }
  // Subnormals: 0.mantissa·2^emin; normals: 1.mantissa·2^(field − bias). Both exact.
  const bool normal = exponent_field != 0;
  const std::uint32_t significand = normal ? mantissa | (1u << format.mantissa_bits) : mantissa;
  const int exponent = normal ? static_cast<int>(exponent_field) - format.bias() : format.min_exponent();
  const double magnitude = std::ldexp(static_cast<double>(significand), exponent - format.mantissa_bits);
  return negative ? -magnitude : magnitude;
}

template <typename T>
T load_raw(const void* base, std::int64_t offset) {
  T value;
  std::memcpy(&value, static_cast<const std::byte*>(base) + offset * static_cast<std::int64_t>(sizeof(T)),
              sizeof(T));
  return value;
}

template <typename T>
void store_raw(void* base, std::int64_t offset, T value) {
  std::memcpy(static_cast<std::byte*>(base) + offset * static_cast<std::int64_t>(sizeof(T)), &value, sizeof(T));
}

[[noreturn]] void unknown_dtype() { throw std::invalid_argument("reference: unknown dtype"); }

}  // namespace

std::uint16_t double_to_bf16(double value) { return static_cast<std::uint16_t>(narrow(value, kBF16)); }
std::uint16_t double_to_f16(double value) { return static_cast<std::uint16_t>(narrow(value, kF16)); }
// Every value of a 16-bit format, widened once: the reference and the comparisons of large
// results read hundreds of millions of elements, and widen() costs an ldexp each.
std::vector<double> widened_table(const NarrowFormat& format) {
  std::vector<double> table(std::size_t{1} << 16);
  for (std::size_t bits = 0; bits < table.size(); ++bits) table[bits] = widen(static_cast<std::uint16_t>(bits), format);
  return table;
}

double bf16_to_double(std::uint16_t bits) {
  static const std::vector<double> table = widened_table(kBF16);
  return table[bits];
}
double f16_to_double(std::uint16_t bits) {
  static const std::vector<double> table = widened_table(kF16);
  return table[bits];
}

double load(ir::DType dtype, const void* base, std::int64_t offset) {
  switch (dtype) {
    case ir::DType::kBool: return load_raw<std::uint8_t>(base, offset) != 0 ? 1.0 : 0.0;
    case ir::DType::kF16: return f16_to_double(load_raw<std::uint16_t>(base, offset));
    case ir::DType::kBF16: return bf16_to_double(load_raw<std::uint16_t>(base, offset));
    case ir::DType::kF32: return load_raw<float>(base, offset);
    case ir::DType::kF64: return load_raw<double>(base, offset);
  }
  unknown_dtype();
}

void store(ir::DType dtype, void* base, std::int64_t offset, double value) {
  switch (dtype) {
    case ir::DType::kBool: return store_raw<std::uint8_t>(base, offset, value != 0 ? 1 : 0);
    case ir::DType::kF16: return store_raw(base, offset, double_to_f16(value));
    case ir::DType::kBF16: return store_raw(base, offset, double_to_bf16(value));
    case ir::DType::kF32: return store_raw(base, offset, narrow(value, kF32));
    case ir::DType::kF64: return store_raw(base, offset, value);
  }
  unknown_dtype();
}

}  // namespace mf::reference
