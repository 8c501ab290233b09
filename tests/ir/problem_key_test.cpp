#include "mf/ir/problem_key.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "ir/expect_error.h"
#include "ir/options.h"

// The golden keys below are the worked examples of docs/problem-key.md: a change to any of
// them is a change of the key format, which needs a new format version.
namespace mf::ir {
namespace {

Problem forward(Operator op) { return {std::move(op), Direction::forward()}; }

template <class Op>
Problem backward(Op op, std::uint32_t gradients) {
  return {with_gradients(std::move(op), gradients), Direction::backward(gradients)};
}

// ---- golden keys ---------------------------------------------------------------------------

TEST(ProblemKeyGolden, TriangleStartingForward) {
  EXPECT_EQ(problem_key(forward(triangle_attention_starting(1, 384, 4, 32))),
            "v1;op=evo_attention;pass=fwd;dim_d=32;mask_kind=boolean;bias_bcast=fbfff;mask_bcast=ffbbf;"
            "q=bf16:u4:a16;k=bf16:u4:a16;v=bf16:u4:a16;bias=bf16:u4:a16;mask=bool:u4:a16;o=bf16:u4:a16;"
            "lse=f32:u3:a16;bucket_n=512;bucket_bsh=2048");
}

TEST(ProblemKeyGolden, TriangleEndingForwardDiffersByStrideClass) {
  const std::string ending = problem_key(forward(triangle_attention_ending(1, 384, 4, 32)));
  EXPECT_EQ(ending,
            "v1;op=evo_attention;pass=fwd;dim_d=32;mask_kind=boolean;bias_bcast=fbfff;mask_bcast=ffbbf;"
            "q=bf16:u4:t12:a16;k=bf16:u4:t12:a16;v=bf16:u4:t12:a16;bias=bf16:u4:a16;mask=bool:u1:t14:a16;"
            "o=bf16:u4:t12:a16;lse=f32:u3:a16;bucket_n=512;bucket_bsh=2048");
  // Also without a mask, the transposed q/k/v alone tell the two apart.
  const EvoLayoutOptions unmasked = testing::with<EvoLayoutOptions>([&](auto& o) { o.mask_kind = MaskKind::kNone; });
  EXPECT_NE(problem_key(forward(triangle_attention_starting(1, 384, 4, 32, unmasked))),
            problem_key(forward(triangle_attention_ending(1, 384, 4, 32, unmasked))));
}

TEST(ProblemKeyGolden, SingleAttentionBackward) {
  EXPECT_EQ(problem_key(backward(single_attention(1, 384, 16, 64), EvoAttention::kAllGradients)),
            "v1;op=evo_attention;pass=bwd:q,k,v,bias;dim_d=64;mask_kind=boolean;bias_bcast=fffff;"
            "mask_bcast=ffbbf;dbias=deterministic;q=bf16:u4:a16;k=bf16:u4:a16;v=bf16:u4:a16;bias=bf16:u4:a16;"
            "mask=bool:u4:a16;o=bf16:u4:a16;lse=f32:u3:a16;d_o=bf16:u4:a16;d_q=bf16:u4:a16;d_k=bf16:u4:a16;"
            "d_v=bf16:u4:a16;d_bias=bf16:u4:a16;bucket_n=512;bucket_bsh=16");
}

TEST(ProblemKeyGolden, LayerNormLinearForwardTorchWeight) {
  EXPECT_EQ(problem_key(forward(layer_norm_linear(
                147456, 128, 640, testing::with<LinearOptions>([&](auto& o) { o.torch_weight = true; })))),
            "v1;op=layer_norm_linear;pass=fwd;dim_k=128;dim_n=640;x=bf16:u1:a16;gamma=bf16:u0:a16;"
            "beta=bf16:u0:a16;weight=bf16:u0:t01:a16;bias=bf16:u0:a16;y=bf16:u1:a16;mean=f32:u0:a16;"
            "rstd=f32:u0:a16;bucket_m=262144");
}

TEST(ProblemKeyGolden, LayerNormLinearBackward) {
  const std::uint32_t gradients =
      LayerNormLinear::kGradX | LayerNormLinear::kGradGamma | LayerNormLinear::kGradWeight | LayerNormLinear::kGradBias;
  EXPECT_EQ(problem_key(backward(layer_norm_linear(1000, 64, 4, testing::with<LinearOptions>([&](auto& o) {
                                                     o.param_dtype = DType::kF32;
                                                     o.with_beta = false;
                                                   })),
                                 gradients)),
            "v1;op=layer_norm_linear;pass=bwd:x,gamma,weight,bias;dim_k=64;dim_n=4;x=bf16:u1:a16;"
            "gamma=f32:u0:a16;weight=bf16:u1:a8;bias=f32:u0:a16;y=bf16:u1:a8;mean=f32:u0:a16;rstd=f32:u0:a16;"
            "d_y=bf16:u1:a8;d_x=bf16:u1:a16;d_gamma=f32:u0:a16;d_weight=bf16:u1:a8;d_bias=f32:u0:a16;"
            "bucket_m=1024");
}

TEST(ProblemKeyGolden, TransitionForward) {
  EXPECT_EQ(problem_key(forward(transition(147456, 128, 4))),
            "v1;op=transition;pass=fwd;layer_norm=on;dim_d=128;dim_f=512;x=bf16:u1:a16;gamma=bf16:u0:a16;"
            "beta=bf16:u0:a16;w1=bf16:u1:a16;w2=bf16:u1:a16;y=bf16:u1:a16;mean=f32:u0:a16;rstd=f32:u0:a16;"
            "bucket_m=262144");
}

TEST(ProblemKeyGolden, TransitionBackwardWithoutLayerNorm) {
  const std::uint32_t gradients = Transition::kGradX | Transition::kGradW1 | Transition::kGradW2;
  EXPECT_EQ(problem_key(backward(transition(384, 384, 2, testing::with<TransitionOptions>([&](auto& o) {
                                              o.dtype = DType::kF32;
                                              o.layer_norm = false;
                                              o.torch_weights = true;
                                            })),
                                 gradients)),
            "v1;op=transition;pass=bwd:x,w1,w2;layer_norm=off;dim_d=384;dim_f=768;x=f32:u1:a16;"
            "w1=f32:u0:t01:a16;w2=f32:u0:t01:a16;y=f32:u1:a16;d_y=f32:u1:a16;d_x=f32:u1:a16;"
            "d_w1=f32:u0:t01:a16;d_w2=f32:u0:t01:a16;bucket_m=512");
}

TEST(ProblemKeyGolden, FamilyDropsOnlyTheSizeBucket) {
  EXPECT_EQ(key_family(forward(transition(147456, 128, 4))),
            "v1;op=transition;pass=fwd;layer_norm=on;dim_d=128;dim_f=512;x=bf16:u1:a16;gamma=bf16:u0:a16;"
            "beta=bf16:u0:a16;w1=bf16:u1:a16;w2=bf16:u1:a16;y=bf16:u1:a16;mean=f32:u0:a16;rstd=f32:u0:a16");
}

// ---- buckets -------------------------------------------------------------------------------

// With an f32 bias every bias row is a multiple of 16 bytes for these N, so the sizes
// change nothing but the bucket (a bf16 bias at N = 300 has 600-byte rows: see below).
Problem single_with_f32_bias(std::int64_t tokens) {
  return forward(single_attention(1, tokens, 16, 64,
                                  testing::with<EvoLayoutOptions>([&](auto& o) { o.bias_dtype = DType::kF32; })));
}

TEST(ProblemKey, SameSizeBucketSameKey) {
  EXPECT_EQ(problem_key(single_with_f32_bias(300)), problem_key(single_with_f32_bias(400)));
  EXPECT_NE(problem_key(single_with_f32_bias(400)), problem_key(single_with_f32_bias(600)));
  EXPECT_NE(problem_key(single_with_f32_bias(300)).find(";bucket_n=512;"), std::string::npos);
  EXPECT_NE(problem_key(single_with_f32_bias(600)).find(";bucket_n=1024;"), std::string::npos);
}

TEST(ProblemKey, FamilyIsEqualAcrossBuckets) {
  EXPECT_EQ(key_family(single_with_f32_bias(300)), key_family(single_with_f32_bias(600)));
  EXPECT_EQ(key_family(single_with_f32_bias(300)), key_family(single_with_f32_bias(1000)));
  EXPECT_EQ(key_family(forward(transition(384, 128, 4))), key_family(forward(transition(147456, 128, 4))));
  // Batch and rows only move the B·S·H bucket.
  EXPECT_EQ(key_family(forward(msa_row_attention(1, 4, 384, 16, 64))),
            key_family(forward(msa_row_attention(2, 8, 384, 16, 64))));
  EXPECT_NE(problem_key(forward(msa_row_attention(1, 4, 384, 16, 64))),
            problem_key(forward(msa_row_attention(2, 8, 384, 16, 64))));
}

TEST(ProblemKey, SmallSequencesShareTheSmallestBucket) {
  const std::string key = problem_key(single_with_f32_bias(12));
  EXPECT_NE(key.find(";bucket_n=16;"), std::string::npos) << key;
}

TEST(ProblemKey, AlignmentIsPartOfTheKey) {
  // bf16 bias rows: 600 bytes at N = 300 (8-byte aligned), 608 bytes at N = 304.
  const std::string n300 = problem_key(forward(single_attention(1, 300, 16, 64)));
  const std::string n304 = problem_key(forward(single_attention(1, 304, 16, 64)));
  EXPECT_NE(n300.find(";bias=bf16:u4:a8;"), std::string::npos) << n300;
  EXPECT_NE(n304.find(";bias=bf16:u4:a16;"), std::string::npos) << n304;
}

// ---- what must not matter --------------------------------------------------------------------

TEST(ProblemKey, IgnoresScaleEpsAndForwardDBiasMode) {
  EvoAttention op = triangle_attention_starting(1, 64, 4, 32);
  const std::string key = problem_key(forward(op));
  op.scale = 0.3;
  op.dbias_mode = DBiasMode::kFast;
  EXPECT_EQ(problem_key(forward(op)), key);

  LayerNormLinear linear = layer_norm_linear(64, 128, 256);
  const std::string linear_key = problem_key(forward(linear));
  linear.eps = 1e-6;
  EXPECT_EQ(problem_key(forward(linear)), linear_key);
}

TEST(ProblemKey, DBiasModeMattersOnlyForTheBiasGradient) {
  const EvoAttention op = single_attention(1, 64, 4, 32);
  EvoAttention fast = op;
  fast.dbias_mode = DBiasMode::kFast;
  EXPECT_EQ(problem_key(backward(op, EvoAttention::kGradQ)), problem_key(backward(fast, EvoAttention::kGradQ)));
  EXPECT_NE(problem_key(backward(op, EvoAttention::kAllGradients)),
            problem_key(backward(fast, EvoAttention::kAllGradients)));
  EXPECT_NE(problem_key(backward(fast, EvoAttention::kAllGradients)).find(";dbias=fast;"), std::string::npos);
}

// A bias shared over S by a stride of 0, whose gradient is full-size, needs no sum over S;
// the usual [B, 1, H, N, N] bias needs one. The two backward kernels differ, so must the keys.
TEST(ProblemKey, NamesTheBiasGradientReductionWhenItDiffersFromTheBias) {
  const EvoAttention summed = triangle_attention_starting(1, 8, 2, 16);
  EvoAttention expanded = summed;
  expanded.bias->shape[1] = summed.rows();
  expanded.bias->strides[1] = 0;
  const Problem summed_backward = backward(summed, EvoAttention::kAllGradients);
  Problem expanded_backward = backward(expanded, EvoAttention::kAllGradients);
  std::get<EvoAttention>(expanded_backward.op).d_bias =
      TensorDesc::contiguous(expanded.bias->dtype, {1, summed.rows(), 2, 8, 8});
  EXPECT_EQ(problem_key(summed_backward).find("dbias_bcast"), std::string::npos);
  EXPECT_NE(problem_key(expanded_backward).find(";dbias_bcast=ffff"), std::string::npos)
      << problem_key(expanded_backward);
  EXPECT_NE(problem_key(summed_backward), problem_key(expanded_backward));
}

TEST(ProblemKey, IgnoresStridesOfSizeOneDimensionsAndPadding) {
  EvoAttention op = single_attention(1, 64, 4, 32);
  const std::string key = problem_key(forward(op));
  op.q.strides[0] = 7;  // B = 1 and S = 1: never stepped along
  op.q.strides[1] = 12345;
  EXPECT_EQ(problem_key(forward(op)), key);

  // Rows padded from 128 to 136 elements keep the 16-byte class of bf16.
  LayerNormLinear linear = layer_norm_linear(64, 128, 256);
  const std::string linear_key = problem_key(forward(linear));
  linear.x.strides = {136, 1};
  EXPECT_EQ(problem_key(forward(linear)), linear_key);
  linear.x.strides = {130, 1};  // 260-byte rows: only 4-byte aligned
  EXPECT_NE(problem_key(forward(linear)).find(";x=bf16:u1:a4;"), std::string::npos);
}

TEST(ProblemKey, NamesDTypesAndOptionalTensors) {
  const std::string f16 = problem_key(forward(
      single_attention(1, 64, 4, 32, testing::with<EvoLayoutOptions>([&](auto& o) { o.dtype = DType::kF16; }))));
  EXPECT_NE(f16.find(";q=f16:"), std::string::npos);
  const std::string no_bias = problem_key(
      forward(single_attention(1, 64, 4, 32, testing::with<EvoLayoutOptions>([&](auto& o) { o.with_bias = false; }))));
  EXPECT_EQ(no_bias.find("bias"), std::string::npos);
  EvoAttention without_lse = single_attention(1, 64, 4, 32);
  without_lse.lse.reset();
  EXPECT_EQ(problem_key(forward(without_lse)).find("lse="), std::string::npos);
  const std::string additive =
      problem_key(forward(single_attention(1, 64, 4, 32, testing::with<EvoLayoutOptions>([&](auto& o) {
                                             o.mask_kind = MaskKind::kAdditive;
                                             o.additive_mask_dtype = DType::kF32;
                                           }))));
  EXPECT_NE(additive.find(";mask_kind=additive;"), std::string::npos);
  EXPECT_NE(additive.find(";mask=f32:"), std::string::npos);
}

TEST(ProblemKey, StableAndAscii) {
  const Problem problem = backward(triangle_attention_ending(2, 97, 4, 32), EvoAttention::kAllGradients);
  const std::string key = problem_key(problem);
  EXPECT_EQ(problem_key(Problem(problem)), key);
  EXPECT_EQ(key.rfind("v1;", 0), 0u);
  for (char c : key) EXPECT_TRUE(c > 0x20 && c < 0x7f) << "non-printable or non-ASCII character in " << key;
}

TEST(ProblemKey, RejectsInvalidProblems) {
  EvoAttention op = single_attention(1, 64, 4, 32);
  op.k.shape[2] = 63;
  testing::expect_error([&] { (void)problem_key(forward(op)); }, ErrorKind::kShapeMismatch, "k: has shape");
  testing::expect_error([&] { (void)key_family(forward(op)); }, ErrorKind::kShapeMismatch, "k: has shape");
}

}  // namespace
}  // namespace mf::ir
