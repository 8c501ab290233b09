// LayerNorm → Linear (DESIGN.md §1.2), forward and backward in double, row by row.
#include <algorithm>

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

// The inputs of one problem, loaded once: the LayerNorm parameters, W (logical [K, N],
// whatever its memory layout) and b as dense doubles.
struct Inputs {
  Inputs(const ir::LayerNormLinear& op, const LayerNormLinearData& data)
      : rows(op.rows()),
        in_features(op.in_features()),
        out_features(op.out_features()),
        x("x", op.x, data.x, Shape{rows, in_features}),
        norm(ConstView("gamma", op.gamma, data.gamma, Shape{in_features}),
             internal::optional_input("beta", op.beta, data.beta, Shape{in_features}), in_features, op.eps),
        weight(internal::load_matrix(ConstView("weight", op.weight, data.weight, Shape{in_features, out_features}),
                                     in_features, out_features)),
        bias(op.bias ? internal::load_vector(ConstView("bias", *op.bias, data.bias, Shape{out_features}), out_features)
                     : std::vector<double>(static_cast<std::size_t>(out_features), 0.0)) {}

  // h = LN(x[m]), keeping x̂ for the backward.
  internal::RowStatistics normalise_row(std::int64_t m, std::span<double> x_row, std::span<double> x_hat,
                                        std::span<double> h) const {
    internal::load_row(x, m, x_row);
    return norm.forward(x_row, x_hat, h);
  }

  const std::int64_t rows, in_features, out_features;
  const ConstView x;
  const internal::LayerNorm norm;
  const Matrix weight;              // [K, N]
  const std::vector<double> bias;  // [N], zero without a bias
};

// Scratch rows of one worker: nothing of size M is ever allocated.
struct RowScratch {
  RowScratch(std::int64_t in_features, std::int64_t out_features)
      : x(in_features), x_hat(in_features), h(in_features), d_h(in_features), d_x(in_features),
        y(out_features), d_y(out_features) {}
  std::vector<double> x, x_hat, h, d_h, d_x, y, d_y;
};

void forward(const ir::LayerNormLinear& op, const LayerNormLinearData& data, ThreadPool& pool) {
  const Inputs in(op, data);
  const View y("y", op.y, data.y, Shape{in.rows, in.out_features});
  const auto mean = internal::optional_output("mean", op.mean, data.mean, Shape{in.rows});
  const auto rstd = internal::optional_output("rstd", op.rstd, data.rstd, Shape{in.rows});
  pool.parallel_for(in.rows, internal::rows_per_chunk(in.rows, pool), [&](std::int64_t begin, std::int64_t end, int) {
    RowScratch row(in.in_features, in.out_features);
    for (std::int64_t m = begin; m < end; ++m) {
      internal::store_statistics(mean, rstd, m, in.normalise_row(m, row.x, row.x_hat, row.h));
      std::copy(in.bias.begin(), in.bias.end(), row.y.begin());  // y = b + h·W
      internal::add_row_times_matrix(row.h, in.weight, row.y);
      internal::store_row(y, m, row.y);
    }
  });
}

// Per-worker sums of the gradients that reduce over the rows.
struct ParameterGradientSums {
  WorkerSums d_gamma, d_beta, d_weight, d_bias;
};

void backward(const ir::LayerNormLinear& op, const ir::Direction& direction, const LayerNormLinearData& data,
              ThreadPool& pool) {
  using ir::LayerNormLinear;
  const Inputs in(op, data);
  const std::int64_t rows = in.rows, k = in.in_features, n = in.out_features;
  const ConstView d_y = internal::required_input("d_y", op.d_y, data.d_y, Shape{rows, n});
  const auto d_x = internal::wanted_output(direction.wants(LayerNormLinear::kGradX), "d_x", op.d_x, data.d_x, Shape{rows, k});
  const auto d_gamma = internal::wanted_output(direction.wants(LayerNormLinear::kGradGamma), "d_gamma", op.d_gamma,
                                               data.d_gamma, Shape{k});
  const auto d_beta = internal::wanted_output(direction.wants(LayerNormLinear::kGradBeta), "d_beta", op.d_beta,
                                              data.d_beta, Shape{k});
  const auto d_weight = internal::wanted_output(direction.wants(LayerNormLinear::kGradWeight), "d_weight",
                                                op.d_weight, data.d_weight, Shape{k, n});
  const auto d_bias = internal::wanted_output(direction.wants(LayerNormLinear::kGradBias), "d_bias", op.d_bias,
                                              data.d_bias, Shape{n});
  ParameterGradientSums sums{WorkerSums(pool, d_gamma ? k : 0), WorkerSums(pool, d_beta ? k : 0),
                             WorkerSums(pool, d_weight ? k * n : 0), WorkerSums(pool, d_bias ? n : 0)};
  const bool needs_d_h = d_x || d_gamma || d_beta;
  const Matrix weight_t = needs_d_h ? internal::transposed(in.weight) : Matrix();  // [N, K]

  pool.parallel_for(rows, internal::rows_per_chunk(rows, pool), [&](std::int64_t begin, std::int64_t end, int worker) {
    RowScratch row(k, n);
    for (std::int64_t m = begin; m < end; ++m) {
      const internal::RowStatistics statistics = in.normalise_row(m, row.x, row.x_hat, row.h);
      internal::load_row(d_y, m, row.d_y);
      if (d_weight) internal::add_outer_product(row.h, row.d_y, sums.d_weight.of(worker));  // dW += hᵀ·dy
      if (d_bias) internal::add_scaled(1.0, row.d_y, sums.d_bias.of(worker));            // db += dy
      if (!needs_d_h) continue;
      std::fill(row.d_h.begin(), row.d_h.end(), 0.0);  // dh = dy·Wᵀ
      internal::add_row_times_matrix(row.d_y, weight_t, row.d_h);
      internal::add_layer_norm_parameter_gradients(row.d_h, row.x_hat, sums.d_gamma.of(worker), sums.d_beta.of(worker));
      if (!d_x) continue;
      in.norm.backward(row.d_h, row.x_hat, statistics.rstd, row.d_x);
      internal::store_row(*d_x, m, row.d_x);
    }
  });

  if (d_gamma) internal::store_vector(*d_gamma, sums.d_gamma.total());
  if (d_beta) internal::store_vector(*d_beta, sums.d_beta.total());
  if (d_weight) internal::store_matrix(*d_weight, k, n, sums.d_weight.total());
  if (d_bias) internal::store_vector(*d_bias, sums.d_bias.total());
}

}  // namespace

void run(const ir::LayerNormLinear& op, const ir::Direction& direction, const LayerNormLinearData& data,
         ThreadPool& pool) {
  if (direction.pass == ir::Pass::kForward)
    forward(op, data, pool);
  else
    backward(op, direction, data, pool);
}

}  // namespace mf::reference
