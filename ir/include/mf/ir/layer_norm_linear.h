// LayerNorm followed by a Linear layer (DESIGN.md §1.2).
#pragma once

#include <cstdint>
#include <optional>

#include "mf/ir/tensor_desc.h"

namespace mf::ir {

// y = LN(x; gamma, beta, eps) · W + b. x [M, K], gamma and beta [K], W logical [K, N]
// (the torch [N, K] weight is the transposed view, see torch_weight()), b [N], y [M, N].
// mean and rstd are [M] f32. x, W, y share one dtype; gamma, beta, b are in that dtype
// or f32.
struct LayerNormLinear {
  static constexpr std::uint32_t kGradX = 1u << 0;
  static constexpr std::uint32_t kGradGamma = 1u << 1;
  static constexpr std::uint32_t kGradBeta = 1u << 2;
  static constexpr std::uint32_t kGradWeight = 1u << 3;
  static constexpr std::uint32_t kGradBias = 1u << 4;

  TensorDesc x;
  TensorDesc gamma;
  std::optional<TensorDesc> beta;
  TensorDesc weight;
  std::optional<TensorDesc> bias;
  double eps = 1e-5;

  TensorDesc y;
  std::optional<TensorDesc> mean, rstd;  // saved by the forward when present; required by the backward

  std::optional<TensorDesc> d_y, d_x, d_gamma, d_beta, d_weight, d_bias;

  std::int64_t rows() const { return x.shape.at(0); }       // M
  std::int64_t in_features() const { return x.shape.at(1); }   // K
  std::int64_t out_features() const { return weight.shape.at(1); }  // N
  // Every gradient whose primal exists.
  std::uint32_t all_gradients() const;

  friend bool operator==(const LayerNormLinear&, const LayerNormLinear&) = default;
};

// Contiguous tensors; torch_weight selects the [N, K] weight memory (viewed as [K, N]).
struct LinearOptions {
  DType dtype = DType::kBF16;
  std::optional<DType> param_dtype{};  // gamma, beta, b; defaults to dtype
  bool with_beta = true;
  bool with_bias = true;
  bool torch_weight = false;
};
LayerNormLinear layer_norm_linear(std::int64_t rows, std::int64_t in_features, std::int64_t out_features,
                                  const LinearOptions& options = {});
// A [N, K] row-major weight as the logical [K, N] view.
TensorDesc torch_weight(DType dtype, std::int64_t in_features, std::int64_t out_features);
// Adds d_y and the wanted gradients, each laid out like its primal.
LayerNormLinear with_gradients(LayerNormLinear forward, std::uint32_t gradients);

}  // namespace mf::ir
