// LayerNormLinear and Transition forward against naive formulas written here, which
// gradients are written, and reproducibility.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "mf/ir/layer_norm_linear.h"
#include "mf/ir/transition.h"
#include "reference_testing.h"

namespace mf::reference {
namespace {

using ir::DType;
using ir::LayerNormLinear;
using ir::Transition;
using testing::ProblemTensors;

struct NaiveRows {
  std::vector<double> y;  // [M, N] row-major
  std::vector<double> mean, rstd;
};

// h = LN(x[m]) written out: biased variance, eps inside the square root.
std::vector<double> naive_layer_norm(ProblemTensors& t, std::int64_t m, std::int64_t features, double eps,
                                     NaiveRows& rows) {
  double mean = 0.0;
  for (std::int64_t k = 0; k < features; ++k) mean += t["x"].get({{m, k}}) / static_cast<double>(features);
  double variance = 0.0;
  for (std::int64_t k = 0; k < features; ++k)
    variance += std::pow(t["x"].get({{m, k}}) - mean, 2) / static_cast<double>(features);
  const double rstd = 1.0 / std::sqrt(variance + eps);
  rows.mean.push_back(mean);
  rows.rstd.push_back(rstd);
  std::vector<double> h;
  for (std::int64_t k = 0; k < features; ++k) {
    const double beta = t.has("beta") ? t["beta"].get({{k}}) : 0.0;
    h.push_back((t["x"].get({{m, k}}) - mean) * rstd * t["gamma"].get({{k}}) + beta);
  }
  return h;
}

NaiveRows naive_layer_norm_linear(const LayerNormLinear& op, ProblemTensors& t) {
  NaiveRows rows;
  for (std::int64_t m = 0; m < op.rows(); ++m) {
    const std::vector<double> h = naive_layer_norm(t, m, op.in_features(), op.eps, rows);
    for (std::int64_t n = 0; n < op.out_features(); ++n) {
      double y = t.has("bias") ? t["bias"].get({{n}}) : 0.0;
      for (std::int64_t k = 0; k < op.in_features(); ++k) y += h[k] * t["weight"].get({{k, n}});
      rows.y.push_back(y);
    }
  }
  return rows;
}

NaiveRows naive_transition(const Transition& op, ProblemTensors& t) {
  NaiveRows rows;
  const std::int64_t D = op.dim(), F = op.hidden();
  for (std::int64_t m = 0; m < op.rows(); ++m) {
    std::vector<double> h;
    if (op.has_layer_norm()) {
      h = naive_layer_norm(t, m, D, op.eps, rows);
    } else {
      for (std::int64_t d = 0; d < D; ++d) h.push_back(t["x"].get({{m, d}}));
    }
    std::vector<double> u;
    for (std::int64_t f = 0; f < F; ++f) {
      double a = 0.0, g = 0.0;
      for (std::int64_t d = 0; d < D; ++d) {
        a += h[d] * t["w1"].get({{d, f}});
        g += h[d] * t["w1"].get({{d, F + f}});
      }
      u.push_back(a * g / (1.0 + std::exp(-g)));
    }
    for (std::int64_t d = 0; d < D; ++d) {
      double y = 0.0;
      for (std::int64_t f = 0; f < F; ++f) y += u[f] * t["w2"].get({{f, d}});
      rows.y.push_back(y);
    }
  }
  return rows;
}

template <typename Op>
void expect_statistics_match(const Op& op, ProblemTensors& t, const NaiveRows& expected) {
  if (!op.mean) return;
  EXPECT_LT(relative_error(t["mean"].values(), expected.mean), 1e-6);
  EXPECT_LT(relative_error(t["rstd"].values(), expected.rstd), 1e-6);
}

struct LinearCase {
  DType dtype;
  std::optional<DType> param_dtype;
  bool torch_weight, with_beta, with_bias;
};

class LayerNormLinearForward : public ::testing::TestWithParam<LinearCase> {};

TEST_P(LayerNormLinearForward, MatchesTheNaiveFormula) {
  const LinearCase& c = GetParam();
  ir::LinearOptions options{c.dtype, c.param_dtype, c.with_beta, c.with_bias, c.torch_weight};
  const LayerNormLinear op = ir::layer_norm_linear(37, 24, 17, options);
  ProblemTensors t(op, 51);
  ThreadPool pool(2);
  testing::run_pass(op, ir::Direction::forward(), t, pool);
  const NaiveRows expected = naive_layer_norm_linear(op, t);
  EXPECT_LT(relative_error(t["y"].values(), expected.y), testing::tolerance(c.dtype));
  expect_statistics_match(op, t, expected);
}

INSTANTIATE_TEST_SUITE_P(
    Options, LayerNormLinearForward,
    ::testing::Values(LinearCase{DType::kF64, {}, false, true, true}, LinearCase{DType::kF32, {}, true, true, true},
                      LinearCase{DType::kBF16, DType::kF32, false, false, true},
                      LinearCase{DType::kF16, {}, true, true, false}, LinearCase{DType::kBF16, {}, true, false, false}),
    [](const auto& param_info) {
      const LinearCase& c = param_info.param;
      return std::string(ir::name_of(c.dtype)) + (c.param_dtype ? "_f32_params" : "") +
             (c.torch_weight ? "_torch_weight" : "") + (c.with_beta ? "_beta" : "") + (c.with_bias ? "_bias" : "");
    });

TEST(LayerNormLinearForwardViews, StridedInputAndOutputWithoutStatistics) {
  LayerNormLinear op = ir::layer_norm_linear(9, 8, 5, {DType::kF32, {}, true, true, false});
  op.x.strides = {1, 9};        // column-major x
  op.y.strides = {7, 1};        // padded rows
  op.mean = op.rstd = std::nullopt;
  ProblemTensors t(op, 52);
  ThreadPool pool(3);
  testing::run_pass(op, ir::Direction::forward(), t, pool);
  EXPECT_LT(relative_error(t["y"].values(), naive_layer_norm_linear(op, t).y), 1e-5);
}

struct TransitionCase {
  DType dtype;
  bool layer_norm, with_beta, torch_weights;
};

class TransitionForward : public ::testing::TestWithParam<TransitionCase> {};

TEST_P(TransitionForward, MatchesTheNaiveFormula) {
  const TransitionCase& c = GetParam();
  ir::TransitionOptions options{c.dtype, {}, c.layer_norm, c.with_beta, c.torch_weights};
  const Transition op = ir::transition(23, 12, 4, options);
  ProblemTensors t(op, 53);
  ThreadPool pool(2);
  testing::run_pass(op, ir::Direction::forward(), t, pool);
  const NaiveRows expected = naive_transition(op, t);
  EXPECT_LT(relative_error(t["y"].values(), expected.y), testing::tolerance(c.dtype));
  expect_statistics_match(op, t, expected);
}

INSTANTIATE_TEST_SUITE_P(Options, TransitionForward,
                         ::testing::Values(TransitionCase{DType::kF64, true, true, false},
                                           TransitionCase{DType::kF32, true, false, true},
                                           TransitionCase{DType::kBF16, false, false, true},
                                           TransitionCase{DType::kF16, true, true, true},
                                           TransitionCase{DType::kBF16, true, true, false}),
                         [](const auto& param_info) {
                           const TransitionCase& c = param_info.param;
                           return std::string(ir::name_of(c.dtype)) + (c.layer_norm ? "_layer_norm" : "") +
                                  (c.with_beta ? "_beta" : "") + (c.torch_weights ? "_torch_weights" : "");
                         });

// Backward with every subset of one gradient left out: the others are written, the left
// out one keeps its poison.
template <typename Op>
void expect_only_requested_gradients_written(const Op& op, const std::vector<std::pair<std::string, std::uint32_t>>& gradients) {
  ThreadPool pool(2);
  for (const auto& [left_out, flag] : gradients) {
    ProblemTensors t(op, 61);
    testing::run_pass(op, ir::Direction::backward(op.all_gradients() & ~flag), t, pool);
    for (const auto& [name, other] : gradients) {
      if (other == flag)
        EXPECT_TRUE(testing::still_poisoned(t[name])) << name;
      else
        EXPECT_FALSE(testing::has_non_finite(t[name])) << name << " without " << left_out;
    }
    EXPECT_TRUE(testing::still_poisoned(t["y"]));
  }
}

TEST(LayerNormLinearBackward, WritesOnlyTheRequestedGradients) {
  LayerNormLinear op = ir::layer_norm_linear(13, 8, 6, {DType::kBF16, DType::kF32, true, true, true});
  op = ir::with_gradients(op, op.all_gradients());
  expect_only_requested_gradients_written(op, {{"d_x", LayerNormLinear::kGradX},
                                               {"d_gamma", LayerNormLinear::kGradGamma},
                                               {"d_beta", LayerNormLinear::kGradBeta},
                                               {"d_weight", LayerNormLinear::kGradWeight},
                                               {"d_bias", LayerNormLinear::kGradBias}});
}

TEST(TransitionBackward, WritesOnlyTheRequestedGradients) {
  Transition op = ir::transition(13, 8, 2, {DType::kF16, {}, true, true, true});
  op = ir::with_gradients(op, op.all_gradients());
  expect_only_requested_gradients_written(op, {{"d_x", Transition::kGradX},
                                               {"d_gamma", Transition::kGradGamma},
                                               {"d_beta", Transition::kGradBeta},
                                               {"d_w1", Transition::kGradW1},
                                               {"d_w2", Transition::kGradW2}});
}

template <typename Op>
void expect_reproducible(const Op& op, const std::vector<std::string>& gradients) {
  ProblemTensors first(op, 71), second(op, 71), single(op, 71);
  ThreadPool pool(3), one(1);
  const auto direction = ir::Direction::backward(op.all_gradients());
  testing::run_pass(op, direction, first, pool);
  testing::run_pass(op, direction, second, pool);
  testing::run_pass(op, direction, single, one);
  for (const std::string& name : gradients) {
    EXPECT_TRUE(testing::bitwise_equal(first[name], second[name])) << name;
    EXPECT_LT(relative_error(first[name], single[name]), 1e-6) << name;
  }
}

TEST(LayerNormLinearBackward, IsBitwiseReproducibleForAThreadCount) {
  LayerNormLinear op = ir::layer_norm_linear(101, 16, 9, {DType::kF32, {}, true, true, false});
  op = ir::with_gradients(op, op.all_gradients());
  expect_reproducible(op, {"d_x", "d_gamma", "d_beta", "d_weight", "d_bias"});
}

TEST(TransitionBackward, IsBitwiseReproducibleForAThreadCount) {
  Transition op = ir::transition(101, 8, 2, {DType::kF32, {}, true, true, false});
  op = ir::with_gradients(op, op.all_gradients());
  expect_reproducible(op, {"d_x", "d_gamma", "d_beta", "d_w1", "d_w2"});
}

}  // namespace
}  // namespace mf::reference
