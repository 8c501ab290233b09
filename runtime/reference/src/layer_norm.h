// Internal: the LayerNorm over one row that LayerNormLinear and Transition open with,
// forward and backward, in double. Statistics use the biased variance (as torch does).
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "dense.h"
#include "strided_view.h"

namespace mf::reference::internal {

struct RowStatistics {
  double mean = 0.0;
  double rstd = 1.0;  // 1 / sqrt(var + eps)
};

class LayerNorm {
 public:
  // beta may be absent (no shift).
  LayerNorm(const ConstView& gamma, const std::optional<ConstView>& beta, std::int64_t features, double eps)
      : gamma_(load_vector(gamma, features)),
        beta_(beta ? load_vector(*beta, features) : std::vector<double>(static_cast<std::size_t>(features), 0.0)),
        eps_(eps) {}

  // x̂ = (x − mean)·rstd and h = γ⊙x̂ + β.
  RowStatistics forward(std::span<const double> x, std::span<double> x_hat, std::span<double> h) const {
    const double count = static_cast<double>(x.size());
    double sum = 0.0;
    for (double value : x) sum += value;
    const double mean = sum / count;
    double squares = 0.0;
    for (double value : x) squares += (value - mean) * (value - mean);
    const double rstd = 1.0 / std::sqrt(squares / count + eps_);
    for (std::size_t i = 0; i < x.size(); ++i) {
      x_hat[i] = (x[i] - mean) * rstd;
      h[i] = gamma_[i] * x_hat[i] + beta_[i];
    }
    return {mean, rstd};
  }

  // dx from dh = ∂loss/∂h. With g = γ⊙dh the mean and variance terms give
  // dx = rstd·(g − mean(g) − x̂·mean(g⊙x̂)).
  void backward(std::span<const double> dh, std::span<const double> x_hat, double rstd, std::span<double> dx) const {
    const double count = static_cast<double>(dh.size());
    double g_sum = 0.0, g_x_hat_sum = 0.0;
    for (std::size_t i = 0; i < dh.size(); ++i) {
      g_sum += gamma_[i] * dh[i];
      g_x_hat_sum += gamma_[i] * dh[i] * x_hat[i];
    }
    const double g_mean = g_sum / count, g_x_hat_mean = g_x_hat_sum / count;
    for (std::size_t i = 0; i < dh.size(); ++i)
      dx[i] = rstd * (gamma_[i] * dh[i] - g_mean - x_hat[i] * g_x_hat_mean);
  }

 private:
  std::vector<double> gamma_, beta_;
  double eps_;
};

// dγ += dh⊙x̂ and dβ += dh for one row; an empty span skips that gradient.
inline void add_layer_norm_parameter_gradients(std::span<const double> dh, std::span<const double> x_hat,
                                               std::span<double> d_gamma, std::span<double> d_beta) {
  for (std::size_t i = 0; i < d_gamma.size(); ++i) d_gamma[i] += dh[i] * x_hat[i];
  for (std::size_t i = 0; i < d_beta.size(); ++i) d_beta[i] += dh[i];
}

// The forward saves mean and rstd (f32 [M]) where the problem has them.
inline void store_statistics(const std::optional<View>& mean, const std::optional<View>& rstd, std::int64_t row,
                             const RowStatistics& statistics) {
  if (mean) (*mean)(row) = statistics.mean;
  if (rstd) (*rstd)(row) = statistics.rstd;
}

}  // namespace mf::reference::internal
