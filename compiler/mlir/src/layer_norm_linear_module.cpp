// LayerNormLinear (DESIGN.md §1.2) on the host. Forward: one stage over rows (statistics,
// the normalised row, the row times W). Backward: dx over rows, dγ/dβ/dW over input
// features and db over output features — each output element is summed by one iteration
// in a fixed order, so the gradients are deterministic whatever the thread split.
#include "stage_modules.h"
#include "row_products.h"
#include "stage_function.h"

namespace mf::compiler::mlir_generator {
namespace {

using mlir::Value;
// The statistics of row m as the backward uses them: those the forward saved, unless the
// compute type is wider than their f32 (f64 problems, which serve gradient checks), where
// they are computed again from x so that the gradients keep f64 accuracy.
std::pair<Value, Value> saved_statistics(StageFunction& f, const ir::LayerNormLinear& op, Value m) {
  KernelBuilder& k = f.kernel();
  if (k.compute().getWidth() > 32) return row_statistics(k, f.tensor("x"), m, op.eps);
  return {k.load(f.tensor("mean"), {m}), k.load(f.tensor("rstd"), {m})};
}

void forward_rows(StageFunction& f, const ir::LayerNormLinear& op) {
  KernelBuilder& k = f.kernel();
  Tensor x = f.tensor("x"), gamma = f.tensor("gamma"), weight = f.tensor("weight"), y = f.tensor("y");
  Value zero = k.index(0), features = k.size(x, 1), outputs = k.size(weight, 1);
  Tensor normalised = k.scratch(features);
  f.for_each_iteration([&](Value m) {
    auto [mean, rstd] = row_statistics(k, x, m, op.eps);
    if (f.has("mean")) k.store(f.tensor("mean"), {m}, mean);
    if (f.has("rstd")) k.store(f.tensor("rstd"), {m}, rstd);
    k.loop(zero, features, [&](Value i) {
      Value scaled = k.mul(k.mul(k.sub(k.load(x, {m, i}), mean), rstd), k.load(gamma, {i}));
      k.store(normalised, {i}, f.has("beta") ? k.add(scaled, k.load(f.tensor("beta"), {i})) : scaled);
    });
    row_times_matrix(
        k, features, outputs, [&](Value i) { return k.load(normalised, {i}); },
        [&](Value i, Value n) { return k.load(weight, {i, n}); }, unit_stride(op.weight, 1),
        [&](Value n, Value value) {
          k.store(y, {m, n}, f.has("bias") ? k.add(value, k.load(f.tensor("bias"), {n})) : value);
        });
  });
  k.release(normalised);
}

// dx[m, :] = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = γ ⊙ dh and dh = dy[m, :]·Wᵀ.
// With `keep_dh`, dh goes to workspace[m·K, m·K + K) for the parameter gradients' stage.
void backward_rows(StageFunction& f, const ir::LayerNormLinear& op, bool keep_dh) {
  KernelBuilder& k = f.kernel();
  Tensor x = f.tensor("x"), gamma = f.tensor("gamma"), weight = f.tensor("weight"), d_y = f.tensor("d_y");
  Tensor d_x = f.tensor("d_x");
  Value zero = k.index(0), features = k.size(x, 1), outputs = k.size(weight, 1);
  Value count = k.to_real(features);
  Tensor g = k.scratch(features);
  f.for_each_iteration([&](Value m) {
    auto [mu, r] = saved_statistics(f, op, m);
    auto x_hat = [&](Value i) { return k.mul(k.sub(k.load(x, {m, i}), mu), r); };
    row_times_matrix(
        k, outputs, features, [&](Value n) { return k.load(d_y, {m, n}); },
        [&](Value n, Value i) { return k.load(weight, {i, n}); }, unit_stride(op.weight, 0),
        [&](Value i, Value value) {
          if (keep_dh) k.store(f.workspace(), {k.index_add(k.index_mul(m, features), i)}, value);
          k.store(g, {i}, k.mul(value, k.load(gamma, {i})));
        });
    auto sums = k.sums(zero, features, 2, [&](Value i) {
      Value gi = k.load(g, {i});
      return std::vector<Value>{gi, k.mul(gi, x_hat(i))};
    });
    Value g_mean = k.div(sums[0], count), gx_mean = k.div(sums[1], count);
    k.loop(zero, features, [&](Value i) {
      Value centred = k.sub(k.sub(k.load(g, {i}), g_mean), k.mul(x_hat(i), gx_mean));
      k.store(d_x, {m, i}, k.mul(r, centred));
    });
  });
  k.release(g);
}

// For input feature i: dγ[i] = Σ_m dh[m, i]·x̂[m, i], dβ[i] = Σ_m dh[m, i] with
// dh[m, i] = dy[m, :]·W[i, :] (from the workspace when the dx stage kept it), and
// dW[i, :] = Σ_m (x̂[m, i]·γ[i] + β[i])·dy[m, :].
// Without `with_weight` the stage leaves dW to backward_weight_elements.
void backward_features(StageFunction& f, const ir::LayerNormLinear& op, bool kept_dh, bool with_weight) {
  KernelBuilder& k = f.kernel();
  Tensor x = f.tensor("x"), gamma = f.tensor("gamma"), weight = f.tensor("weight"), d_y = f.tensor("d_y");
  bool scale_grads = f.has("d_gamma") || f.has("d_beta"), weight_grad = with_weight && f.has("d_weight");
  Value zero = k.index(0), rows = k.size(x, 0), outputs = k.size(weight, 1), features = k.size(x, 1);
  Tensor accumulator = k.scratch(outputs);
  // W[i, :], copied once so that the per-row dot products walk contiguous memory in
  // either weight layout.
  Tensor weight_row = k.scratch(outputs);
  f.for_each_iteration([&](Value i) {
    if (scale_grads && !kept_dh)
      k.loop(zero, outputs, [&](Value n) { k.store(weight_row, {n}, k.load(weight, {i, n})); });
    Value gamma_i = k.load(gamma, {i});
    Value beta_i = f.has("beta") ? k.load(f.tensor("beta"), {i}) : k.real(0.0);
    if (weight_grad) k.loop(zero, outputs, [&](Value n) { k.store(accumulator, {n}, k.real(0.0)); });
    auto sums = k.sums(zero, rows, 2, [&](Value m) {
      auto [mean, rstd] = saved_statistics(f, op, m);
      Value x_hat = k.mul(k.sub(k.load(x, {m, i}), mean), rstd);
      if (weight_grad) {
        Value normalised = k.add(k.mul(x_hat, gamma_i), beta_i);
        k.loop(zero, outputs, [&](Value n) {
          k.store(accumulator, {n}, k.add(k.load(accumulator, {n}), k.mul(normalised, k.load(d_y, {m, n}))));
        });
      }
      if (!scale_grads) return std::vector<Value>{k.real(0.0), k.real(0.0)};
      Value d_normalised =
          kept_dh ? k.load(f.workspace(), {k.index_add(k.index_mul(m, features), i)})
                  : k.sum(zero, outputs, [&](Value n) { return k.mul(k.load(d_y, {m, n}), k.load(weight_row, {n})); });
      return std::vector<Value>{k.mul(d_normalised, x_hat), d_normalised};
    });
    if (f.has("d_gamma")) k.store(f.tensor("d_gamma"), {i}, sums[0]);
    if (f.has("d_beta")) k.store(f.tensor("d_beta"), {i}, sums[1]);
    if (weight_grad)
      k.loop(zero, outputs, [&](Value n) { k.store(f.tensor("d_weight"), {i, n}, k.load(accumulator, {n})); });
  });
  k.release(accumulator);
  k.release(weight_row);
}

// Iteration: element (i, n) of dW, Σ_m (x̂[m, i]·γ[i] + β[i])·dy[m, n] — the GPU's dW, one
// thread per element instead of one per input feature.
void backward_weight_elements(StageFunction& f, const ir::LayerNormLinear& op) {
  KernelBuilder& k = f.kernel();
  Tensor x = f.tensor("x"), gamma = f.tensor("gamma"), d_y = f.tensor("d_y"), d_weight = f.tensor("d_weight");
  Value zero = k.index(0), rows = k.size(x, 0), outputs = k.size(d_weight, 1);
  f.for_each_iteration([&](Value e) {
    Value i = k.index_div(e, outputs), n = k.index_rem(e, outputs);
    Value gamma_i = k.load(gamma, {i});
    Value beta_i = f.has("beta") ? k.load(f.tensor("beta"), {i}) : k.real(0.0);
    Value sum = k.sum(zero, rows, [&](Value m) {
      auto [mean, rstd] = saved_statistics(f, op, m);
      Value normalised = k.add(k.mul(k.mul(k.sub(k.load(x, {m, i}), mean), rstd), gamma_i), beta_i);
      return k.mul(normalised, k.load(d_y, {m, n}));
    });
    k.store(d_weight, {i, n}, sum);
  });
}

// db[n] = Σ_m dy[m, n].
void backward_outputs(StageFunction& f) {
  KernelBuilder& k = f.kernel();
  Tensor d_y = f.tensor("d_y"), d_bias = f.tensor("d_bias");
  Value zero = k.index(0), rows = k.size(d_y, 0);
  f.for_each_iteration(
      [&](Value n) { k.store(d_bias, {n}, k.sum(zero, rows, [&](Value m) { return k.load(d_y, {m, n}); })); });
}

}  // namespace

StageModule layer_norm_linear_module(mlir::MLIRContext& context, const ir::Problem& problem, StageTarget target) {
  const auto& op = std::get<ir::LayerNormLinear>(problem.op);
  StageModuleBuilder module(context, problem, op.x.dtype, target);
  if (problem.direction.pass == ir::Pass::kForward) {
    auto rows = module.stage("layer_norm_linear_rows", op.rows());
    forward_rows(rows, op);
    return module.finish();
  }
  const auto& d = problem.direction;
  // dh = dy·Wᵀ costs as much as the forward: computed once for dx and, when the scale
  // gradients are wanted too, kept in the workspace (M·K elements) for them.
  const bool keep_dh = d.wants(ir::LayerNormLinear::kGradX) &&
                       (d.wants(ir::LayerNormLinear::kGradGamma) || d.wants(ir::LayerNormLinear::kGradBeta));
  if (keep_dh) module.set_workspace_elements(op.rows() * op.in_features());
  if (d.wants(ir::LayerNormLinear::kGradX)) {
    auto rows = module.stage("layer_norm_linear_d_x", op.rows());
    backward_rows(rows, op, keep_dh);
  }
  // A GPU computes dW in a stage of its own, one thread per element: K threads, one per
  // input feature, would leave it idle.
  const bool weight_elements = target == StageTarget::kGpu && d.wants(ir::LayerNormLinear::kGradWeight);
  if (d.wants(ir::LayerNormLinear::kGradGamma) || d.wants(ir::LayerNormLinear::kGradBeta) ||
      (d.wants(ir::LayerNormLinear::kGradWeight) && !weight_elements)) {
    auto features = module.stage("layer_norm_linear_d_params", op.in_features());
    backward_features(features, op, keep_dh, !weight_elements);
  }
  if (weight_elements) {
    auto elements = module.stage("layer_norm_linear_d_weight", op.in_features() * op.out_features());
    backward_weight_elements(elements, op);
  }
  if (d.wants(ir::LayerNormLinear::kGradBias)) {
    auto outputs = module.stage("layer_norm_linear_d_bias", op.out_features());
    backward_outputs(outputs);
  }
  return module.finish();
}

}  // namespace mf::compiler::mlir_generator
