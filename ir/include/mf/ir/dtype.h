// Element types of the IR and their properties.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mf::ir {

// kBool is one byte per element (nonzero = true) and only valid for boolean masks.
// kF64 exists so that the CPU backend can serve float64 gradient checks; GPU
// generators reject it.
enum class DType : std::uint8_t { kBool, kF16, kBF16, kF32, kF64 };

std::size_t size_of(DType dtype);
std::string_view name_of(DType dtype);  // "bool", "f16", "bf16", "f32", "f64"
std::optional<DType> parse_dtype(std::string_view name);
bool is_floating(DType dtype);

}  // namespace mf::ir
