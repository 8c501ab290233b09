// Which pass a plan runs, and for a backward pass which gradients it produces.
#pragma once

#include <cstdint>

namespace mf::ir {

enum class Pass : std::uint8_t { kForward, kBackward };

struct Direction {
  Pass pass = Pass::kForward;
  // Bit set of the operator's gradient flags (EvoAttention::kGradQ, ...); 0 in forward.
  std::uint32_t gradients = 0;

  static Direction forward() { return {Pass::kForward, 0}; }
  static Direction backward(std::uint32_t gradients) { return {Pass::kBackward, gradients}; }
  bool wants(std::uint32_t gradient) const { return (gradients & gradient) != 0; }

  friend bool operator==(const Direction&, const Direction&) = default;
};

}  // namespace mf::ir
