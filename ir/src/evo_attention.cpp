#include "mf/ir/evo_attention.h"

#include <cmath>

#include "mf/ir/error.h"

namespace mf::ir {
namespace {

// Swaps logical dimensions 1 and 2 (rows and sequence) of a [B, X, Y, H, D] tensor.
const std::vector<int> kSwapRowsAndSequence = {0, 2, 1, 3, 4};
// Swaps dimensions 1 and 4 of a [B, X, 1, 1, Y] key mask.
const std::vector<int> kSwapMaskRowsAndKeys = {0, 4, 2, 3, 1};

// Q, K, V and O share `activation`; LSE, bias and mask are contiguous in the logical
// order unless `mask` is given.
EvoAttention assemble(const TensorDesc& activation, std::optional<TensorDesc> mask,
                      bool with_bias, const EvoLayoutOptions& options) {
  const std::int64_t batch = activation.shape[0], rows = activation.shape[1];
  const std::int64_t seq = activation.shape[2], heads = activation.shape[3];
  EvoAttention op;
  op.q = op.k = op.v = op.o = activation;
  op.lse = TensorDesc::contiguous(DType::kF32, {batch, rows, heads, seq});
  if (with_bias)
    op.bias = TensorDesc::contiguous(options.bias_dtype.value_or(options.dtype), {batch, 1, heads, seq, seq});
  op.mask_kind = options.mask_kind;
  if (options.mask_kind != MaskKind::kNone) {
    if (!mask) mask = TensorDesc::contiguous(DType::kBool, {batch, rows, 1, 1, seq});
    mask->dtype = options.mask_kind == MaskKind::kBoolean ? DType::kBool
                                                          : options.additive_mask_dtype.value_or(options.dtype);
    op.mask = mask;
  }
  return op;
}

}  // namespace

double EvoAttention::effective_scale() const {
  return scale != 0.0 ? scale : 1.0 / std::sqrt(static_cast<double>(head_dim()));
}

std::uint32_t EvoAttention::all_gradients() const {
  return kGradQ | kGradK | kGradV | (bias ? kGradBias : 0u);
}

EvoAttention single_attention(std::int64_t batch, std::int64_t tokens, std::int64_t heads,
                              std::int64_t head_dim, const EvoLayoutOptions& options) {
  return assemble(TensorDesc::contiguous(options.dtype, {batch, 1, tokens, heads, head_dim}), std::nullopt,
                  options.with_bias, options);
}

EvoAttention triangle_attention_starting(std::int64_t batch, std::int64_t tokens, std::int64_t heads,
                                         std::int64_t head_dim, const EvoLayoutOptions& options) {
  return assemble(TensorDesc::contiguous(options.dtype, {batch, tokens, tokens, heads, head_dim}),
                  std::nullopt, options.with_bias, options);
}

EvoAttention triangle_attention_ending(std::int64_t batch, std::int64_t tokens, std::int64_t heads,
                                       std::int64_t head_dim, const EvoLayoutOptions& options) {
  // The pair activation z[b, i, j] and pair mask m[b, i, j] are read as row s = j,
  // sequence position = i.
  TensorDesc pair = TensorDesc::contiguous(options.dtype, {batch, tokens, tokens, heads, head_dim});
  TensorDesc pair_mask = TensorDesc::contiguous(DType::kBool, {batch, tokens, 1, 1, tokens});
  return assemble(pair.permuted(kSwapRowsAndSequence), pair_mask.permuted(kSwapMaskRowsAndKeys),
                  options.with_bias, options);
}

EvoAttention msa_row_attention(std::int64_t batch, std::int64_t msa_rows, std::int64_t tokens,
                               std::int64_t heads, std::int64_t head_dim, const EvoLayoutOptions& options) {
  return assemble(TensorDesc::contiguous(options.dtype, {batch, msa_rows, tokens, heads, head_dim}),
                  std::nullopt, options.with_bias, options);
}

EvoAttention msa_column_attention(std::int64_t batch, std::int64_t msa_rows, std::int64_t tokens,
                                  std::int64_t heads, std::int64_t head_dim, const EvoLayoutOptions& options) {
  // The MSA activation m[b, s, n] and MSA mask are read as row = n, sequence position = s.
  TensorDesc msa = TensorDesc::contiguous(options.dtype, {batch, msa_rows, tokens, heads, head_dim});
  TensorDesc msa_mask = TensorDesc::contiguous(DType::kBool, {batch, msa_rows, 1, 1, tokens});
  return assemble(msa.permuted(kSwapRowsAndSequence), msa_mask.permuted(kSwapMaskRowsAndKeys),
                  /*with_bias=*/false, options);
}

EvoAttention with_gradients(EvoAttention forward, std::uint32_t gradients) {
  if ((gradients & ~forward.all_gradients()) != 0)
    fail(ErrorKind::kInvalidArgument, "gradients: asks for the bias gradient of an attention without bias");
  EvoAttention op = std::move(forward);
  op.d_o = op.o;
  if (gradients & EvoAttention::kGradQ) op.d_q = op.q;
  if (gradients & EvoAttention::kGradK) op.d_k = op.k;
  if (gradients & EvoAttention::kGradV) op.d_v = op.v;
  if (gradients & EvoAttention::kGradBias) op.d_bias = op.bias;
  return op;
}

}  // namespace mf::ir
