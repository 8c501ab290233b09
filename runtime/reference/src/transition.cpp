// The SwiGLU Transition (DESIGN.md §1.3), forward and backward in double, row by row: the
// [M, 2F] hidden tensor is never materialised, each worker holds one row of it.
#include <algorithm>
#include <cmath>

#include "dense.h"
#include "layer_norm.h"
#include "mf/reference/reference.h"
#include "strided_view.h"
#include "worker_sums.h"

namespace mf::reference {
namespace {

using internal::ConstView;
using internal::Matrix;
using internal::Shape;
using internal::View;
using internal::WorkerSums;

double sigmoid(double g) {
  // Evaluated on the side where exp cannot overflow.
  if (g >= 0.0) return 1.0 / (1.0 + std::exp(-g));
  const double e = std::exp(g);
  return e / (1.0 + e);
}

double silu(double g) { return g * sigmoid(g); }

// d silu / dg = σ(g)·(1 + g·(1 − σ(g)))
double silu_derivative(double g) {
  const double s = sigmoid(g);
  return s * (1.0 + g * (1.0 - s));
}

// u = a ⊙ silu(g) for z = [a | g].
void swiglu(std::span<const double> z, std::span<double> u) {
  const std::size_t hidden = u.size();
  for (std::size_t f = 0; f < hidden; ++f) u[f] = z[f] * silu(z[hidden + f]);
}

// dz = [du ⊙ silu(g) | du ⊙ a ⊙ silu'(g)] for z = [a | g].
void swiglu_backward(std::span<const double> z, std::span<const double> d_u, std::span<double> d_z) {
  const std::size_t hidden = d_u.size();
  for (std::size_t f = 0; f < hidden; ++f) {
    const double a = z[f], g = z[hidden + f];
    d_z[f] = d_u[f] * silu(g);
    d_z[hidden + f] = d_u[f] * a * silu_derivative(g);
  }
}

// The inputs of one problem, loaded once: the optional LayerNorm and both weights (logical
// [D, 2F] and [F, D], whatever their memory layout) as dense doubles.
struct Inputs {
  Inputs(const ir::Transition& op, const TransitionData& data)
      : rows(op.rows()),
        dim(op.dim()),
        hidden(op.hidden()),
        x("x", op.x, data.x, Shape{rows, dim}),
        norm(op.gamma ? std::optional(internal::LayerNorm(
                            ConstView("gamma", *op.gamma, data.gamma, Shape{dim}),
                            internal::optional_input("beta", op.beta, data.beta, Shape{dim}), dim, op.eps))
                      : std::nullopt),
        w1(internal::load_matrix(ConstView("w1", op.w1, data.w1, Shape{dim, 2 * hidden}), dim, 2 * hidden)),
        w2(internal::load_matrix(ConstView("w2", op.w2, data.w2, Shape{hidden, dim}), hidden, dim)) {}

  // h = LN(x[m]) (x̂ kept for the backward), or x[m] itself without the LayerNorm.
  internal::RowStatistics input_row(std::int64_t m, std::span<double> x_row, std::span<double> x_hat,
                                    std::span<double> h) const {
    internal::load_row(x, m, x_row);
    if (norm) return norm->forward(x_row, x_hat, h);
    std::copy(x_row.begin(), x_row.end(), h.begin());
    return {};
  }

  // z = h·W1 and u = a ⊙ silu(g).
  void hidden_row(std::span<const double> h, std::span<double> z, std::span<double> u) const {
    std::fill(z.begin(), z.end(), 0.0);
    internal::add_row_times_matrix(h, w1, z);
    swiglu(z, u);
  }

  const std::int64_t rows, dim, hidden;
  const ConstView x;
  const std::optional<internal::LayerNorm> norm;
  const Matrix w1;  // [D, 2F]
  const Matrix w2;  // [F, D]
};

// Scratch rows of one worker: O(F), never O(M·F).
struct RowScratch {
  RowScratch(std::int64_t dim, std::int64_t hidden)
      : x(dim), x_hat(dim), h(dim), d_h(dim), d_x(dim), y(dim), d_y(dim),
        z(2 * hidden), d_z(2 * hidden), u(hidden), d_u(hidden) {}
  std::vector<double> x, x_hat, h, d_h, d_x, y, d_y, z, d_z, u, d_u;
};

void forward(const ir::Transition& op, const TransitionData& data, ThreadPool& pool) {
  const Inputs in(op, data);
  const View y("y", op.y, data.y, Shape{in.rows, in.dim});
  const auto mean = internal::optional_output("mean", op.mean, data.mean, Shape{in.rows});
  const auto rstd = internal::optional_output("rstd", op.rstd, data.rstd, Shape{in.rows});
  pool.parallel_for(in.rows, internal::rows_per_chunk(in.rows, pool), [&](std::int64_t begin, std::int64_t end, int) {
    RowScratch row(in.dim, in.hidden);
    for (std::int64_t m = begin; m < end; ++m) {
      const internal::RowStatistics statistics = in.input_row(m, row.x, row.x_hat, row.h);
      if (in.norm) internal::store_statistics(mean, rstd, m, statistics);
      in.hidden_row(row.h, row.z, row.u);
      std::fill(row.y.begin(), row.y.end(), 0.0);  // y = u·W2
      internal::add_row_times_matrix(row.u, in.w2, row.y);
      internal::store_row(y, m, row.y);
    }
  });
}

struct ParameterGradientSums {
  WorkerSums d_gamma, d_beta, d_w1, d_w2;
};

void backward(const ir::Transition& op, const ir::Direction& direction, const TransitionData& data,
              ThreadPool& pool) {
  using ir::Transition;
  const Inputs in(op, data);
  const std::int64_t rows = in.rows, dim = in.dim, hidden = in.hidden;
  const ConstView d_y = internal::required_input("d_y", op.d_y, data.d_y, Shape{rows, dim});
  const auto d_x = internal::wanted_output(direction.wants(Transition::kGradX), "d_x", op.d_x, data.d_x, Shape{rows, dim});
  const auto d_gamma = internal::wanted_output(direction.wants(Transition::kGradGamma), "d_gamma", op.d_gamma,
                                               data.d_gamma, Shape{dim});
  const auto d_beta = internal::wanted_output(direction.wants(Transition::kGradBeta), "d_beta", op.d_beta,
                                              data.d_beta, Shape{dim});
  const auto d_w1 = internal::wanted_output(direction.wants(Transition::kGradW1), "d_w1", op.d_w1, data.d_w1,
                                            Shape{dim, 2 * hidden});
  const auto d_w2 = internal::wanted_output(direction.wants(Transition::kGradW2), "d_w2", op.d_w2, data.d_w2,
                                            Shape{hidden, dim});
  ParameterGradientSums sums{WorkerSums(pool, d_gamma ? dim : 0), WorkerSums(pool, d_beta ? dim : 0),
                             WorkerSums(pool, d_w1 ? dim * 2 * hidden : 0), WorkerSums(pool, d_w2 ? hidden * dim : 0)};
  const bool needs_d_h = d_x || d_gamma || d_beta;
  const bool needs_d_z = needs_d_h || d_w1;
  const Matrix w2_t = needs_d_z ? internal::transposed(in.w2) : Matrix();  // [D, F]
  const Matrix w1_t = needs_d_h ? internal::transposed(in.w1) : Matrix();  // [2F, D]

  pool.parallel_for(rows, internal::rows_per_chunk(rows, pool), [&](std::int64_t begin, std::int64_t end, int worker) {
    RowScratch row(dim, hidden);
    for (std::int64_t m = begin; m < end; ++m) {
      const internal::RowStatistics statistics = in.input_row(m, row.x, row.x_hat, row.h);
      in.hidden_row(row.h, row.z, row.u);
      internal::load_row(d_y, m, row.d_y);
      if (d_w2) internal::add_outer_product(row.u, row.d_y, sums.d_w2.of(worker));  // dW2 += uᵀ·dy
      if (!needs_d_z) continue;
      std::fill(row.d_u.begin(), row.d_u.end(), 0.0);  // du = dy·W2ᵀ
      internal::add_row_times_matrix(row.d_y, w2_t, row.d_u);
      swiglu_backward(row.z, row.d_u, row.d_z);
      if (d_w1) internal::add_outer_product(row.h, row.d_z, sums.d_w1.of(worker));  // dW1 += hᵀ·dz
      if (!needs_d_h) continue;
      std::fill(row.d_h.begin(), row.d_h.end(), 0.0);  // dh = dz·W1ᵀ
      internal::add_row_times_matrix(row.d_z, w1_t, row.d_h);
      if (!in.norm) {
        if (d_x) internal::store_row(*d_x, m, row.d_h);  // h = x
        continue;
      }
      internal::add_layer_norm_parameter_gradients(row.d_h, row.x_hat, sums.d_gamma.of(worker), sums.d_beta.of(worker));
      if (!d_x) continue;
      in.norm->backward(row.d_h, row.x_hat, statistics.rstd, row.d_x);
      internal::store_row(*d_x, m, row.d_x);
    }
  });

  if (d_gamma) internal::store_vector(*d_gamma, sums.d_gamma.total());
  if (d_beta) internal::store_vector(*d_beta, sums.d_beta.total());
  if (d_w1) internal::store_matrix(*d_w1, dim, 2 * hidden, sums.d_w1.total());
  if (d_w2) internal::store_matrix(*d_w2, hidden, dim, sums.d_w2.total());
}

}  // namespace

void run(const ir::Transition& op, const ir::Direction& direction, const TransitionData& data, ThreadPool& pool) {
  if (direction.pass == ir::Pass::kForward)
    forward(op, data, pool);
  else
    backward(op, direction, data, pool);
}

}  // namespace mf::reference
