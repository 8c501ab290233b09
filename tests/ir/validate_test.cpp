#include "mf/ir/validate.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "ir/expect_error.h"
#include "ir/options.h"

namespace mf::ir {
namespace {

using testing::expect_error;

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

// ---- problems to break -------------------------------------------------------------------

// B=2, S=3, N=17, H=4, D=8 (bias [2, 1, 4, 17, 17], mask [2, 3, 1, 1, 17]).
EvoAttention evo(const EvoLayoutOptions& options = {}) { return msa_row_attention(2, 3, 17, 4, 8, options); }

Problem forward(Operator op) { return {std::move(op), Direction::forward()}; }

Problem backward(EvoAttention op, std::uint32_t gradients = EvoAttention::kAllGradients) {
  return {with_gradients(std::move(op), gradients), Direction::backward(gradients)};
}
Problem backward(LayerNormLinear op, std::uint32_t gradients) {
  return {with_gradients(std::move(op), gradients), Direction::backward(gradients)};
}
Problem backward(Transition op, std::uint32_t gradients) {
  return {with_gradients(std::move(op), gradients), Direction::backward(gradients)};
}

// The problem after `edit` changes its operator of type Op.
template <class Op>
Problem edited(Problem problem, const std::function<void(Op&)>& edit) {
  edit(std::get<Op>(problem.op));
  return problem;
}

void expect_invalid(const Problem& problem, ErrorKind kind, std::string_view substring,
                    std::source_location where = std::source_location::current()) {
  expect_error([&] { validate(problem); }, kind, substring, where);
}

template <class Op>
void expect_invalid_after(const Problem& problem, const std::function<void(Op&)>& edit, ErrorKind kind,
                          std::string_view substring, std::source_location where = std::source_location::current()) {
  expect_invalid(edited<Op>(problem, edit), kind, substring, where);
}

const Problem kEvoForward = forward(evo());
const Problem kEvoBackward = backward(evo());
const Problem kLinearForward = forward(layer_norm_linear(33, 24, 40));
const Problem kLinearBackward = backward(
    layer_norm_linear(33, 24, 40), LayerNormLinear::kGradX | LayerNormLinear::kGradGamma | LayerNormLinear::kGradBeta |
                                       LayerNormLinear::kGradWeight | LayerNormLinear::kGradBias);
const Problem kTransitionForward = forward(transition(33, 16, 4));
const Problem kTransitionBackward =
    backward(transition(33, 16, 4), Transition::kGradX | Transition::kGradGamma | Transition::kGradBeta |
                                        Transition::kGradW1 | Transition::kGradW2);

using EvoEdit = std::function<void(EvoAttention&)>;
using LinearEdit = std::function<void(LayerNormLinear&)>;
using TransitionEdit = std::function<void(Transition&)>;

// ---- every tensor ------------------------------------------------------------------------

TEST(ValidateTensor, RankMustBeBetweenOneAndMaxRank) {
  expect_invalid_after<EvoAttention>(
      kEvoForward,
      [](auto& op) {
        op.k = TensorDesc{DType::kBF16, {}, {}};
      },
      ErrorKind::kInvalidArgument, "k: rank 0 is out of range; must be between 1 and 8");
  expect_invalid_after<EvoAttention>(
      kEvoForward,
      [](auto& op) {
        op.q = TensorDesc::contiguous(DType::kBF16, {1, 1, 1, 1, 1, 1, 1, 1, 1});
      },
      ErrorKind::kInvalidArgument, "q: rank 9 is out of range");
}

TEST(ValidateTensor, NeedsOneStridePerDimension) {
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.v.strides.pop_back(); }, ErrorKind::kInvalidArgument,
      "v: has 4 strides for 5 dimensions");
}

TEST(ValidateTensor, SizesMustBePositive) {
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.k.shape[2] = 0; }, ErrorKind::kShapeMismatch,
      "k: dimension 2 has size 0, must be ≥ 1");
  expect_invalid_after<LayerNormLinear>(
      kLinearForward, [](auto& op) { op.y.shape[0] = -3; }, ErrorKind::kShapeMismatch,
      "y: dimension 0 has size -3, must be ≥ 1");
}

TEST(ValidateTensor, StridesMustBeNonNegative) {
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.q.strides[3] = -8; }, ErrorKind::kInvalidArgument,
      "q: dimension 3 has stride -8, must be ≥ 0");
}

TEST(ValidateTensor, DTypeValueMustBeKnown) {
  expect_invalid_after<LayerNormLinear>(
      kLinearForward, [](auto& op) { op.gamma.dtype = static_cast<DType>(42); }, ErrorKind::kInvalidArgument,
      "gamma: dtype value 42 is not a known dtype");
}

TEST(ValidateTensor, ElementCountMustFitInt64) {
  // Read tensors may broadcast by stride 0, so only the element count overflows.
  expect_invalid_after<LayerNormLinear>(
      kLinearForward,
      [](auto& op) {
        op.x = {DType::kBF16, {std::int64_t{1} << 62, 24}, {0, 1}};
        op.y = {DType::kBF16, {std::int64_t{1} << 62, 40}, {0, 1}};
        op.mean = op.rstd = TensorDesc{DType::kF32, {std::int64_t{1} << 62}, {0}};
      },
      ErrorKind::kOverflow, "x: element count of shape [4611686018427387904, 24] overflows int64");
}

TEST(ValidateTensor, LargestOffsetMustFitInt64) {
  expect_invalid_after<LayerNormLinear>(
      kLinearForward,
      [](auto& op) {
        op.weight.strides = {kInt64Max / 8, 1};
      },
      ErrorKind::kOverflow, "weight: largest element offset overflows int64");
}

TEST(ValidateTensor, ByteExtentMustFitInt64) {
  // The largest offset fits, but not once multiplied by 4 bytes per element.
  expect_invalid_after<LayerNormLinear>(
      kLinearForward,
      [](auto& op) {
        op.mean = TensorDesc{DType::kF32, {33}, {std::int64_t{1} << 56}};
      },
      ErrorKind::kOverflow, "mean: byte extent");
}

TEST(ValidateTensor, WrittenTensorsMustNotOverlapThemselves) {
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.o.strides[1] = 0; }, ErrorKind::kInvalidArgument,
      "o: overlaps itself (stride 0 or aliasing strides on a written tensor)");
  // Aliasing strides without a zero: rows of 24 elements that start 4 apart.
  expect_invalid_after<LayerNormLinear>(
      kLinearBackward,
      [](auto& op) {
        op.d_x->strides = {4, 1};
      },
      ErrorKind::kInvalidArgument, "d_x: overlaps itself");
}

TEST(ValidateTensor, ReadTensorsMayBroadcastByStrideZero) {
  validate(edited<EvoAttention>(kEvoForward, [](auto& op) { op.bias->strides[2] = 0; }));
  validate(edited<LayerNormLinear>(kLinearForward, [](auto& op) { op.x.strides[0] = 0; }));
}

// ---- EvoAttention shapes -------------------------------------------------------------------

TEST(ValidateEvoAttention, QueryMustHaveRankFive) {
  expect_invalid_after<EvoAttention>(
      kEvoForward,
      [](auto& op) {
        op.q = TensorDesc::contiguous(DType::kBF16, {2, 17, 4, 8});
      },
      ErrorKind::kShapeMismatch, "q: has rank 4, must have rank 5 ([B, S, N, H, D])");
}

TEST(ValidateEvoAttention, KeyValueAndOutputMustHaveTheQueryShape) {
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.k.shape[2] = 16; }, ErrorKind::kShapeMismatch,
      "k: has shape [2, 3, 16, 4, 8], must be [2, 3, 17, 4, 8] (the shape of q)");
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.v.shape[4] = 16; }, ErrorKind::kShapeMismatch,
      "v: has shape [2, 3, 17, 4, 16], must be [2, 3, 17, 4, 8] (the shape of q)");
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.o.shape[1] = 1; }, ErrorKind::kShapeMismatch, "o: has shape [2, 1, 17, 4, 8]");
}

TEST(ValidateEvoAttention, GradientsMustHaveTheirPrimalShape) {
  expect_invalid_after<EvoAttention>(
      kEvoBackward, [](auto& op) { op.d_o->shape[3] = 2; }, ErrorKind::kShapeMismatch,
      "d_o: has shape [2, 3, 17, 2, 8], must be [2, 3, 17, 4, 8] (the shape of o)");
  expect_invalid_after<EvoAttention>(
      kEvoBackward, [](auto& op) { op.d_q->shape[0] = 1; }, ErrorKind::kShapeMismatch,
      "d_q: has shape [1, 3, 17, 4, 8]");
  expect_invalid_after<EvoAttention>(
      kEvoBackward, [](auto& op) { op.d_k->shape[2] = 18; }, ErrorKind::kShapeMismatch, "(the shape of k)");
  expect_invalid_after<EvoAttention>(
      kEvoBackward, [](auto& op) { op.d_v->shape[4] = 4; }, ErrorKind::kShapeMismatch,
      "d_v: has shape [2, 3, 17, 4, 4]");
  expect_invalid_after<EvoAttention>(
      kEvoBackward,
      [](auto& op) {
        *op.d_bias = TensorDesc::contiguous(DType::kBF16, {2, 3, 4, 17, 17});
      },
      ErrorKind::kShapeMismatch, "d_bias: has shape [2, 3, 4, 17, 17], must be [2, 1, 4, 17, 17] (the shape of bias)");
}

TEST(ValidateEvoAttention, HeadDimAtMost256) {
  validate(forward(single_attention(1, 5, 2, 256)));
  expect_invalid(forward(single_attention(1, 5, 2, 257)), ErrorKind::kUnsupported,
                 "q: head dim D = 257 is not supported; must be between 1 and 256");
}

TEST(ValidateEvoAttention, BiasMustHaveRankFive) {
  expect_invalid_after<EvoAttention>(
      kEvoForward,
      [](auto& op) {
        op.bias = TensorDesc::contiguous(DType::kBF16, {2, 4, 17, 17});
      },
      ErrorKind::kShapeMismatch, "bias: has rank 4, must have rank 5 (broadcast to [B, S, H, N, N])");
}

TEST(ValidateEvoAttention, BiasDimensionsAreOneOrFull) {
  expect_invalid_after<EvoAttention>(
      kEvoForward,
      [](auto& op) {
        op.bias = TensorDesc::contiguous(DType::kBF16, {2, 1, 4, 7, 17});
      },
      ErrorKind::kShapeMismatch, "bias: dimension 3 has size 7, must be 1 or 17 (broadcast to [B, S, H, N, N])");
  expect_invalid_after<EvoAttention>(
      kEvoForward,
      [](auto& op) {
        op.bias = TensorDesc::contiguous(DType::kBF16, {2, 2, 4, 17, 17});
      },
      ErrorKind::kShapeMismatch, "bias: dimension 1 has size 2, must be 1 or 3");
  // Every dimension may broadcast, including the key dimension.
  validate(edited<EvoAttention>(kEvoForward, [](auto& op) {
    op.bias = TensorDesc::contiguous(DType::kF32, {1, 3, 1, 17, 1});
  }));
}

TEST(ValidateEvoAttention, MaskPresentExactlyWithAMaskKind) {
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.mask_kind = MaskKind::kNone; }, ErrorKind::kInvalidArgument,
      "mask: must be absent when mask_kind is none");
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.mask.reset(); }, ErrorKind::kInvalidArgument,
      "mask: must be given when mask_kind is boolean");
  expect_invalid_after<EvoAttention>(
      kEvoForward,
      [](auto& op) {
        op.mask.reset();
        op.mask_kind = MaskKind::kAdditive;
      },
      ErrorKind::kInvalidArgument, "mask: must be given when mask_kind is additive");
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.mask_kind = static_cast<MaskKind>(9); }, ErrorKind::kInvalidArgument,
      "mask_kind: value 9 is not a known mask kind");
}

TEST(ValidateEvoAttention, MaskBroadcastsToKeyMask) {
  expect_invalid_after<EvoAttention>(
      kEvoForward,
      [](auto& op) {
        op.mask = TensorDesc::contiguous(DType::kBool, {2, 3, 17});
      },
      ErrorKind::kShapeMismatch, "mask: has rank 3, must have rank 5 (broadcast to [B, S, 1, 1, N])");
  expect_invalid_after<EvoAttention>(
      kEvoForward,
      [](auto& op) {
        op.mask = TensorDesc::contiguous(DType::kBool, {2, 3, 4, 1, 17});
      },
      ErrorKind::kShapeMismatch, "mask: dimension 2 has size 4, must be 1 (broadcast to [B, S, 1, 1, N])");
  expect_invalid_after<EvoAttention>(
      kEvoForward,
      [](auto& op) {
        op.mask = TensorDesc::contiguous(DType::kBool, {2, 3, 1, 17, 17});
      },
      ErrorKind::kShapeMismatch, "mask: dimension 3 has size 17, must be 1");
  expect_invalid_after<EvoAttention>(
      kEvoForward,
      [](auto& op) {
        op.mask = TensorDesc::contiguous(DType::kBool, {2, 3, 1, 1, 1});
      },
      ErrorKind::kShapeMismatch, "mask: dimension 4 has size 1, must be 17 (broadcast to [B, S, 1, 1, N])");
  expect_invalid_after<EvoAttention>(
      kEvoForward,
      [](auto& op) {
        op.mask = TensorDesc::contiguous(DType::kBool, {5, 3, 1, 1, 17});
      },
      ErrorKind::kShapeMismatch, "mask: dimension 0 has size 5, must be 1 or 2");
  validate(edited<EvoAttention>(kEvoForward, [](auto& op) {
    op.mask = TensorDesc::contiguous(DType::kBool, {1, 1, 1, 1, 17});
  }));
}

TEST(ValidateEvoAttention, LseIsBSHNAndRequiredInTheBackward) {
  expect_invalid_after<EvoAttention>(
      kEvoForward,
      [](auto& op) {
        op.lse = TensorDesc::contiguous(DType::kF32, {2, 3, 17, 4});
      },
      ErrorKind::kShapeMismatch, "lse: has shape [2, 3, 17, 4], must be [2, 3, 4, 17] ([B, S, H, N])");
  validate(edited<EvoAttention>(kEvoForward, [](auto& op) { op.lse.reset(); }));
  expect_invalid_after<EvoAttention>(
      kEvoBackward, [](auto& op) { op.lse.reset(); }, ErrorKind::kInvalidArgument,
      "lse: must be given in the backward pass");
}

TEST(ValidateEvoAttention, ScaleMustBeFinite) {
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.scale = std::numeric_limits<double>::quiet_NaN(); }, ErrorKind::kInvalidArgument,
      "scale: must be finite, got nan");
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.scale = -std::numeric_limits<double>::infinity(); }, ErrorKind::kInvalidArgument,
      "scale: must be finite, got -inf");
  validate(edited<EvoAttention>(kEvoForward, [](auto& op) { op.scale = 0.125; }));
}

TEST(ValidateEvoAttention, DBiasModeMustBeKnown) {
  expect_invalid_after<EvoAttention>(
      kEvoBackward, [](auto& op) { op.dbias_mode = static_cast<DBiasMode>(5); }, ErrorKind::kInvalidArgument,
      "dbias_mode: value 5 is not a known dbias mode");
}

// ---- EvoAttention dtypes -------------------------------------------------------------------

TEST(ValidateEvoAttention, QueryDTypeMustBeFloating) {
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.q.dtype = op.k.dtype = op.v.dtype = op.o.dtype = DType::kBool; },
      ErrorKind::kUnsupported, "q: dtype bool is not supported; use f16, bf16, f32 or f64");
}

TEST(ValidateEvoAttention, ActivationDTypesMustAgree) {
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.k.dtype = DType::kF32; }, ErrorKind::kInvalidArgument,
      "k: dtype f32 differs from the dtype of q (bf16); they must be equal");
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.v.dtype = DType::kF16; }, ErrorKind::kInvalidArgument,
      "v: dtype f16 differs from the dtype of q");
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.o.dtype = DType::kF32; }, ErrorKind::kInvalidArgument, "o: dtype f32 differs");
  expect_invalid_after<EvoAttention>(
      kEvoBackward, [](auto& op) { op.d_o->dtype = DType::kF32; }, ErrorKind::kInvalidArgument,
      "d_o: dtype f32 differs from the dtype of o");
  expect_invalid_after<EvoAttention>(
      kEvoBackward, [](auto& op) { op.d_q->dtype = DType::kF32; }, ErrorKind::kInvalidArgument,
      "d_q: dtype f32 differs from the dtype of q");
  expect_invalid_after<EvoAttention>(
      kEvoBackward, [](auto& op) { op.d_k->dtype = DType::kF16; }, ErrorKind::kInvalidArgument,
      "d_k: dtype f16 differs from the dtype of k");
  expect_invalid_after<EvoAttention>(
      kEvoBackward, [](auto& op) { op.d_v->dtype = DType::kF64; }, ErrorKind::kInvalidArgument,
      "d_v: dtype f64 differs from the dtype of v");
  expect_invalid_after<EvoAttention>(
      kEvoBackward, [](auto& op) { op.d_bias->dtype = DType::kF32; }, ErrorKind::kInvalidArgument,
      "d_bias: dtype f32 differs from the dtype of bias");
}

TEST(ValidateEvoAttention, BiasDTypeIsTheQueryDTypeOrF32) {
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.bias->dtype = DType::kF16; }, ErrorKind::kUnsupported,
      "bias: dtype f16 is not supported; use bf16 or f32 (the dtype of q, or f32)");
  validate(forward(evo(testing::with<EvoLayoutOptions>([&](auto& o) { o.bias_dtype = DType::kF32; }))));
}

TEST(ValidateEvoAttention, MaskDTypeFollowsTheMaskKind) {
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.mask->dtype = DType::kBF16; }, ErrorKind::kUnsupported,
      "mask: dtype bf16 is not supported; use bool (mask_kind is boolean)");
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.mask_kind = MaskKind::kAdditive; }, ErrorKind::kUnsupported,
      "mask: dtype bool is not supported; use bf16 or f32");
  validate(forward(evo(testing::with<EvoLayoutOptions>([&](auto& o) { o.mask_kind = MaskKind::kAdditive; }))));
  validate(forward(evo(testing::with<EvoLayoutOptions>([&](auto& o) {
    o.mask_kind = MaskKind::kAdditive;
    o.additive_mask_dtype = DType::kF32;
  }))));
}

TEST(ValidateEvoAttention, LseIsF32) {
  expect_invalid_after<EvoAttention>(
      kEvoForward, [](auto& op) { op.lse->dtype = DType::kBF16; }, ErrorKind::kUnsupported,
      "lse: dtype bf16 is not supported; use f32");
}

// ---- gradient sets (EvoAttention) ----------------------------------------------------------

TEST(ValidateGradients, ForwardWantsNoGradients) {
  Problem problem = kEvoForward;
  problem.direction.gradients = EvoAttention::kGradQ;
  expect_invalid(problem, ErrorKind::kInvalidArgument, "gradients: must be 0 in the forward pass, got 0x1");
}

TEST(ValidateGradients, ForwardTakesNoGradientTensors) {
  Problem problem = kEvoBackward;
  problem.direction = Direction::forward();
  expect_invalid(problem, ErrorKind::kInvalidArgument, "d_o: must be absent in the forward pass");
  expect_invalid_after<EvoAttention>(
      problem, [](auto& op) { op.d_o.reset(); }, ErrorKind::kInvalidArgument,
      "d_q: must be absent in the forward pass");
}

TEST(ValidateGradients, BackwardWantsSomeGradient) {
  Problem problem = kEvoBackward;
  problem.direction.gradients = 0;
  expect_invalid(problem, ErrorKind::kInvalidArgument, "gradients: the backward must ask for at least one gradient");
}

TEST(ValidateGradients, UnknownBitsAreRejected) {
  Problem problem = kEvoBackward;
  problem.direction.gradients |= 0x30;
  expect_invalid(problem, ErrorKind::kInvalidArgument,
                 "gradients: unknown bits 0x30 (known bits: 0x1 q, 0x2 k, 0x4 v, 0x8 bias)");
}

TEST(ValidateGradients, BiasGradientNeedsABias) {
  Problem problem =
      backward(evo(testing::with<EvoLayoutOptions>([&](auto& o) { o.with_bias = false; })), EvoAttention::kGradQ);
  problem.direction.gradients |= EvoAttention::kGradBias;
  expect_invalid(problem, ErrorKind::kInvalidArgument,
                 "gradients: asks for the gradient of bias (bit 0x8), but bias is absent");
}

TEST(ValidateGradients, BackwardNeedsTheOutputGradient) {
  expect_invalid_after<EvoAttention>(
      kEvoBackward, [](auto& op) { op.d_o.reset(); }, ErrorKind::kInvalidArgument,
      "d_o: must be given in the backward pass");
}

TEST(ValidateGradients, WantedGradientsMustBeGiven) {
  expect_invalid_after<EvoAttention>(
      kEvoBackward, [](auto& op) { op.d_k.reset(); }, ErrorKind::kInvalidArgument,
      "d_k: must be given because the backward asks for the gradient of k (bit 0x2)");
  expect_invalid_after<EvoAttention>(
      kEvoBackward, [](auto& op) { op.d_bias.reset(); }, ErrorKind::kInvalidArgument,
      "d_bias: must be given because the backward asks for the gradient of bias");
}

TEST(ValidateGradients, UnwantedGradientsMustBeAbsent) {
  Problem problem = backward(evo(), EvoAttention::kGradQ | EvoAttention::kGradK);
  expect_invalid_after<EvoAttention>(
      problem, [](auto& op) { op.d_v = op.v; }, ErrorKind::kInvalidArgument,
      "d_v: must be absent because the backward does not ask for the gradient of v");
}

TEST(ValidateGradients, UnknownPassIsRejected) {
  Problem problem = kEvoForward;
  problem.direction.pass = static_cast<Pass>(3);
  expect_invalid(problem, ErrorKind::kInvalidArgument, "pass: value 3 is not a known pass");
}

// ---- EvoAttention layouts that must pass -----------------------------------------------------

struct Layout {
  std::string name;
  std::function<EvoAttention(std::int64_t tokens, const EvoLayoutOptions&)> make;
};

std::vector<Layout> all_layouts() {
  return {
      {"single", [](std::int64_t n, const EvoLayoutOptions& o) { return single_attention(2, n, 4, 16, o); }},
      {"triangle_starting",
       [](std::int64_t n, const EvoLayoutOptions& o) { return triangle_attention_starting(1, n, 2, 32, o); }},
      {"triangle_ending",
       [](std::int64_t n, const EvoLayoutOptions& o) { return triangle_attention_ending(1, n, 2, 32, o); }},
      {"msa_row", [](std::int64_t n, const EvoLayoutOptions& o) { return msa_row_attention(1, 5, n, 2, 24, o); }},
      {"msa_column", [](std::int64_t n, const EvoLayoutOptions& o) { return msa_column_attention(1, 5, n, 2, 24, o); }},
  };
}

std::vector<EvoLayoutOptions> option_variants() {
  return {
      {},
      testing::with<EvoLayoutOptions>([&](auto& o) {
        o.dtype = DType::kF16;
        o.bias_dtype = DType::kF32;
      }),
      testing::with<EvoLayoutOptions>([&](auto& o) {
        o.dtype = DType::kF32;
        o.mask_kind = MaskKind::kAdditive;
      }),
      testing::with<EvoLayoutOptions>([&](auto& o) {
        o.dtype = DType::kBF16;
        o.mask_kind = MaskKind::kAdditive;
        o.additive_mask_dtype = DType::kF32;
      }),
      testing::with<EvoLayoutOptions>([&](auto& o) {
        o.dtype = DType::kF64;
        o.with_bias = false;
        o.mask_kind = MaskKind::kNone;
      }),
  };
}

TEST(ValidateEvoAttention, EveryLayoutValidatesForwardAndBackward) {
  for (const Layout& layout : all_layouts())
    for (std::int64_t tokens : {1, 17, 97})
      for (const EvoLayoutOptions& options : option_variants()) {
        SCOPED_TRACE(::testing::Message() << layout.name << " N=" << tokens << " dtype=" << name_of(options.dtype));
        const EvoAttention op = layout.make(tokens, options);
        EXPECT_NO_THROW(validate(forward(op)));
        EXPECT_NO_THROW(validate(backward(op, op.all_gradients())));
        EXPECT_NO_THROW(validate(backward(op, EvoAttention::kGradV)));
      }
}

// ---- LayerNormLinear -----------------------------------------------------------------------

TEST(ValidateLayerNormLinear, OptionalPartsAndTorchWeights) {
  for (bool with_beta : {false, true})
    for (bool with_bias : {false, true})
      for (bool torch : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "beta=" << with_beta << " bias=" << with_bias << " torch=" << torch);
        const LayerNormLinear op = layer_norm_linear(97, 64, 17, testing::with<LinearOptions>([&](auto& o) {
                                                       o.param_dtype = DType::kF32;
                                                       o.with_beta = with_beta;
                                                       o.with_bias = with_bias;
                                                       o.torch_weight = torch;
                                                     }));
        EXPECT_NO_THROW(validate(forward(op)));
        EXPECT_NO_THROW(validate(backward(op, op.all_gradients())));
        EXPECT_NO_THROW(validate(backward(op, LayerNormLinear::kGradX)));
      }
  LayerNormLinear without_statistics = layer_norm_linear(5, 8, 3);
  without_statistics.mean.reset();
  without_statistics.rstd.reset();
  EXPECT_NO_THROW(validate(forward(without_statistics)));
}

TEST(ValidateLayerNormLinear, Shapes) {
  expect_invalid_after<LayerNormLinear>(
      kLinearForward,
      [](auto& op) {
        op.x = TensorDesc::contiguous(DType::kBF16, {33, 24, 1});
      },
      ErrorKind::kShapeMismatch, "x: has rank 3, must have rank 2 ([M, K])");
  expect_invalid_after<LayerNormLinear>(
      kLinearForward, [](auto& op) { op.gamma = TensorDesc::contiguous(DType::kBF16, {40}); },
      ErrorKind::kShapeMismatch, "gamma: has shape [40], must be [24] ([K])");
  expect_invalid_after<LayerNormLinear>(
      kLinearForward,
      [](auto& op) {
        op.beta = TensorDesc::contiguous(DType::kBF16, {24, 1});
      },
      ErrorKind::kShapeMismatch, "beta: has shape [24, 1], must be [24] ([K])");
  expect_invalid_after<LayerNormLinear>(
      kLinearForward,
      [](auto& op) {
        op.weight = TensorDesc::contiguous(DType::kBF16, {24, 40, 1});
      },
      ErrorKind::kShapeMismatch, "weight: has rank 3, must have rank 2 (logical [K, N])");
  expect_invalid_after<LayerNormLinear>(
      kLinearForward,
      [](auto& op) {
        op.weight = TensorDesc::contiguous(DType::kBF16, {40, 24});
      },
      ErrorKind::kShapeMismatch, "weight: dimension 0 has size 40, must be 24 (K, the columns of x");
  expect_invalid_after<LayerNormLinear>(
      kLinearForward, [](auto& op) { op.bias = TensorDesc::contiguous(DType::kBF16, {24}); }, ErrorKind::kShapeMismatch,
      "bias: has shape [24], must be [40] ([N])");
  expect_invalid_after<LayerNormLinear>(
      kLinearForward,
      [](auto& op) {
        op.y = TensorDesc::contiguous(DType::kBF16, {33, 24});
      },
      ErrorKind::kShapeMismatch, "y: has shape [33, 24], must be [33, 40] ([M, N])");
  expect_invalid_after<LayerNormLinear>(
      kLinearBackward, [](auto& op) { op.d_weight = op.x; }, ErrorKind::kShapeMismatch,
      "d_weight: has shape [33, 24], must be [24, 40] (the shape of weight)");
  expect_invalid_after<LayerNormLinear>(
      kLinearBackward, [](auto& op) { op.d_y = op.x; }, ErrorKind::kShapeMismatch,
      "d_y: has shape [33, 24], must be [33, 40] (the shape of y)");
}

TEST(ValidateLayerNormLinear, Statistics) {
  expect_invalid_after<LayerNormLinear>(
      kLinearForward, [](auto& op) { op.rstd.reset(); }, ErrorKind::kInvalidArgument,
      "rstd: must be given together with mean");
  expect_invalid_after<LayerNormLinear>(
      kLinearForward, [](auto& op) { op.mean.reset(); }, ErrorKind::kInvalidArgument,
      "mean: must be given together with rstd");
  expect_invalid_after<LayerNormLinear>(
      kLinearForward, [](auto& op) { op.rstd = TensorDesc::contiguous(DType::kF32, {32}); }, ErrorKind::kShapeMismatch,
      "rstd: has shape [32], must be [33] ([M])");
  expect_invalid_after<LayerNormLinear>(
      kLinearBackward,
      [](auto& op) {
        op.mean.reset();
        op.rstd.reset();
      },
      ErrorKind::kInvalidArgument, "mean: must be given in the backward pass");
  expect_invalid_after<LayerNormLinear>(
      kLinearForward, [](auto& op) { op.mean->dtype = DType::kBF16; }, ErrorKind::kUnsupported,
      "mean: dtype bf16 is not supported; use f32");
}

TEST(ValidateLayerNormLinear, EpsMustBeFiniteAndPositive) {
  for (double eps : {0.0, -1e-5, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()})
    expect_invalid_after<LayerNormLinear>(
        kLinearForward, [eps](auto& op) { op.eps = eps; }, ErrorKind::kInvalidArgument, "eps: must be finite and > 0");
}

TEST(ValidateLayerNormLinear, DTypes) {
  expect_invalid(forward(layer_norm_linear(4, 8, 2, testing::with<LinearOptions>([&](auto& o) {
                                             o.dtype = DType::kBool;
                                             o.param_dtype = DType::kF32;
                                           }))),
                 ErrorKind::kUnsupported, "x: dtype bool is not supported; use f16, bf16, f32 or f64");
  expect_invalid_after<LayerNormLinear>(
      kLinearForward, [](auto& op) { op.weight.dtype = DType::kF32; }, ErrorKind::kInvalidArgument,
      "weight: dtype f32 differs from the dtype of x");
  expect_invalid_after<LayerNormLinear>(
      kLinearForward, [](auto& op) { op.y.dtype = DType::kF16; }, ErrorKind::kInvalidArgument,
      "y: dtype f16 differs from the dtype of x");
  expect_invalid_after<LayerNormLinear>(
      kLinearForward, [](auto& op) { op.gamma.dtype = DType::kF16; }, ErrorKind::kUnsupported,
      "gamma: dtype f16 is not supported; use bf16 or f32 (the dtype of x, or f32)");
  expect_invalid_after<LayerNormLinear>(
      kLinearForward, [](auto& op) { op.beta->dtype = DType::kF64; }, ErrorKind::kUnsupported,
      "beta: dtype f64 is not supported");
  expect_invalid_after<LayerNormLinear>(
      kLinearForward, [](auto& op) { op.bias->dtype = DType::kBool; }, ErrorKind::kUnsupported,
      "bias: dtype bool is not supported");
  const Problem f32_params = backward(
      layer_norm_linear(33, 24, 40, testing::with<LinearOptions>([&](auto& o) { o.param_dtype = DType::kF32; })),
      LayerNormLinear::kGradGamma | LayerNormLinear::kGradX);
  validate(f32_params);
  expect_invalid_after<LayerNormLinear>(
      f32_params, [](auto& op) { op.d_gamma->dtype = DType::kBF16; }, ErrorKind::kInvalidArgument,
      "d_gamma: dtype bf16 differs from the dtype of gamma (f32)");
  expect_invalid_after<LayerNormLinear>(
      f32_params, [](auto& op) { op.d_x->dtype = DType::kF32; }, ErrorKind::kInvalidArgument,
      "d_x: dtype f32 differs from the dtype of x");
}

TEST(ValidateLayerNormLinear, GradientRules) {
  const LayerNormLinear no_beta =
      layer_norm_linear(5, 8, 3, testing::with<LinearOptions>([&](auto& o) { o.with_beta = false; }));
  Problem problem = backward(no_beta, LayerNormLinear::kGradX);
  problem.direction.gradients |= LayerNormLinear::kGradBeta;
  expect_invalid(problem, ErrorKind::kInvalidArgument, "gradients: asks for the gradient of beta (bit 0x4), but beta");
  problem.direction.gradients = LayerNormLinear::kGradX | 0x40;
  expect_invalid(problem, ErrorKind::kInvalidArgument, "gradients: unknown bits 0x40");
  expect_invalid_after<LayerNormLinear>(
      kLinearBackward, [](auto& op) { op.d_weight.reset(); }, ErrorKind::kInvalidArgument,
      "d_weight: must be given because the backward");
  expect_invalid_after<LayerNormLinear>(
      kLinearBackward, [](auto& op) { op.d_y.reset(); }, ErrorKind::kInvalidArgument,
      "d_y: must be given in the backward pass");
  Problem as_forward = kLinearBackward;
  as_forward.direction = Direction::forward();
  expect_invalid(as_forward, ErrorKind::kInvalidArgument, "d_y: must be absent in the forward pass");
}

// ---- Transition ----------------------------------------------------------------------------

TEST(ValidateTransition, OptionalPartsAndTorchWeights) {
  for (bool layer_norm : {false, true})
    for (bool with_beta : {false, true})
      for (bool torch : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "ln=" << layer_norm << " beta=" << with_beta << " torch=" << torch);
        const Transition op = transition(97, 24, 2, testing::with<TransitionOptions>([&](auto& o) {
                                           o.layer_norm = layer_norm;
                                           o.with_beta = with_beta;
                                           o.torch_weights = torch;
                                         }));
        EXPECT_NO_THROW(validate(forward(op)));
        EXPECT_NO_THROW(validate(backward(op, op.all_gradients())));
        EXPECT_NO_THROW(validate(backward(op, Transition::kGradW2)));
      }
  EXPECT_NO_THROW(validate(forward(transition(3, 8, 4, testing::with<TransitionOptions>([&](auto& o) {
                                                o.dtype = DType::kF16;
                                                o.param_dtype = DType::kF32;
                                              })))));
}

TEST(ValidateTransition, Shapes) {
  expect_invalid_after<Transition>(
      kTransitionForward, [](auto& op) { op.x = TensorDesc::contiguous(DType::kBF16, {33}); },
      ErrorKind::kShapeMismatch, "x: has rank 1, must have rank 2 ([M, D])");
  expect_invalid_after<Transition>(
      kTransitionForward, [](auto& op) { op.gamma = TensorDesc::contiguous(DType::kBF16, {15}); },
      ErrorKind::kShapeMismatch, "gamma: has shape [15], must be [16] ([D])");
  expect_invalid_after<Transition>(
      kTransitionForward, [](auto& op) { op.beta = TensorDesc::contiguous(DType::kBF16, {17}); },
      ErrorKind::kShapeMismatch, "beta: has shape [17], must be [16] ([D])");
  expect_invalid_after<Transition>(
      kTransitionForward,
      [](auto& op) {
        op.w1 = TensorDesc::contiguous(DType::kBF16, {16, 128, 1});
      },
      ErrorKind::kShapeMismatch, "w1: has rank 3, must have rank 2 (logical [D, 2F])");
  expect_invalid_after<Transition>(
      kTransitionForward,
      [](auto& op) {
        op.w1 = TensorDesc::contiguous(DType::kBF16, {128, 16});
      },
      ErrorKind::kShapeMismatch, "w1: dimension 0 has size 128, must be 16 (D, the columns of x");
  expect_invalid_after<Transition>(
      kTransitionForward,
      [](auto& op) {
        op.w1 = TensorDesc::contiguous(DType::kBF16, {16, 127});
      },
      ErrorKind::kShapeMismatch, "w1: dimension 1 has size 127, must be even");
  expect_invalid_after<Transition>(
      kTransitionForward,
      [](auto& op) {
        op.w2 = TensorDesc::contiguous(DType::kBF16, {16, 64});
      },
      ErrorKind::kShapeMismatch, "w2: has shape [16, 64], must be [64, 16] ([F, D], F half the columns of w1)");
  expect_invalid_after<Transition>(
      kTransitionForward,
      [](auto& op) {
        op.y = TensorDesc::contiguous(DType::kBF16, {33, 64});
      },
      ErrorKind::kShapeMismatch, "y: has shape [33, 64], must be [33, 16] ([M, D])");
  expect_invalid_after<Transition>(
      kTransitionBackward, [](auto& op) { op.d_w1 = op.w2; }, ErrorKind::kShapeMismatch,
      "d_w1: has shape [64, 16], must be [16, 128]");
}

TEST(ValidateTransition, LayerNormParts) {
  expect_invalid_after<Transition>(
      kTransitionForward, [](auto& op) { op.gamma.reset(); }, ErrorKind::kInvalidArgument, "beta: requires gamma");
  expect_invalid_after<Transition>(
      forward(transition(33, 16, 4, testing::with<TransitionOptions>([&](auto& o) { o.layer_norm = false; }))),
      [](auto& op) { op.mean = op.rstd = TensorDesc::contiguous(DType::kF32, {33}); }, ErrorKind::kInvalidArgument,
      "mean: must be absent without the LayerNorm (gamma is absent)");
  expect_invalid_after<Transition>(
      kTransitionBackward,
      [](auto& op) {
        op.mean.reset();
        op.rstd.reset();
      },
      ErrorKind::kInvalidArgument, "mean: must be given in the backward pass");
  expect_invalid_after<Transition>(
      kTransitionForward, [](auto& op) { op.mean.reset(); }, ErrorKind::kInvalidArgument,
      "mean: must be given together with rstd");
  expect_invalid_after<Transition>(
      kTransitionForward, [](auto& op) { op.rstd->dtype = DType::kF16; }, ErrorKind::kUnsupported,
      "rstd: dtype f16 is not supported; use f32");
  // Without the LayerNorm the backward has no statistics to read.
  EXPECT_NO_THROW(
      validate(backward(transition(33, 16, 4, testing::with<TransitionOptions>([&](auto& o) { o.layer_norm = false; })),
                        Transition::kGradX)));
}

TEST(ValidateTransition, EpsAndDTypes) {
  expect_invalid_after<Transition>(
      kTransitionForward, [](auto& op) { op.eps = 0.0; }, ErrorKind::kInvalidArgument,
      "eps: must be finite and > 0, got 0");
  expect_invalid(forward(transition(3, 8, 4, testing::with<TransitionOptions>([&](auto& o) {
                                      o.dtype = DType::kBool;
                                      o.param_dtype = DType::kF32;
                                    }))),
                 ErrorKind::kUnsupported, "x: dtype bool is not supported");
  expect_invalid_after<Transition>(
      kTransitionForward, [](auto& op) { op.w1.dtype = DType::kF32; }, ErrorKind::kInvalidArgument,
      "w1: dtype f32 differs from the dtype of x (bf16)");
  expect_invalid_after<Transition>(
      kTransitionForward, [](auto& op) { op.w2.dtype = DType::kF32; }, ErrorKind::kInvalidArgument,
      "w2: dtype f32 differs from the dtype of x");
  expect_invalid_after<Transition>(
      kTransitionForward, [](auto& op) { op.y.dtype = DType::kF32; }, ErrorKind::kInvalidArgument,
      "y: dtype f32 differs from the dtype of x");
  expect_invalid_after<Transition>(
      kTransitionForward, [](auto& op) { op.gamma->dtype = DType::kF16; }, ErrorKind::kUnsupported,
      "gamma: dtype f16 is not supported; use bf16 or f32");
  expect_invalid_after<Transition>(
      kTransitionBackward, [](auto& op) { op.d_w2->dtype = DType::kF32; }, ErrorKind::kInvalidArgument,
      "d_w2: dtype f32 differs from the dtype of w2");
}

TEST(ValidateTransition, GradientRules) {
  Problem problem =
      backward(transition(33, 16, 4, testing::with<TransitionOptions>([&](auto& o) { o.layer_norm = false; })),
               Transition::kGradX);
  problem.direction.gradients |= Transition::kGradGamma;
  expect_invalid(problem, ErrorKind::kInvalidArgument, "gradients: asks for the gradient of gamma (bit 0x2)");
  expect_invalid_after<Transition>(
      kTransitionBackward, [](auto& op) { op.d_w1.reset(); }, ErrorKind::kInvalidArgument,
      "d_w1: must be given because the backward asks for the gradient of w1 (bit 0x8)");
  Problem some = backward(transition(33, 16, 4), Transition::kGradX);
  expect_invalid_after<Transition>(
      some, [](auto& op) { op.d_gamma = op.gamma; }, ErrorKind::kInvalidArgument,
      "d_gamma: must be absent because the backward does not ask");
}

// ---- index width and alignment -------------------------------------------------------------

// x [2, 1] whose second row starts `row_stride` elements in.
Problem linear_with_row_stride(std::int64_t row_stride) {
  LayerNormLinear op = layer_norm_linear(2, 1, 1);
  op.x.strides = {row_stride, 1};
  return forward(op);
}

TEST(ValidateIndexWidth, LargestOffsetMustFitTheIndexType) {
  const Problem at_limit = linear_with_row_stride((std::int64_t{1} << 31) - 1);
  const Problem past_limit = linear_with_row_stride(std::int64_t{1} << 31);
  validate(past_limit);
  EXPECT_NO_THROW(validate_index_width(at_limit, 32));
  expect_error([&] { validate_index_width(past_limit, 32); }, ErrorKind::kOverflow,
               "x: largest element offset 2147483648 does not fit a signed 32-bit index (at most 2147483647)");
  EXPECT_NO_THROW(validate_index_width(past_limit, 64));
}

TEST(ValidateIndexWidth, BitsMustBeInRange) {
  expect_error([&] { validate_index_width(kLinearForward, 0); }, ErrorKind::kInvalidArgument,
               "bits: 0 is out of range; must be between 2 and 64");
  expect_error([&] { validate_index_width(kLinearForward, 65); }, ErrorKind::kInvalidArgument, "bits: 65");
}

TEST(ValidateIndexWidth, OffsetOverflowIsNamed) {
  LayerNormLinear op = layer_norm_linear(3, 1, 1);
  op.x.strides = {std::int64_t{1} << 62, 1};  // the third row starts at 2^63
  expect_error([&] { validate_index_width(forward(op), 64); }, ErrorKind::kOverflow,
               "x: largest element offset overflows int64");
}

TEST(ValidateAlignment, AddressMustBeAMultiple) {
  alignas(16) static unsigned char buffer[64];
  EXPECT_NO_THROW(validate_alignment("q", buffer, 16));
  EXPECT_NO_THROW(validate_alignment("q", buffer + 8, 8));
  EXPECT_NO_THROW(validate_alignment("q", nullptr, 16));
  const auto* address = reinterpret_cast<const void*>(std::uintptr_t{0x1008});
  expect_error([&] { validate_alignment("q", address, 16); }, ErrorKind::kMisaligned,
               "q: address 0x1008 is not aligned to 16 bytes");
  expect_error([&] { validate_alignment("d_bias", buffer + 2, 4); }, ErrorKind::kMisaligned,
               "is not aligned to 4 bytes");
}

TEST(ValidateAlignment, AlignmentMustBeAPowerOfTwo) {
  expect_error([&] { validate_alignment("q", nullptr, 12); }, ErrorKind::kInvalidArgument,
               "q: alignment 12 is not a power of two");
  expect_error([&] { validate_alignment("q", nullptr, 0); }, ErrorKind::kInvalidArgument,
               "q: alignment 0 is not a power of two");
}

}  // namespace
}  // namespace mf::ir
