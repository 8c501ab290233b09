// The SwiGLU Transition (DESIGN.md §1.3) on the host. Forward: one stage over rows; the
// hidden row lives in a scratch row, never in memory the caller sees. Backward:
//   rows (blocks of rows): the hidden row again, dh = dy·W2ᵀ, du = [da | dg],
//     dx̂ = du·W1ᵀ, dx through the LayerNorm backward, and per-block sums of dx̂⊙x̂ and dx̂;
//   scale (input features): dγ, dβ as the blocks' sums added in block order;
//   weights (hidden units j): dW2[j, :] and the columns j and F + j of dW1, each summed
//     over all rows by one iteration, the row's hidden unit recomputed in O(D).
// Every sum has one fixed order, so the gradients are deterministic.
#include <algorithm>

#include "stage_modules.h"
#include "row_products.h"
#include "stage_function.h"

namespace mf::compiler::mlir_generator {
namespace {

using mlir::Value;

// Row blocks of the backward's rows stage: a function of the problem alone (never of the
// thread count), so that the per-block partial sums, and their total, are too.
constexpr std::int64_t kRowBlocks = 64;

// A GPU takes more blocks (threads) of fewer rows: 64 threads would leave it idle.
constexpr std::int64_t kGpuRowBlocks = 1024;

std::int64_t row_blocks(const ir::Transition& op, StageTarget target) {
  return std::max<std::int64_t>(1, std::min(op.rows(), target == StageTarget::kGpu ? kGpuRowBlocks : kRowBlocks));
}

struct SiLU {
  Value value, derivative;  // silu(g) = g·σ(g) and its derivative σ(g)·(1 + g·(1 − σ(g)))
};

SiLU silu(KernelBuilder& k, Value g) {
  Value one = k.real(1.0);
  Value sigmoid = k.div(one, k.add(one, k.exp(k.sub(k.real(0.0), g))));
  return {k.mul(g, sigmoid), k.mul(sigmoid, k.add(one, k.mul(g, k.sub(one, sigmoid))))};
}

// The rows' shared pieces: statistics, the LayerNorm's output x̂·γ + β (or x), the
// pre-activations u = LN(x)·W1 of a row.
class TransitionRows {
 public:
  TransitionRows(StageFunction& f, const ir::Transition& op) : f_(f), k_(f.kernel()), op_(op) {
    x_ = f.tensor("x");
    w1_ = f.tensor("w1");
    zero_ = k_.index(0);
    dim_ = k_.size(x_, 1);
    hidden_ = k_.size(f.tensor("w2"), 0);
    two_hidden_ = k_.size(w1_, 1);
  }

  Value dim() const { return dim_; }
  Value hidden() const { return hidden_; }
  Value two_hidden() const { return two_hidden_; }

  // mean and rstd of row m: computed (forward, or a backward whose compute type is wider
  // than the saved f32 statistics) or loaded.
  std::pair<Value, Value> statistics(Value m, bool computed) {
    if (!computed) return {k_.load(f_.tensor("mean"), {m}), k_.load(f_.tensor("rstd"), {m})};
    return row_statistics(k_, x_, m, op_.eps);
  }

  Value x_hat(Value m, Value i, Value mean, Value rstd) { return k_.mul(k_.sub(k_.load(x_, {m, i}), mean), rstd); }

  // The LayerNorm's output at (m, i), or x when the Transition has none.
  Value normalised(Value m, Value i, Value mean, Value rstd) {
    if (!op_.has_layer_norm()) return k_.load(x_, {m, i});
    Value scaled = k_.mul(x_hat(m, i, mean, rstd), k_.load(f_.tensor("gamma"), {i}));
    return f_.has("beta") ? k_.add(scaled, k_.load(f_.tensor("beta"), {i})) : scaled;
  }

  // row[i] = normalised(m, i) for the row m; then u[c] = Σ_i row[i]·W1[i, c].
  void pre_activations(Value m, Value mean, Value rstd, const Tensor& row, const Tensor& u) {
    k_.loop(zero_, dim_, [&](Value i) { k_.store(row, {i}, normalised(m, i, mean, rstd)); });
    row_times_matrix(
        k_, dim_, two_hidden_, [&](Value i) { return k_.load(row, {i}); },
        [&](Value i, Value c) { return k_.load(w1_, {i, c}); }, unit_stride(op_.w1, 1),
        [&](Value c, Value value) { k_.store(u, {c}, value); });
  }

 private:
  StageFunction& f_;
  KernelBuilder& k_;
  const ir::Transition& op_;
  Tensor x_, w1_;
  Value zero_, dim_, hidden_, two_hidden_;
};

// Whether a backward computes the statistics again instead of loading the saved f32 ones:
// when its compute type is wider (f64 problems, which serve gradient checks).
bool recompute_statistics(KernelBuilder& k) { return k.compute().getWidth() > 32; }

void forward_rows(StageFunction& f, const ir::Transition& op) {
  KernelBuilder& k = f.kernel();
  TransitionRows rows(f, op);
  Tensor w2 = f.tensor("w2"), y = f.tensor("y");
  Value zero = k.index(0);
  Tensor row = k.scratch(rows.dim()), u = k.scratch(rows.two_hidden()), h = k.scratch(rows.hidden());
  f.for_each_iteration([&](Value m) {
    Value mean = k.real(0.0), rstd = k.real(1.0);
    if (op.has_layer_norm()) {
      std::tie(mean, rstd) = rows.statistics(m, true);
      if (f.has("mean")) k.store(f.tensor("mean"), {m}, mean);
      if (f.has("rstd")) k.store(f.tensor("rstd"), {m}, rstd);
    }
    rows.pre_activations(m, mean, rstd, row, u);
    k.loop(zero, rows.hidden(), [&](Value j) {
      Value gate = k.load(u, {k.index_add(j, rows.hidden())});
      k.store(h, {j}, k.mul(k.load(u, {j}), silu(k, gate).value));
    });
    row_times_matrix(
        k, rows.hidden(), rows.dim(), [&](Value j) { return k.load(h, {j}); },
        [&](Value j, Value n) { return k.load(w2, {j, n}); }, unit_stride(op.w2, 1),
        [&](Value n, Value value) { k.store(y, {m, n}, value); });
  });
  for (const Tensor& t : {row, u, h}) k.release(t);
}

// Iteration b: the rows [b·M/B, (b+1)·M/B) of B blocks. Writes dx and, with the
// LayerNorm, the block's Σ dx̂⊙x̂ and Σ dx̂ at workspace[b·2D, b·2D + 2D).
void backward_rows(StageFunction& f, const ir::Transition& op, std::int64_t blocks) {
  KernelBuilder& k = f.kernel();
  TransitionRows rows(f, op);
  Tensor w1 = f.tensor("w1"), w2 = f.tensor("w2"), d_y = f.tensor("d_y"), workspace = f.workspace();
  const bool d_x = f.has("d_x"), partials = op.has_layer_norm() && (f.has("d_gamma") || f.has("d_beta"));
  const bool computed = recompute_statistics(k);
  Value zero = k.index(0), count = k.to_real(rows.dim()), total_rows = k.size(f.tensor("x"), 0);
  Value block_count = k.index(blocks), two_dim = k.index_add(rows.dim(), rows.dim());
  Tensor row = k.scratch(rows.dim()), u = k.scratch(rows.two_hidden()), dh = k.scratch(rows.hidden());
  Tensor du = k.scratch(rows.two_hidden()), g = k.scratch(rows.dim());
  f.for_each_iteration([&](Value b) {
    Value first = k.index_div(k.index_mul(b, total_rows), block_count);
    Value last = k.index_div(k.index_mul(k.index_add(b, k.index(1)), total_rows), block_count);
    Value base = k.index_mul(b, two_dim);
    if (partials) k.loop(zero, two_dim, [&](Value i) { k.store(workspace, {k.index_add(base, i)}, k.real(0.0)); });
    k.loop(first, last, [&](Value m) {
      Value mean = k.real(0.0), rstd = k.real(1.0);
      if (op.has_layer_norm()) std::tie(mean, rstd) = rows.statistics(m, computed);
      rows.pre_activations(m, mean, rstd, row, u);
      row_times_matrix(
          k, rows.dim(), rows.hidden(), [&](Value n) { return k.load(d_y, {m, n}); },
          [&](Value n, Value j) { return k.load(w2, {j, n}); }, unit_stride(op.w2, 0),
          [&](Value j, Value value) { k.store(dh, {j}, value); });
      k.loop(zero, rows.hidden(), [&](Value j) {
        Value gate_index = k.index_add(j, rows.hidden());
        Value a = k.load(u, {j}), gate = k.load(u, {gate_index}), d = k.load(dh, {j});
        SiLU s = silu(k, gate);
        k.store(du, {j}, k.mul(d, s.value));
        k.store(du, {gate_index}, k.mul(k.mul(d, a), s.derivative));
      });
      // g[i] = dx̂[i] = Σ_c du[c]·W1[i, c] (times γ below, with the LayerNorm).
      row_times_matrix(
          k, rows.two_hidden(), rows.dim(), [&](Value c) { return k.load(du, {c}); },
          [&](Value c, Value i) { return k.load(w1, {i, c}); }, unit_stride(op.w1, 0),
          [&](Value i, Value value) { k.store(g, {i}, value); });
      if (!op.has_layer_norm()) {
        if (d_x) k.loop(zero, rows.dim(), [&](Value i) { k.store(f.tensor("d_x"), {m, i}, k.load(g, {i})); });
        return;
      }
      if (partials) {
        k.loop(zero, rows.dim(), [&](Value i) {
          Value scale_at = k.index_add(base, i), shift_at = k.index_add(scale_at, rows.dim());
          Value gi = k.load(g, {i});
          k.store(workspace, {scale_at}, k.add(k.load(workspace, {scale_at}), k.mul(gi, rows.x_hat(m, i, mean, rstd))));
          k.store(workspace, {shift_at}, k.add(k.load(workspace, {shift_at}), gi));
        });
      }
      if (!d_x) return;
      Tensor gamma = f.tensor("gamma");
      k.loop(zero, rows.dim(), [&](Value i) { k.store(g, {i}, k.mul(k.load(g, {i}), k.load(gamma, {i}))); });
      auto sums = k.sums(zero, rows.dim(), 2, [&](Value i) {
        Value gi = k.load(g, {i});
        return std::vector<Value>{gi, k.mul(gi, rows.x_hat(m, i, mean, rstd))};
      });
      Value g_mean = k.div(sums[0], count), gx_mean = k.div(sums[1], count);
      k.loop(zero, rows.dim(), [&](Value i) {
        Value centred = k.sub(k.sub(k.load(g, {i}), g_mean), k.mul(rows.x_hat(m, i, mean, rstd), gx_mean));
        k.store(f.tensor("d_x"), {m, i}, k.mul(rstd, centred));
      });
    });
  });
  for (const Tensor& t : {row, u, dh, du, g}) k.release(t);
}

// Iteration i: dγ[i] and dβ[i] as the blocks' partial sums added in block order.
void backward_scale(StageFunction& f, std::int64_t blocks) {
  KernelBuilder& k = f.kernel();
  Tensor workspace = f.workspace();
  Value dim = k.size(f.tensor("x"), 1);
  Value two_dim = k.index_add(dim, dim);
  f.for_each_iteration([&](Value i) {
    auto sums = k.sums(k.index(0), k.index(blocks), 2, [&](Value b) {
      Value scale_at = k.index_add(k.index_mul(b, two_dim), i);
      return std::vector<Value>{k.load(workspace, {scale_at}), k.load(workspace, {k.index_add(scale_at, dim)})};
    });
    if (f.has("d_gamma")) k.store(f.tensor("d_gamma"), {i}, sums[0]);
    if (f.has("d_beta")) k.store(f.tensor("d_beta"), {i}, sums[1]);
  });
}

// Iteration j (a hidden unit): over all rows m, with a = u[m, j], g = u[m, F + j],
// h = a·silu(g) and dh = dy[m, :]·W2[j, :]:  dW2[j, :] += h·dy[m, :],
// dW1[:, j] += LN(x)[m, :]·dh·silu(g),  dW1[:, F + j] += LN(x)[m, :]·dh·a·silu'(g).
void backward_weights(StageFunction& f, const ir::Transition& op) {
  KernelBuilder& k = f.kernel();
  TransitionRows rows(f, op);
  Tensor w1 = f.tensor("w1"), w2 = f.tensor("w2"), d_y = f.tensor("d_y");
  const bool d_w1 = f.has("d_w1"), d_w2 = f.has("d_w2"), computed = recompute_statistics(k);
  Value zero = k.index(0), total_rows = k.size(f.tensor("x"), 0);
  Tensor row = k.scratch(rows.dim()), w2_sum = k.scratch(rows.dim());
  Tensor a_sum = k.scratch(rows.dim()), gate_sum = k.scratch(rows.dim());
  // The weights iteration j reads for every row, copied once so that the per-row dot
  // products walk contiguous memory whatever the weights' layout: W1[:, j], W1[:, F + j]
  // and W2[j, :].
  Tensor w1_a = k.scratch(rows.dim()), w1_gate = k.scratch(rows.dim()), w2_row = k.scratch(rows.dim());
  f.for_each_iteration([&](Value j) {
    Value gate_column = k.index_add(j, rows.hidden());
    for (const Tensor& t : {w2_sum, a_sum, gate_sum})
      k.loop(zero, rows.dim(), [&](Value i) { k.store(t, {i}, k.real(0.0)); });
    k.loop(zero, rows.dim(), [&](Value i) {
      k.store(w1_a, {i}, k.load(w1, {i, j}));
      k.store(w1_gate, {i}, k.load(w1, {i, gate_column}));
      k.store(w2_row, {i}, k.load(w2, {j, i}));
    });
    k.loop(zero, total_rows, [&](Value m) {
      Value mean = k.real(0.0), rstd = k.real(1.0);
      if (op.has_layer_norm()) std::tie(mean, rstd) = rows.statistics(m, computed);
      k.loop(zero, rows.dim(), [&](Value i) { k.store(row, {i}, rows.normalised(m, i, mean, rstd)); });
      auto u = k.sums(zero, rows.dim(), 2, [&](Value i) {
        Value r = k.load(row, {i});
        return std::vector<Value>{k.mul(r, k.load(w1_a, {i})), k.mul(r, k.load(w1_gate, {i}))};
      });
      SiLU s = silu(k, u[1]);
      if (d_w2) {
        Value h = k.mul(u[0], s.value);
        k.loop(zero, rows.dim(), [&](Value n) {
          k.store(w2_sum, {n}, k.add(k.load(w2_sum, {n}), k.mul(h, k.load(d_y, {m, n}))));
        });
      }
      if (!d_w1) return;
      Value dh = k.sum(zero, rows.dim(), [&](Value n) { return k.mul(k.load(d_y, {m, n}), k.load(w2_row, {n})); });
      Value da = k.mul(dh, s.value), dgate = k.mul(k.mul(dh, u[0]), s.derivative);
      k.loop(zero, rows.dim(), [&](Value i) {
        Value r = k.load(row, {i});
        k.store(a_sum, {i}, k.add(k.load(a_sum, {i}), k.mul(r, da)));
        k.store(gate_sum, {i}, k.add(k.load(gate_sum, {i}), k.mul(r, dgate)));
      });
    });
    k.loop(zero, rows.dim(), [&](Value i) {
      if (d_w2) k.store(f.tensor("d_w2"), {j, i}, k.load(w2_sum, {i}));
      if (d_w1) {
        k.store(f.tensor("d_w1"), {i, j}, k.load(a_sum, {i}));
        k.store(f.tensor("d_w1"), {i, gate_column}, k.load(gate_sum, {i}));
      }
    });
  });
  for (const Tensor& t : {row, w2_sum, a_sum, gate_sum, w1_a, w1_gate, w2_row}) k.release(t);
}

}  // namespace

StageModule transition_module(mlir::MLIRContext& context, const ir::Problem& problem, StageTarget target) {
  const auto& op = std::get<ir::Transition>(problem.op);
  const auto& d = problem.direction;
  StageModuleBuilder module(context, problem, op.x.dtype, target);
  if (d.pass == ir::Pass::kForward) {
    auto rows = module.stage("transition_rows", op.rows());
    forward_rows(rows, op);
    return module.finish();
  }
  const bool scale = op.has_layer_norm() && (d.wants(ir::Transition::kGradGamma) || d.wants(ir::Transition::kGradBeta));
  const std::int64_t blocks = row_blocks(op, target);
  if (scale) module.set_workspace_elements(blocks * 2 * op.dim());
  if (d.wants(ir::Transition::kGradX) || scale) {
    auto rows = module.stage("transition_d_x", blocks);
    backward_rows(rows, op, blocks);
  }
  if (scale) {
    auto features = module.stage("transition_d_scale", op.dim());
    backward_scale(features, blocks);
  }
  if (d.wants(ir::Transition::kGradW1) || d.wants(ir::Transition::kGradW2)) {
    auto hidden = module.stage("transition_d_weights", op.hidden());
    backward_weights(hidden, op);
  }
  return module.finish();
}

}  // namespace mf::compiler::mlir_generator
