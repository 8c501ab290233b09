// The SwiGLU Transition (DESIGN.md §1.3).
#pragma once

#include <cstdint>
#include <optional>

#include "mf/ir/tensor_desc.h"

namespace mf::ir {

// y = (a ⊙ silu(g)) · W2 with [a | g] = LN(x) · W1 (a the first half of the columns).
// x, y [M, D]; W1 logical [D, 2F]; W2 logical [F, D] with F the hidden width (E·D).
// The LayerNorm is optional: gamma present enables it, beta requires gamma.
// mean and rstd [M] f32 exist only with the LayerNorm.
struct Transition {
  static constexpr std::uint32_t kGradX = 1u << 0;
  static constexpr std::uint32_t kGradGamma = 1u << 1;
  static constexpr std::uint32_t kGradBeta = 1u << 2;
  static constexpr std::uint32_t kGradW1 = 1u << 3;
  static constexpr std::uint32_t kGradW2 = 1u << 4;

  TensorDesc x;
  std::optional<TensorDesc> gamma, beta;
  TensorDesc w1, w2;
  double eps = 1e-5;

  TensorDesc y;
  std::optional<TensorDesc> mean, rstd;

  std::optional<TensorDesc> d_y, d_x, d_gamma, d_beta, d_w1, d_w2;

  bool has_layer_norm() const { return gamma.has_value(); }
  std::int64_t rows() const { return x.shape.at(0); }    // M
  std::int64_t dim() const { return x.shape.at(1); }     // D
  std::int64_t hidden() const { return w2.shape.at(0); }  // F = E·D
  std::uint32_t all_gradients() const;

  friend bool operator==(const Transition&, const Transition&) = default;
};

struct TransitionOptions {
  DType dtype = DType::kBF16;
  std::optional<DType> param_dtype{};  // gamma, beta; defaults to dtype
  bool layer_norm = true;
  bool with_beta = true;
  bool torch_weights = false;  // W1 as [2F, D] and W2 as [D, F] memory (nn.Linear layout)
};
Transition transition(std::int64_t rows, std::int64_t dim, std::int64_t expansion,
                      const TransitionOptions& options = {});
Transition with_gradients(Transition forward, std::uint32_t gradients);

}  // namespace mf::ir
