#include "suite.h"

#include <fmt/format.h>

namespace mf::tools {
namespace {

std::string shape_name(const char* kind, std::initializer_list<std::int64_t> dims) {
  return fmt::format("{} [{}]", kind, fmt::join(dims, ","));
}

}  // namespace

std::vector<SuiteProblem> af3_suite(bool scaled) {
  const std::int64_t tokens = scaled ? 96 : 384;  // triangle attention: cost ∝ tokens³
  const std::int64_t single_tokens = 384;          // single/diffusion: cost ∝ tokens², cheap
  const std::int64_t pair_rows = tokens * tokens;        // rows of the pair representation
  ir::EvoLayoutOptions attention;                        // bf16, bias, boolean mask
  ir::EvoLayoutOptions no_mask = attention;
  no_mask.mask_kind = ir::MaskKind::kNone;

  std::vector<SuiteProblem> suite = {
      {shape_name("triangle_start", {1, tokens, tokens, 4, 32}), 52,
       ir::triangle_attention_starting(1, tokens, 4, 32, attention)},
      {shape_name("triangle_end", {1, tokens, tokens, 4, 32}), 52,
       ir::triangle_attention_ending(1, tokens, 4, 32, attention)},
      {shape_name("single", {1, 1, single_tokens, 16, 64}), 48, ir::single_attention(1, single_tokens, 16, 64, attention)},
      {shape_name("diffusion", {1, 4, single_tokens, 16, 64}), 24 * 12,
       ir::msa_row_attention(1, 4, single_tokens, 16, 64, no_mask)},
  };
  ir::LinearOptions linear;  // AF3's projections have no bias and torch's weight layout
  linear.with_bias = false;
  linear.torch_weight = true;
  const std::pair<std::int64_t, int> linear_widths[] = {{640, 104}, {128, 105}, {1024, 52}, {16, 48}, {8, 4}};
  for (auto [width, count] : linear_widths)
    suite.push_back({shape_name("layer_norm_linear M,K,N", {pair_rows, 128, width}), count,
                     ir::layer_norm_linear(pair_rows, 128, width, linear)});
  suite.push_back({shape_name("transition M,D,E", {pair_rows, 128, 4}), 52, ir::transition(pair_rows, 128, 4)});
  suite.push_back({shape_name("transition M,D,E", {single_tokens, 384, 4}), 48, ir::transition(single_tokens, 384, 4)});
  return suite;
}

std::vector<SuiteProblem> sequence_sweep(bool scaled) {
  std::vector<SuiteProblem> sweep;
  for (std::int64_t crop : {128, 256, 512, 640, 768, 1024}) {
    const std::int64_t tokens = scaled ? crop / 4 : crop;
    sweep.push_back({shape_name("triangle_start", {1, tokens, tokens, 4, 32}), 52,
                     ir::triangle_attention_starting(1, tokens, 4, 32)});
    sweep.push_back({shape_name("single", {1, 1, crop, 16, 64}), 48, ir::single_attention(1, crop, 16, 64)});
  }
  return sweep;
}

}  // namespace mf::tools
