// The named operator layouts of evo_attention.h, layer_norm_linear.h and transition.h.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "ir/expect_error.h"
#include "ir/options.h"
#include "mf/ir/evo_attention.h"
#include "mf/ir/layer_norm_linear.h"
#include "mf/ir/problem.h"
#include "mf/ir/validate.h"
#include "mf/ir/transition.h"

namespace mf::ir {
namespace {

using Dims = std::vector<std::int64_t>;

TEST(EvoLayouts, ShapesOfEachVariant) {
  const EvoAttention single = single_attention(2, 17, 4, 16);
  EXPECT_EQ(single.q.shape, (Dims{2, 1, 17, 4, 16}));
  EXPECT_EQ(single.bias->shape, (Dims{2, 1, 4, 17, 17}));
  EXPECT_EQ(single.mask->shape, (Dims{2, 1, 1, 1, 17}));
  EXPECT_EQ(single.lse->shape, (Dims{2, 1, 4, 17}));
  EXPECT_EQ(single.mask->dtype, DType::kBool);

  const EvoAttention msa_row = msa_row_attention(1, 5, 17, 2, 8);
  EXPECT_EQ(msa_row.q.shape, (Dims{1, 5, 17, 2, 8}));
  EXPECT_EQ(msa_row.mask->shape, (Dims{1, 5, 1, 1, 17}));

  const EvoAttention msa_column =
      msa_column_attention(1, 5, 17, 2, 8, testing::with<EvoLayoutOptions>([&](auto& o) { o.with_bias = true; }));
  EXPECT_EQ(msa_column.q.shape, (Dims{1, 17, 5, 2, 8}));
  EXPECT_FALSE(msa_column.bias.has_value());
  EXPECT_EQ(msa_column.mask->shape, (Dims{1, 17, 1, 1, 5}));
}

TEST(EvoLayouts, TriangleEndingIsATransposedViewOfTheStartingMemory) {
  const EvoAttention starting = triangle_attention_starting(2, 17, 4, 8);
  const EvoAttention ending = triangle_attention_ending(2, 17, 4, 8);
  // Same logical shape, rows and sequence swapped by strides over the same elements.
  EXPECT_EQ(ending.q.shape, starting.q.shape);
  EXPECT_EQ(ending.q.permuted({0, 2, 1, 3, 4}), starting.q);
  EXPECT_EQ(ending.q.max_offset(), starting.q.max_offset());
  EXPECT_EQ(ending.q.numel(), starting.q.numel());
  EXPECT_TRUE(ending.q.is_non_overlapping());
  EXPECT_EQ(ending.k, ending.q);
  EXPECT_EQ(ending.o, ending.q);
  // The pair mask m[b, i, j] is read with row j and key i.
  EXPECT_EQ(ending.mask->shape, starting.mask->shape);
  EXPECT_EQ(ending.mask->permuted({0, 4, 2, 3, 1}), *starting.mask);
  EXPECT_EQ(ending.mask->strides, (Dims{17 * 17, 1, 17, 17, 17}));
  EXPECT_EQ(ending.mask->max_offset(), starting.mask->max_offset());
  // Bias and LSE are laid out as in the starting variant.
  EXPECT_EQ(ending.bias, starting.bias);
  EXPECT_EQ(ending.lse, starting.lse);
}

TEST(EvoLayouts, OptionsSetDTypes) {
  const EvoAttention op = single_attention(1, 5, 2, 8, testing::with<EvoLayoutOptions>([&](auto& o) {
                                             o.dtype = DType::kF16;
                                             o.bias_dtype = DType::kF32;
                                             o.mask_kind = MaskKind::kAdditive;
                                           }));
  EXPECT_EQ(op.q.dtype, DType::kF16);
  EXPECT_EQ(op.bias->dtype, DType::kF32);
  EXPECT_EQ(op.mask_kind, MaskKind::kAdditive);
  EXPECT_EQ(op.mask->dtype, DType::kF16);
  EXPECT_EQ(op.lse->dtype, DType::kF32);
  const EvoAttention unmasked =
      single_attention(1, 5, 2, 8, testing::with<EvoLayoutOptions>([&](auto& o) { o.mask_kind = MaskKind::kNone; }));
  EXPECT_FALSE(unmasked.mask.has_value());
}

TEST(EvoLayouts, ScaleAndGradients) {
  EvoAttention op = single_attention(1, 5, 2, 64);
  EXPECT_DOUBLE_EQ(op.effective_scale(), 0.125);
  op.scale = 0.5;
  EXPECT_DOUBLE_EQ(op.effective_scale(), 0.5);
  EXPECT_EQ(op.all_gradients(), EvoAttention::kAllGradients);
  EXPECT_EQ(single_attention(1, 5, 2, 64, testing::with<EvoLayoutOptions>([&](auto& o) { o.with_bias = false; }))
                .all_gradients(),
            EvoAttention::kGradQ | EvoAttention::kGradK | EvoAttention::kGradV);
}

// forward_operator undoes with_gradients for every operator: the result validates as a
// forward problem and equals the operator before its gradients were added.
TEST(EvoLayouts, ForwardOperatorRemovesEveryBackwardTensor) {
  const EvoAttention evo = triangle_attention_starting(1, 9, 2, 8);
  const LayerNormLinear lnl = layer_norm_linear(10, 16, 4);
  const Transition tr = transition(10, 16, 2);
  for (const Operator& forward : {Operator{evo}, Operator{lnl}, Operator{tr}}) {
    const Operator backward = std::visit([](const auto& o) { return Operator{with_gradients(o, o.all_gradients())}; },
                                         forward);
    EXPECT_NE(backward, forward);
    const Operator stripped = forward_operator(backward);
    EXPECT_EQ(stripped, forward);
    EXPECT_NO_THROW(validate(Problem{stripped, Direction::forward()}));
  }
}

TEST(EvoLayouts, WithGradientsLaysGradientsOutLikeTheirPrimals) {
  const EvoAttention forward = triangle_attention_ending(1, 9, 2, 8);
  const EvoAttention op = with_gradients(forward, EvoAttention::kGradK | EvoAttention::kGradBias);
  EXPECT_EQ(op.d_o, op.o);
  EXPECT_EQ(op.d_k, op.k);
  EXPECT_EQ(op.d_bias, op.bias);
  EXPECT_FALSE(op.d_q.has_value());
  EXPECT_FALSE(op.d_v.has_value());
  testing::expect_error(
      [] {
        (void)with_gradients(
            single_attention(1, 5, 2, 8, testing::with<EvoLayoutOptions>([&](auto& o) { o.with_bias = false; })),
            EvoAttention::kGradBias);
      },
      ErrorKind::kInvalidArgument, "gradients:");
}

TEST(LinearLayouts, TorchWeightIsTheTransposedNKMemory) {
  const TensorDesc weight = torch_weight(DType::kBF16, 128, 640);
  EXPECT_EQ(weight.shape, (Dims{128, 640}));
  EXPECT_EQ(weight.strides, (Dims{1, 128}));
  const LayerNormLinear op = layer_norm_linear(10, 128, 640, testing::with<LinearOptions>([&](auto& o) {
                                                 o.param_dtype = DType::kF32;
                                                 o.with_beta = false;
                                                 o.torch_weight = true;
                                               }));
  EXPECT_EQ(op.weight, weight);
  EXPECT_EQ(op.gamma.dtype, DType::kF32);
  EXPECT_FALSE(op.beta.has_value());
  EXPECT_EQ(op.bias->shape, (Dims{640}));
  EXPECT_EQ(op.y.shape, (Dims{10, 640}));
  EXPECT_EQ(op.mean->shape, (Dims{10}));
  EXPECT_EQ(op.out_features(), 640);
  EXPECT_EQ(op.all_gradients(), LayerNormLinear::kGradX | LayerNormLinear::kGradGamma | LayerNormLinear::kGradWeight |
                                    LayerNormLinear::kGradBias);
}

TEST(TransitionLayouts, ShapesAndOptionalLayerNorm) {
  const Transition op =
      transition(10, 128, 4, testing::with<TransitionOptions>([&](auto& o) { o.torch_weights = true; }));
  EXPECT_EQ(op.w1.shape, (Dims{128, 1024}));
  EXPECT_EQ(op.w1.strides, (Dims{1, 128}));
  EXPECT_EQ(op.w2.shape, (Dims{512, 128}));
  EXPECT_EQ(op.hidden(), 512);
  EXPECT_TRUE(op.has_layer_norm());
  const Transition plain =
      transition(10, 128, 2, testing::with<TransitionOptions>([&](auto& o) { o.layer_norm = false; }));
  EXPECT_FALSE(plain.has_layer_norm());
  EXPECT_FALSE(plain.beta.has_value());
  EXPECT_FALSE(plain.mean.has_value());
  EXPECT_EQ(plain.all_gradients(), Transition::kGradX | Transition::kGradW1 | Transition::kGradW2);
}

}  // namespace
}  // namespace mf::ir
