// EvoAttention with pair bias (DESIGN.md §1.1): the descriptor and its five layouts.
#pragma once

#include <cstdint>
#include <optional>

#include "mf/ir/tensor_desc.h"

namespace mf::ir {

enum class MaskKind : std::uint8_t {
  kNone,
  kBoolean,   // kBool elements, nonzero keeps the key
  kAdditive,  // floating elements added to the logits
};

enum class DBiasMode : std::uint8_t {
  kDeterministic,  // bitwise reproducible, no float atomics (the default)
  kFast,           // may use float atomics
};

// Logical dimensions: Q, K, V, O, dO, dQ, dK, dV are [B, S, N, H, D]; bias and dBias
// have rank 5 and broadcast to [B, S, H, N, N] (each dimension 1 or full); the mask has
// rank 5 and broadcasts to [B, S, 1, 1, N]; LSE is [B, S, H, N] in f32.
struct EvoAttention {
  static constexpr std::uint32_t kGradQ = 1u << 0;
  static constexpr std::uint32_t kGradK = 1u << 1;
  static constexpr std::uint32_t kGradV = 1u << 2;
  static constexpr std::uint32_t kGradBias = 1u << 3;
  static constexpr std::uint32_t kAllGradients = kGradQ | kGradK | kGradV | kGradBias;

  TensorDesc q, k, v;
  std::optional<TensorDesc> bias;
  MaskKind mask_kind = MaskKind::kNone;
  std::optional<TensorDesc> mask;  // present exactly when mask_kind != kNone
  double scale = 0.0;              // softmax scale c; 0 means D^-1/2

  TensorDesc o;                    // output of the forward, input of the backward
  std::optional<TensorDesc> lse;   // saved by the forward when present; required by the backward

  // Backward only: d_o is required, each gradient is present exactly when wanted.
  std::optional<TensorDesc> d_o, d_q, d_k, d_v, d_bias;
  DBiasMode dbias_mode = DBiasMode::kDeterministic;

  std::int64_t batch() const { return q.shape.at(0); }
  std::int64_t rows() const { return q.shape.at(1); }
  std::int64_t seq_len() const { return q.shape.at(2); }
  std::int64_t heads() const { return q.shape.at(3); }
  std::int64_t head_dim() const { return q.shape.at(4); }
  double effective_scale() const;  // scale, or D^-1/2 when scale is 0
  // Every gradient whose primal exists (kGradBias only with a bias).
  std::uint32_t all_gradients() const;

  friend bool operator==(const EvoAttention&, const EvoAttention&) = default;
};

// What the named layouts below build: dtypes and which optional inputs exist.
// All tensors are contiguous in the memory order the layout names; LSE is included.
struct EvoLayoutOptions {
  DType dtype = DType::kBF16;
  bool with_bias = true;
  std::optional<DType> bias_dtype{};  // defaults to dtype
  MaskKind mask_kind = MaskKind::kBoolean;
  std::optional<DType> additive_mask_dtype{};  // defaults to dtype
};

// Single attention with pair bias: Q/K/V [B, 1, N, H, D].
EvoAttention single_attention(std::int64_t batch, std::int64_t tokens, std::int64_t heads,
                              std::int64_t head_dim, const EvoLayoutOptions& options = {});
// Triangle attention around the starting node: Q/K/V [B, N, N, H, D], row s = i.
EvoAttention triangle_attention_starting(std::int64_t batch, std::int64_t tokens, std::int64_t heads,
                                         std::int64_t head_dim, const EvoLayoutOptions& options = {});
// Triangle attention around the ending node: the same [B, N, N, H, D] memory with rows and
// columns swapped by strides (row s = j, sequence position = i), never a copy.
EvoAttention triangle_attention_ending(std::int64_t batch, std::int64_t tokens, std::int64_t heads,
                                       std::int64_t head_dim, const EvoLayoutOptions& options = {});
// MSA row-wise attention with pair bias: Q/K/V [B, S_msa, N, H, D].
EvoAttention msa_row_attention(std::int64_t batch, std::int64_t msa_rows, std::int64_t tokens,
                               std::int64_t heads, std::int64_t head_dim,
                               const EvoLayoutOptions& options = {});
// MSA column-wise attention, no bias: the MSA activation [B, S_msa, N, H, D] viewed by
// strides as [B, N, S_msa, H, D] (attention runs over the MSA sequences of each column).
// options.with_bias is ignored.
EvoAttention msa_column_attention(std::int64_t batch, std::int64_t msa_rows, std::int64_t tokens,
                                  std::int64_t heads, std::int64_t head_dim,
                                  const EvoLayoutOptions& options = {});

// The backward of `forward`: adds d_o and the wanted gradients, each laid out like the
// tensor it is the gradient of (d_o like o). Throws kInvalidArgument for a gradient whose
// primal is absent. The same contract holds for the other operators' with_gradients.
EvoAttention with_gradients(EvoAttention forward, std::uint32_t gradients);

}  // namespace mf::ir
