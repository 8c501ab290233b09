// Every gradient of every operator against central finite differences in f64:
// loss = Σ out ⊙ R with random R, each input element perturbed by ±1e-6.
#include <gtest/gtest.h>

#include <string>

#include "mf/ir/evo_attention.h"
#include "mf/ir/layer_norm_linear.h"
#include "mf/ir/transition.h"
#include "reference_testing.h"

namespace mf::reference {
namespace {

using ir::DType;
using ir::EvoAttention;
using ir::MaskKind;
using testing::ProblemTensors;

struct EvoSizes {
  std::int64_t batch = 1, rows = 3, tokens = 5, heads = 2, head_dim = 3;
};

EvoAttention evo_problem(MaskKind mask, EvoSizes sizes = {}) {
  ir::EvoLayoutOptions options;
  options.dtype = DType::kF64;
  options.mask_kind = mask;
  // bias [B, 1, H, N, N]: shared over S
  return ir::msa_row_attention(sizes.batch, sizes.rows, sizes.tokens, sizes.heads, sizes.head_dim, options);
}

void expect_evo_gradients(EvoAttention op, std::uint64_t seed,
                          const std::function<void(ProblemTensors&)>& prepare = {}) {
  const std::uint32_t gradients = op.all_gradients();
  op = ir::with_gradients(std::move(op), gradients);
  testing::expect_gradients_match_finite_differences(op, "o", "d_o", seed, prepare);
}

TEST(EvoAttentionGradients, NoMask) { expect_evo_gradients(evo_problem(MaskKind::kNone), 1); }

TEST(EvoAttentionGradients, BooleanMaskWithAFullyMaskedRow) {
  expect_evo_gradients(evo_problem(MaskKind::kBoolean), 2, [](ProblemTensors& t) {
    for (std::int64_t key = 0; key < 5; ++key) t["mask"].set({{0, 2, 0, 0, key}}, 0.0);
    t["mask"].set({{0, 0, 0, 0, 3}}, 0.0);  // and a partly masked one
  });
}

TEST(EvoAttentionGradients, AdditiveMaskAndExplicitScale) {
  EvoAttention op = evo_problem(MaskKind::kAdditive);
  op.scale = 0.7;
  expect_evo_gradients(op, 3);
}

TEST(EvoAttentionGradients, BiasBroadcastOverBatchHeadsAndQueries) {
  EvoAttention op = evo_problem(MaskKind::kBoolean, {.batch = 2});
  op.bias = ir::TensorDesc::contiguous(DType::kF64, {1, 1, 1, 1, 5});
  expect_evo_gradients(op, 4);
}

TEST(EvoAttentionGradients, PerRowBiasAndTransposedViews) {
  EvoAttention op = evo_problem(MaskKind::kAdditive);
  op.bias = ir::TensorDesc::contiguous(DType::kF64, {1, 3, 2, 5, 5}).permuted({0, 1, 2, 4, 3});
  op.k = ir::TensorDesc::contiguous(DType::kF64, {1, 3, 2, 5, 3}).permuted({0, 1, 3, 2, 4});
  expect_evo_gradients(op, 5);
}

TEST(EvoAttentionGradients, TriangleEndingLayout) {
  ir::EvoLayoutOptions options;
  options.dtype = DType::kF64;
  expect_evo_gradients(ir::triangle_attention_ending(1, 4, 2, 3, options), 6);
}

// Odd sequence lengths (DESIGN.md §1.4): N = 1, where the softmax is identically 1, and
// N = 17, which no tile size divides. The boolean-mask cases drop every key of one row and
// some keys of another.
struct OddEvoCase {
  MaskKind mask;
  EvoSizes sizes;
};

class EvoAttentionGradientsAtOddN : public ::testing::TestWithParam<OddEvoCase> {};

TEST_P(EvoAttentionGradientsAtOddN, MatchFiniteDifferences) {
  const OddEvoCase& c = GetParam();
  const std::int64_t tokens = c.sizes.tokens;
  expect_evo_gradients(evo_problem(c.mask, c.sizes), 100 + static_cast<std::uint64_t>(tokens),
                       [&](ProblemTensors& t) {
                         if (c.mask != MaskKind::kBoolean) return;
                         for (std::int64_t s = 0; s < c.sizes.rows; ++s)
                           for (std::int64_t key = 0; key < tokens; ++key) t["mask"].set({{0, s, 0, 0, key}}, 1.0);
                         for (std::int64_t key = 0; key < tokens; ++key) t["mask"].set({{0, 0, 0, 0, key}}, 0.0);
                         if (tokens > 1)
                           for (std::int64_t key = 2; key < tokens; key += 4) t["mask"].set({{0, 1, 0, 0, key}}, 0.0);
                       });
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, EvoAttentionGradientsAtOddN,
    ::testing::Values(OddEvoCase{MaskKind::kBoolean, {.rows = 2, .tokens = 1, .heads = 2, .head_dim = 3}},
                      OddEvoCase{MaskKind::kAdditive, {.rows = 2, .tokens = 1, .heads = 1, .head_dim = 4}},
                      OddEvoCase{MaskKind::kBoolean, {.rows = 2, .tokens = 17, .heads = 2, .head_dim = 3}},
                      OddEvoCase{MaskKind::kAdditive, {.rows = 2, .tokens = 17, .heads = 1, .head_dim = 2}},
                      OddEvoCase{MaskKind::kAdditive, {.rows = 1, .tokens = 17, .heads = 2, .head_dim = 4}}),
    [](const auto& param_info) {
      const OddEvoCase& c = param_info.param;
      return std::string(c.mask == MaskKind::kBoolean ? "boolean_mask" : "additive_mask") + "_S" +
             std::to_string(c.sizes.rows) + "_N" + std::to_string(c.sizes.tokens) + "_H" +
             std::to_string(c.sizes.heads) + "_D" + std::to_string(c.sizes.head_dim);
    });

ir::LayerNormLinear linear_problem(bool torch_weight, bool with_beta, bool with_bias) {
  ir::LinearOptions options;
  options.dtype = DType::kF64;
  options.torch_weight = torch_weight;
  options.with_beta = with_beta;
  options.with_bias = with_bias;
  ir::LayerNormLinear op = ir::layer_norm_linear(4, 6, 3, options);
  return ir::with_gradients(op, op.all_gradients());
}

TEST(LayerNormLinearGradients, EveryWeightLayoutAndOptionalParameter) {
  for (bool torch_weight : {false, true})
    for (bool with_beta : {false, true})
      for (bool with_bias : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "torch_weight " << torch_weight << " beta " << with_beta << " bias "
                                          << with_bias);
        testing::expect_gradients_match_finite_differences(linear_problem(torch_weight, with_beta, with_bias), "y",
                                                           "d_y", 7);
      }
}

// M = 1 and M = 17 rows; K and N that are not multiples of 4.
TEST(LayerNormLinearGradients, OddRowCountsAndFeatureSizes) {
  for (std::int64_t rows : {1, 17})
    for (bool torch_weight : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "M " << rows << " torch_weight " << torch_weight);
      ir::LinearOptions options;
      options.dtype = DType::kF64;
      options.torch_weight = torch_weight;
      ir::LayerNormLinear op = ir::layer_norm_linear(rows, 7, 5, options);
      op = ir::with_gradients(op, op.all_gradients());
      testing::expect_gradients_match_finite_differences(op, "y", "d_y", 12 + static_cast<std::uint64_t>(rows));
    }
}

TEST(LayerNormLinearGradients, PaddedRowsAndStridedGamma) {
  ir::LayerNormLinear op = linear_problem(false, true, true);
  op.x.strides = {9, 1};
  op.gamma.strides = {2};
  op = ir::with_gradients(op, op.all_gradients());
  testing::expect_gradients_match_finite_differences(op, "y", "d_y", 8);
}

ir::Transition transition_problem(bool layer_norm, bool with_beta, bool torch_weights, std::int64_t rows = 3,
                                  std::int64_t dim = 4) {
  ir::TransitionOptions options;
  options.dtype = DType::kF64;
  options.layer_norm = layer_norm;
  options.with_beta = with_beta;
  options.torch_weights = torch_weights;
  ir::Transition op = ir::transition(rows, dim, 2, options);
  return ir::with_gradients(op, op.all_gradients());
}

TEST(TransitionGradients, WithAndWithoutLayerNorm) {
  for (bool torch_weights : {false, true}) {
    SCOPED_TRACE(::testing::Message() << "torch_weights " << torch_weights);
    testing::expect_gradients_match_finite_differences(transition_problem(true, true, torch_weights), "y", "d_y", 9);
    testing::expect_gradients_match_finite_differences(transition_problem(true, false, torch_weights), "y", "d_y", 10);
    testing::expect_gradients_match_finite_differences(transition_problem(false, false, torch_weights), "y", "d_y",
                                                       11);
  }
}

// M = 1 and M = 17 rows; D = 5 (hidden 10, W1 [5, 20]), not a multiple of 4.
TEST(TransitionGradients, OddRowCountsAndDim) {
  for (std::int64_t rows : {1, 17}) {
    SCOPED_TRACE(::testing::Message() << "M " << rows);
    const auto seed = static_cast<std::uint64_t>(rows);
    testing::expect_gradients_match_finite_differences(transition_problem(true, true, false, rows, 5), "y", "d_y",
                                                       20 + seed);
    testing::expect_gradients_match_finite_differences(transition_problem(false, false, true, rows, 5), "y", "d_y",
                                                       40 + seed);
  }
}

}  // namespace
}  // namespace mf::reference
