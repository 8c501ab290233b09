// The EvoAttention forward against a naive formula written here, independently of the
// reference: dense loops over logical indices, the softmax written out.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "mf/ir/evo_attention.h"
#include "reference_testing.h"

namespace mf::reference {
namespace {

using ir::DType;
using ir::EvoAttention;
using ir::MaskKind;
using testing::ProblemTensors;

constexpr double kInf = std::numeric_limits<double>::infinity();

struct NaiveAttention {
  std::vector<double> o;    // [B, S, N, H, D] row-major
  std::vector<double> lse;  // [B, S, H, N] row-major
};

double naive_mask_term(const EvoAttention& op, ProblemTensors& t, std::int64_t b, std::int64_t s, std::int64_t key) {
  if (op.mask_kind == MaskKind::kNone) return 0.0;
  const HostTensor& mask = t["mask"];
  const double value = mask.get(testing::broadcast_index(mask.desc().shape, {b, s, 0, 0, key}));
  if (op.mask_kind == MaskKind::kAdditive) return value;
  return value != 0.0 ? 0.0 : -kInf;
}

double naive_scale(const EvoAttention& op) {
  return op.scale != 0.0 ? op.scale : 1.0 / std::sqrt(static_cast<double>(op.head_dim()));
}

// L[j] = c·⟨Q[i], K[j]⟩ + bias + maskterm for query i of head slice (b, s, h).
std::vector<double> naive_logits(const EvoAttention& op, ProblemTensors& t, std::int64_t b, std::int64_t s,
                                 std::int64_t h, std::int64_t i) {
  const std::int64_t N = op.seq_len(), D = op.head_dim();
  const HostTensor &q = t["q"], &k = t["k"];
  std::vector<double> logit(N);
  for (std::int64_t j = 0; j < N; ++j) {
    double score = 0.0;
    for (std::int64_t d = 0; d < D; ++d) score += q.get({{b, s, i, h, d}}) * k.get({{b, s, j, h, d}});
    double bias = 0.0;
    if (op.bias) bias = t["bias"].get(testing::broadcast_index(op.bias->shape, {b, s, h, i, j}));
    logit[j] = naive_scale(op) * score + bias + naive_mask_term(op, t, b, s, j);
  }
  return logit;
}

NaiveAttention naive_forward(const EvoAttention& op, ProblemTensors& t) {
  const std::int64_t B = op.batch(), S = op.rows(), N = op.seq_len(), H = op.heads(), D = op.head_dim();
  NaiveAttention result{std::vector<double>(B * S * N * H * D), std::vector<double>(B * S * H * N)};
  const HostTensor& v = t["v"];
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t s = 0; s < S; ++s)
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t i = 0; i < N; ++i) {
          const std::vector<double> logit = naive_logits(op, t, b, s, h, i);
          double max = -kInf;
          for (double value : logit) max = std::max(max, value);
          const std::int64_t lse_at = ((b * S + s) * H + h) * N + i;
          if (max == -kInf) {  // every key dropped: output 0, lse = +∞ so that exp(L − lse) = 0
            result.lse[lse_at] = kInf;
            continue;
          }
          double total = 0.0;
          for (double value : logit) total += std::exp(value - max);
          for (std::int64_t d = 0; d < D; ++d) {
            double out = 0.0;
            for (std::int64_t j = 0; j < N; ++j) out += std::exp(logit[j] - max) / total * v.get({{b, s, j, h, d}});
            result.o[(((b * S + s) * N + i) * H + h) * D + d] = out;
          }
          result.lse[lse_at] = max + std::log(total);
        }
  return result;
}

// Runs the reference forward and compares o and lse with the naive formula.
void expect_forward_matches_naive(const EvoAttention& op, std::uint64_t seed,
                                  const std::function<void(ProblemTensors&)>& prepare = {}) {
  ProblemTensors t(op, seed);
  if (prepare) prepare(t);
  ThreadPool pool(2);
  testing::run_pass(op, ir::Direction::forward(), t, pool);
  const NaiveAttention expected = naive_forward(op, t);
  EXPECT_LT(relative_error(t["o"].values(), expected.o), testing::tolerance(op.o.dtype));
  if (op.lse) {
    EXPECT_LT(relative_error(t["lse"].values(), expected.lse), 1e-6);
  }
}

enum class Layout { kSingle, kTriangleStarting, kTriangleEnding, kMsaRow, kMsaColumn };
enum class BiasKind { kNone, kSameDType, kF32 };

struct ForwardCase {
  Layout layout;
  BiasKind bias;
  MaskKind mask;
  std::int64_t tokens;
  DType dtype;
};

std::string name_of(const ForwardCase& c) {
  static const char* const kLayouts[] = {"single", "triangle_starting", "triangle_ending", "msa_row", "msa_column"};
  static const char* const kBiases[] = {"no_bias", "bias", "f32_bias"};
  static const char* const kMasks[] = {"no_mask", "boolean_mask", "additive_mask"};
  return std::string(kLayouts[static_cast<int>(c.layout)]) + "_" + kBiases[static_cast<int>(c.bias)] + "_" +
         kMasks[static_cast<int>(c.mask)] + "_N" + std::to_string(c.tokens) + "_" + std::string(ir::name_of(c.dtype));
}

// Small heads keep the naive O(B·S·H·N²·D) loops fast; N is the attended length.
EvoAttention make_layout(const ForwardCase& c) {
  ir::EvoLayoutOptions options;
  options.dtype = c.dtype;
  options.with_bias = c.bias != BiasKind::kNone;
  if (c.bias == BiasKind::kF32) options.bias_dtype = DType::kF32;
  options.mask_kind = c.mask;
  constexpr std::int64_t kHeads = 2, kHeadDim = 4;
  switch (c.layout) {
    case Layout::kSingle: return ir::single_attention(2, c.tokens, kHeads, kHeadDim, options);
    case Layout::kTriangleStarting: return ir::triangle_attention_starting(1, c.tokens, kHeads, kHeadDim, options);
    case Layout::kTriangleEnding: return ir::triangle_attention_ending(1, c.tokens, kHeads, kHeadDim, options);
    case Layout::kMsaRow: return ir::msa_row_attention(1, 3, c.tokens, kHeads, kHeadDim, options);
    case Layout::kMsaColumn: return ir::msa_column_attention(1, c.tokens, 3, kHeads, kHeadDim, options);
  }
  return {};
}

std::vector<ForwardCase> forward_cases() {
  std::vector<ForwardCase> cases;
  for (Layout layout : {Layout::kSingle, Layout::kTriangleStarting, Layout::kTriangleEnding, Layout::kMsaRow,
                        Layout::kMsaColumn})
    for (BiasKind bias : {BiasKind::kNone, BiasKind::kSameDType, BiasKind::kF32})
      for (MaskKind mask : {MaskKind::kNone, MaskKind::kBoolean, MaskKind::kAdditive}) {
        if (layout == Layout::kMsaColumn && bias != BiasKind::kNone) continue;  // the layout has no bias
        cases.push_back({layout, bias, mask, 17, DType::kF32});
      }
  for (DType dtype : {DType::kF64, DType::kF32, DType::kBF16, DType::kF16})
    for (std::int64_t tokens : {1, 17, 97}) {
      cases.push_back({Layout::kMsaRow, BiasKind::kSameDType, MaskKind::kBoolean, tokens, dtype});
      cases.push_back({Layout::kSingle, BiasKind::kF32, MaskKind::kAdditive, tokens, dtype});
    }
  cases.push_back({Layout::kMsaColumn, BiasKind::kNone, MaskKind::kBoolean, 97, DType::kBF16});
  cases.push_back({Layout::kTriangleEnding, BiasKind::kSameDType, MaskKind::kBoolean, 33, DType::kBF16});
  cases.push_back({Layout::kTriangleStarting, BiasKind::kF32, MaskKind::kAdditive, 97, DType::kF16});
  // The sweeps overlap in a few cases: keep the first of each name.
  std::set<std::string> seen;
  std::erase_if(cases, [&](const ForwardCase& c) { return !seen.insert(name_of(c)).second; });
  return cases;
}

class EvoForward : public ::testing::TestWithParam<ForwardCase> {};

TEST_P(EvoForward, MatchesTheNaiveFormula) { expect_forward_matches_naive(make_layout(GetParam()), 11); }

INSTANTIATE_TEST_SUITE_P(Layouts, EvoForward, ::testing::ValuesIn(forward_cases()),
                         [](const auto& param_info) { return name_of(param_info.param); });

EvoAttention small_f32_problem(std::int64_t batch, std::int64_t rows, std::int64_t tokens) {
  ir::EvoLayoutOptions options;
  options.dtype = DType::kF32;
  return ir::msa_row_attention(batch, rows, tokens, 3, 5, options);
}

// Row-major strides of `padded`, for a view of a smaller shape inside a larger buffer.
std::vector<std::int64_t> strides_of(DType dtype, std::vector<std::int64_t> padded) {
  return ir::TensorDesc::contiguous(dtype, std::move(padded)).strides;
}

TEST(EvoForwardViews, PaddedAndTransposedActivations) {
  EvoAttention op = small_f32_problem(2, 3, 7);
  op.q.strides = strides_of(DType::kF32, {2, 4, 9, 3, 8});           // q inside a larger buffer
  op.k = ir::TensorDesc::contiguous(DType::kF32, {2, 3, 3, 7, 5}).permuted({0, 1, 3, 2, 4});  // [B,S,H,N,D] memory
  op.v = ir::TensorDesc::contiguous(DType::kF32, {5, 3, 7, 3, 2}).permuted({4, 1, 2, 3, 0});  // dims reversed
  op.o.strides = strides_of(DType::kF32, {3, 3, 8, 4, 6});
  op.scale = 0.3;
  expect_forward_matches_naive(op, 21);
}

TEST(EvoForwardViews, PaddedOutputLeavesThePaddingAlone) {
  EvoAttention op = small_f32_problem(1, 2, 5);
  op.o.strides = strides_of(DType::kF32, {1, 2, 5, 3, 7});
  ProblemTensors t(op, 3);
  ThreadPool pool(2);
  testing::run_pass(op, ir::Direction::forward(), t, pool);
  const auto* raw = static_cast<const float*>(t["o"].data());
  std::int64_t untouched = 0;
  for (std::size_t i = 0; i < t["o"].bytes() / sizeof(float); ++i) untouched += std::isnan(raw[i]) ? 1 : 0;
  EXPECT_EQ(untouched, static_cast<std::int64_t>(t["o"].bytes() / sizeof(float)) - op.o.numel());
  EXPECT_FALSE(testing::has_non_finite(t["o"]));
}

TEST(EvoForwardViews, TransposedBias) {
  EvoAttention op = small_f32_problem(2, 3, 9);
  op.bias = ir::TensorDesc::contiguous(DType::kF32, {2, 1, 3, 9, 9}).permuted({0, 1, 2, 4, 3});
  expect_forward_matches_naive(op, 22);
}

TEST(EvoForwardViews, BiasBroadcastOverHeads) {
  EvoAttention op = small_f32_problem(2, 3, 9);
  op.bias = ir::TensorDesc::contiguous(DType::kBF16, {2, 1, 1, 9, 9});
  expect_forward_matches_naive(op, 23);
}

TEST(EvoForwardViews, BiasBroadcastOverQueries) {
  EvoAttention op = small_f32_problem(2, 3, 9);
  op.bias = ir::TensorDesc::contiguous(DType::kF32, {2, 1, 3, 1, 9});
  expect_forward_matches_naive(op, 24);
}

TEST(EvoForwardViews, BiasBroadcastByZeroStrides) {
  EvoAttention op = small_f32_problem(2, 3, 9);
  ir::TensorDesc bias = ir::TensorDesc::contiguous(DType::kF32, {2, 3, 3, 9, 9});
  bias.strides[0] = 0;  // shared by the batch
  bias.strides[1] = 0;  // and by the rows, at full logical size
  op.bias = bias;
  expect_forward_matches_naive(op, 25);
}

TEST(EvoForwardViews, PerRowBiasAndMaskSharedByTheBatch) {
  EvoAttention op = small_f32_problem(2, 3, 9);
  op.bias = ir::TensorDesc::contiguous(DType::kF32, {2, 3, 3, 9, 9});
  op.mask = ir::TensorDesc::contiguous(DType::kBool, {1, 3, 1, 1, 9});
  expect_forward_matches_naive(op, 26);
}

// --- Boolean mask semantics -------------------------------------------------------------

EvoAttention masked_problem(DType dtype) {
  ir::EvoLayoutOptions options;
  options.dtype = dtype;
  options.mask_kind = MaskKind::kBoolean;
  return ir::with_gradients(ir::msa_row_attention(2, 3, 6, 2, 4, options), EvoAttention::kAllGradients);
}

// Drops every key of row (b = 0, s = 1).
void drop_every_key_of_one_row(ProblemTensors& t) {
  for (std::int64_t key = 0; key < 6; ++key) t["mask"].set({{0, 1, 0, 0, key}}, 0.0);
}

TEST(EvoMask, FullyMaskedRowOutputsZeroAndHasZeroGradients) {
  for (DType dtype : {DType::kF64, DType::kBF16}) {
    const EvoAttention op = masked_problem(dtype);
    ProblemTensors t(op, 31);
    drop_every_key_of_one_row(t);
    ThreadPool pool(2);
    testing::run_pass(op, ir::Direction::forward(), t, pool);
    testing::run_pass(op, ir::Direction::backward(EvoAttention::kAllGradients), t, pool);
    for (std::int64_t n = 0; n < 6; ++n)
      for (std::int64_t h = 0; h < 2; ++h) {
        EXPECT_EQ(t["lse"].get({{0, 1, h, n}}), kInf);
        for (std::int64_t d = 0; d < 4; ++d)
          for (const char* name : {"o", "d_q", "d_k", "d_v"}) EXPECT_EQ(t[name].get({{0, 1, n, h, d}}), 0.0) << name;
      }
    // Only the masked row's lse is infinite, and no output holds a NaN.
    for (const char* name : {"o", "d_q", "d_k", "d_v", "d_bias"}) EXPECT_FALSE(testing::has_non_finite(t[name])) << name;
    for (double value : t["lse"].values()) EXPECT_FALSE(std::isnan(value));
  }
}

// A backward computes P = exp(L − LSE) from the lse the forward saved (DESIGN.md §1.1). With
// the saved lse of every row, P must be finite; 0 for every key of a fully masked row and
// for every dropped key; and Σ_k P = 1 on every other row.
void expect_saved_lse_gives_probabilities(const EvoAttention& op, ProblemTensors& t,
                                          const std::function<bool(std::int64_t b, std::int64_t s)>& fully_masked) {
  ThreadPool pool(2);
  testing::run_pass(op, ir::Direction::forward(), t, pool);
  std::int64_t masked_queries = 0, other_queries = 0;
  for (std::int64_t b = 0; b < op.batch(); ++b)
    for (std::int64_t s = 0; s < op.rows(); ++s)
      for (std::int64_t h = 0; h < op.heads(); ++h)
        for (std::int64_t i = 0; i < op.seq_len(); ++i) {
          SCOPED_TRACE(::testing::Message() << "b " << b << " s " << s << " h " << h << " query " << i);
          const double lse = t["lse"].get({{b, s, h, i}});
          const std::vector<double> logit = naive_logits(op, t, b, s, h, i);
          double total = 0.0;
          for (std::size_t j = 0; j < logit.size(); ++j) {
            const double p = std::exp(logit[j] - lse);
            ASSERT_TRUE(std::isfinite(p)) << "key " << j << ": L = " << logit[j] << ", lse = " << lse;
            if (logit[j] == -kInf) {
              EXPECT_EQ(p, 0.0) << "dropped key " << j;
            }
            total += p;
          }
          if (fully_masked(b, s)) {
            EXPECT_EQ(total, 0.0);
            ++masked_queries;
          } else {
            EXPECT_NEAR(total, 1.0, 1e-6);  // lse is stored in fp32
            ++other_queries;
          }
        }
  EXPECT_GT(masked_queries, 0);
  EXPECT_GT(other_queries, 0);
}

TEST(EvoMask, SavedLseGivesZeroProbabilitiesOnAFullyMaskedRow) {
  const EvoAttention op = masked_problem(DType::kF64);
  ProblemTensors t(op, 35);
  for (std::int64_t b = 0; b < 2; ++b)
    for (std::int64_t s = 0; s < 3; ++s)
      for (std::int64_t key = 0; key < 6; ++key) t["mask"].set({{b, s, 0, 0, key}}, 1.0);
  drop_every_key_of_one_row(t);                   // (b = 0, s = 1): fully masked
  t["mask"].set({{0, 0, 0, 0, 2}}, 0.0);          // (b = 0, s = 0): partly masked
  t["mask"].set({{1, 2, 0, 0, 0}}, 0.0);
  t["mask"].set({{1, 2, 0, 0, 5}}, 0.0);
  expect_saved_lse_gives_probabilities(op, t, [](std::int64_t b, std::int64_t s) { return b == 0 && s == 1; });
}

TEST(EvoMask, SavedLseGivesZeroProbabilitiesUnderAnAdditiveMaskOfMinusInfinity) {
  ir::EvoLayoutOptions options;
  options.dtype = DType::kF32;
  options.mask_kind = MaskKind::kAdditive;
  const EvoAttention op = ir::msa_row_attention(1, 3, 5, 2, 3, options);
  ProblemTensors t(op, 36);
  for (std::int64_t key = 0; key < 5; ++key) t["mask"].set({{0, 2, 0, 0, key}}, -kInf);  // fully masked
  t["mask"].set({{0, 0, 0, 0, 1}}, -kInf);                                                // partly masked
  expect_saved_lse_gives_probabilities(op, t, [](std::int64_t, std::int64_t s) { return s == 2; });
}

TEST(EvoMask, FullyMaskedRowContributesNothingToTheBiasGradient) {
  const EvoAttention op = masked_problem(DType::kF64);
  ProblemTensors t(op, 32);
  ThreadPool pool(2);
  // The d_bias of batch 0 sums over rows s = 0, 1, 2; dropping row 1 entirely must give
  // the same sum as zeroing its output gradient.
  drop_every_key_of_one_row(t);
  testing::run_pass(op, ir::Direction::backward(EvoAttention::kGradBias), t, pool);
  const std::vector<double> masked = t["d_bias"].values();
  for (double value : masked) EXPECT_TRUE(std::isfinite(value));
  for (std::int64_t n = 0; n < 6; ++n)
    for (std::int64_t h = 0; h < 2; ++h)
      for (std::int64_t d = 0; d < 4; ++d) t["d_o"].set({{0, 1, n, h, d}}, 0.0);
  testing::run_pass(op, ir::Direction::backward(EvoAttention::kGradBias), t, pool);
  EXPECT_EQ(t["d_bias"].values(), masked);
}

TEST(EvoMask, PartlyMaskedRowAttendsOnlyToTheKeptKeys) {
  ir::EvoLayoutOptions options;
  options.dtype = DType::kF64;
  options.mask_kind = MaskKind::kBoolean;
  const EvoAttention op = ir::single_attention(1, 8, 1, 3, options);
  ProblemTensors t(op, 33);
  const std::vector<std::int64_t> kept = {1, 4, 5};
  for (std::int64_t key = 0; key < 8; ++key) t["mask"].set({{0, 0, 0, 0, key}}, key == 1 || key == 4 || key == 5 ? 1.0 : 0.0);
  ThreadPool pool(2);
  testing::run_pass(op, ir::Direction::forward(), t, pool);
  const std::vector<double> first = t["o"].values();

  // Softmax over the kept keys only, written out for each query.
  const double c = 1.0 / std::sqrt(3.0);
  for (std::int64_t i = 0; i < 8; ++i) {
    std::vector<double> weight;
    for (std::int64_t j : kept) {
      double score = 0.0;
      for (std::int64_t d = 0; d < 3; ++d) score += t["q"].get({{0, 0, i, 0, d}}) * t["k"].get({{0, 0, j, 0, d}});
      weight.push_back(std::exp(c * score + t["bias"].get({{0, 0, 0, i, j}})));
    }
    const double total = weight[0] + weight[1] + weight[2];
    for (std::int64_t d = 0; d < 3; ++d) {
      double expected = 0.0;
      for (std::size_t n = 0; n < kept.size(); ++n) expected += weight[n] / total * t["v"].get({{0, 0, kept[n], 0, d}});
      EXPECT_NEAR(t["o"].get({{0, 0, i, 0, d}}), expected, 1e-14);
    }
  }

  // Whatever the dropped keys hold does not change a single bit of the output.
  for (std::int64_t j : {0, 2, 3, 6, 7})
    for (std::int64_t d = 0; d < 3; ++d) {
      t["k"].set({{0, 0, j, 0, d}}, 1e3);
      t["v"].set({{0, 0, j, 0, d}}, -1e3);
      for (std::int64_t i = 0; i < 8; ++i) t["bias"].set({{0, 0, 0, i, j}}, 1e3);
    }
  testing::run_pass(op, ir::Direction::forward(), t, pool);
  EXPECT_EQ(t["o"].values(), first);
}

TEST(EvoMask, AdditiveMaskOfMinusInfinityActsLikeABooleanMask) {
  ir::EvoLayoutOptions options;
  options.dtype = DType::kF64;
  options.mask_kind = MaskKind::kAdditive;
  const EvoAttention op = ir::with_gradients(ir::msa_row_attention(1, 2, 5, 1, 3, options), EvoAttention::kAllGradients);
  ProblemTensors t(op, 34);
  for (std::int64_t key = 0; key < 5; ++key) t["mask"].set({{0, 0, 0, 0, key}}, -kInf);
  ThreadPool pool(1);
  testing::run_pass(op, ir::Direction::forward(), t, pool);
  testing::run_pass(op, ir::Direction::backward(EvoAttention::kAllGradients), t, pool);
  EXPECT_EQ(t["lse"].get({{0, 0, 0, 2}}), kInf);
  EXPECT_EQ(t["o"].get({{0, 0, 2, 0, 1}}), 0.0);
  for (const char* name : {"o", "d_q", "d_k", "d_v", "d_bias"}) EXPECT_FALSE(testing::has_non_finite(t[name])) << name;
  expect_forward_matches_naive(op, 34, [](ProblemTensors& u) {
    for (std::int64_t key = 0; key < 5; ++key) u["mask"].set({{0, 0, 0, 0, key}}, -kInf);
  });
}

// --- Which gradients are written, and reproducibility ------------------------------------

TEST(EvoBackward, WritesOnlyTheRequestedGradients) {
  const EvoAttention op = masked_problem(DType::kBF16);
  ThreadPool pool(2);
  for (std::uint32_t wanted : {EvoAttention::kGradQ, EvoAttention::kGradK | EvoAttention::kGradBias,
                               EvoAttention::kGradV, EvoAttention::kGradBias}) {
    ProblemTensors t(op, 41);
    testing::run_pass(op, ir::Direction::backward(wanted), t, pool);
    const std::pair<const char*, std::uint32_t> gradients[] = {{"d_q", EvoAttention::kGradQ},
                                                               {"d_k", EvoAttention::kGradK},
                                                               {"d_v", EvoAttention::kGradV},
                                                               {"d_bias", EvoAttention::kGradBias}};
    for (const auto& [name, flag] : gradients) {
      if (wanted & flag)
        EXPECT_FALSE(testing::has_non_finite(t[name])) << name;
      else
        EXPECT_TRUE(testing::still_poisoned(t[name])) << name;
    }
    // The backward never writes the forward's outputs either.
    EXPECT_TRUE(testing::still_poisoned(t["o"]));
    EXPECT_TRUE(testing::still_poisoned(t["lse"]));
  }
}

TEST(EvoBackward, IsBitwiseReproducibleForAThreadCount) {
  const EvoAttention op = masked_problem(DType::kF32);
  ProblemTensors first(op, 42), second(op, 42), single(op, 42);
  ThreadPool pool(3), one(1);
  testing::run_pass(op, ir::Direction::backward(EvoAttention::kAllGradients), first, pool);
  testing::run_pass(op, ir::Direction::backward(EvoAttention::kAllGradients), second, pool);
  testing::run_pass(op, ir::Direction::backward(EvoAttention::kAllGradients), single, one);
  for (const char* name : {"d_q", "d_k", "d_v", "d_bias"}) {
    EXPECT_TRUE(testing::bitwise_equal(first[name], second[name])) << name;
    EXPECT_LT(relative_error(first[name], single[name]), 1e-6) << name;
  }
}

}  // namespace
}  // namespace mf::reference
