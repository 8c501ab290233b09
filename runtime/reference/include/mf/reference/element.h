// Reading and writing single elements of any IR dtype as double.
#pragma once

#include <cstdint>

#include "mf/ir/dtype.h"

namespace mf::reference {

// Conversions round to nearest even; NaN stays NaN, overflow becomes infinity.
std::uint16_t double_to_bf16(double value);
std::uint16_t double_to_f16(double value);
double bf16_to_double(std::uint16_t bits);
double f16_to_double(std::uint16_t bits);

// Element `offset` (in elements) of the array at `base`. kBool reads 1.0 or 0.0 and writes
// value != 0.
double load(ir::DType dtype, const void* base, std::int64_t offset);
void store(ir::DType dtype, void* base, std::int64_t offset, double value);

}  // namespace mf::reference
