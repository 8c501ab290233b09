// EvoAttention with pair bias (DESIGN.md §1.1) on the host, every layout through strides.
// Forward: one stage over rows (b, s, h, q): the row's logits, their softmax and P·V.
// Backward, one stage over groups of (b, s, h) slices (see backward_groups); it recomputes
// the forward's statistics instead of reading o and lse, so that every dtype, f64
// included, keeps its own accuracy. No sum depends on how threads split the stage: the
// gradients, d_bias included, are deterministic.
#include <array>
#include <functional>
#include <limits>

#include "stage_modules.h"
#include "stage_function.h"

namespace mf::compiler::mlir_generator {
namespace {

using mlir::Value;

// One attention row: batch, row s, head, query.
struct RowIndex {
  Value b, s, h, q;
};

// The logits and rows of one problem, shared by its stages.
class Attention {
 public:
  Attention(StageFunction& f, const ir::EvoAttention& op) : f_(f), k_(f.kernel()), op_(op) {
    q_ = f.tensor("q");
    key_ = f.tensor("k");
    v_ = f.tensor("v");
    zero_ = k_.index(0);
    batch_ = k_.size(q_, 0);
    rows_ = k_.size(q_, 1);
    tokens_ = k_.size(q_, 2);
    heads_ = k_.size(q_, 3);
    dim_ = k_.size(q_, 4);
    scale_ = k_.real(op.effective_scale());
  }

  Value tokens() const { return tokens_; }
  Value heads() const { return heads_; }
  Value rows() const { return rows_; }
  Value batch() const { return batch_; }
  Value dim() const { return dim_; }
  Value scale() const { return scale_; }

  // Iteration r of B·S·H·N rows, q fastest.
  RowIndex row(Value r) {
    Value q = k_.index_rem(r, tokens_);
    Value bsh = k_.index_div(r, tokens_);
    Value h = k_.index_rem(bsh, heads_);
    Value bs = k_.index_div(bsh, heads_);
    return {k_.index_div(bs, rows_), k_.index_rem(bs, rows_), h, q};
  }

  // Element d of the [B, S, N, H, D] tensor `name` at token t of row i.
  Value token(const Tensor& t, const RowIndex& i, Value token, Value d) { return k_.load(t, {i.b, i.s, token, i.h, d}); }

  // L = c·⟨Q[q], K[key]⟩ + bias[b, s, h, q, key] + the mask's term.
  Value logit(const RowIndex& i, Value key) {
    Value dot = k_.sum(zero_, dim_, [&](Value d) { return k_.mul(token(q_, i, i.q, d), token(key_, i, key, d)); });
    Value logit = k_.mul(scale_, dot);
    if (op_.bias) logit = k_.add(logit, k_.load(f_.tensor("bias"), broadcast(*op_.bias, {i.b, i.s, i.h, i.q, key})));
    if (op_.mask_kind == ir::MaskKind::kNone) return logit;
    auto at = broadcast(*op_.mask, {i.b, i.s, zero_, zero_, key});
    Tensor mask = f_.tensor("mask");
    if (op_.mask_kind == ir::MaskKind::kAdditive) return k_.add(logit, k_.load(mask, at));
    return k_.select(k_.is_set(mask, at), logit, k_.real(-std::numeric_limits<double>::infinity()));
  }

  // The softmax of row i: L into `logits` [N], O = Σ P·V into `out` [D]; returns lse. A
  // row whose keys are all dropped gives O = 0 and lse = +∞ (so that its P is 0).
  Value softmax(const RowIndex& i, const Tensor& logits, const Tensor& out) {
    Value top = k_.maximum(zero_, tokens_, [&](Value key) {
      Value l = logit(i, key);
      k_.store(logits, {key}, l);
      return l;
    });
    Value lowest = k_.real(-std::numeric_limits<double>::infinity());
    Value shift = k_.select(k_.greater(top, lowest), top, k_.real(0.0));
    k_.loop(zero_, dim_, [&](Value d) { k_.store(out, {d}, k_.real(0.0)); });
    Value total = k_.sum(zero_, tokens_, [&](Value key) {
      Value p = k_.exp(k_.sub(k_.load(logits, {key}), shift));
      k_.loop(zero_, dim_, [&](Value d) {
        k_.store(out, {d}, k_.add(k_.load(out, {d}), k_.mul(p, token(v_, i, key, d))));
      });
      return p;
    });
    Value kept = k_.greater(total, k_.real(0.0));
    Value inverse = k_.select(kept, k_.div(k_.real(1.0), total), k_.real(0.0));
    k_.loop(zero_, dim_, [&](Value d) { k_.store(out, {d}, k_.mul(k_.load(out, {d}), inverse)); });
    return k_.select(kept, k_.add(shift, k_.log(total)), k_.infinity());
  }

  // Δ = ⟨dO[q], O[q]⟩ with O the row's output in `out`.
  Value delta(const RowIndex& i, const Tensor& out) {
    Tensor d_o = f_.tensor("d_o");
    return k_.sum(zero_, dim_, [&](Value d) { return k_.mul(token(d_o, i, i.q, d), k_.load(out, {d})); });
  }

  // dS[q, key] = P·(dP − Δ) with P = exp(L − lse), dP = ⟨dO[q], V[key]⟩; also returns P.
  std::pair<Value, Value> d_logit(const RowIndex& i, Value key, Value logit_value, Value lse, Value delta_value) {
    Tensor d_o = f_.tensor("d_o");
    Value p = k_.exp(k_.sub(logit_value, lse));
    Value d_p = k_.sum(zero_, dim_, [&](Value d) { return k_.mul(token(d_o, i, i.q, d), token(v_, i, key, d)); });
    return {k_.mul(p, k_.sub(d_p, delta_value)), p};
  }

 private:
  // Size-1 dimensions of a broadcast tensor read index 0.
  std::vector<Value> broadcast(const ir::TensorDesc& desc, std::vector<Value> index) {
    for (std::size_t d = 0; d < index.size(); ++d)
      if (desc.shape[d] == 1) index[d] = zero_;
    return index;
  }

  StageFunction& f_;
  KernelBuilder& k_;
  const ir::EvoAttention& op_;
  Tensor q_, key_, v_;
  Value zero_, batch_, rows_, tokens_, heads_, dim_, scale_;
};

void forward_rows(StageFunction& f, const ir::EvoAttention& op) {
  KernelBuilder& k = f.kernel();
  Attention attention(f, op);
  Tensor o = f.tensor("o");
  Tensor logits = k.scratch(attention.tokens()), out = k.scratch(attention.dim());
  f.for_each_iteration([&](Value r) {
    RowIndex i = attention.row(r);
    Value lse = attention.softmax(i, logits, out);
    k.loop(k.index(0), attention.dim(), [&](Value d) { k.store(o, {i.b, i.s, i.q, i.h, d}, k.load(out, {d})); });
    if (f.has("lse")) k.store(f.tensor("lse"), {i.b, i.s, i.h, i.q}, lse);
  });
  k.release(logits);
  k.release(out);
}

// The backward of one (b, s, h) slice, from scratch matrices of the slice:
//   P = exp(L − lse) and dS = P ⊙ (dP − Δ), both [N, N], computed once;
//   dV = Pᵀ·dO, dK = c·dSᵀ·Q, dQ = c·dS·K with [N, D] accumulators;
// and dS added to `bias_sums` (the group's d_bias slab) where d_bias is wanted.
class SliceBackward {
 public:
  SliceBackward(StageFunction& f, Attention& attention)
      : f_(f), k_(f.kernel()), attention_(attention), zero_(k_.index(0)) {
    Value tokens = attention.tokens(), dim = attention.dim();
    Value square = k_.index_mul(tokens, tokens), rows = k_.index_mul(tokens, dim);
    p_ = k_.scratch(square);
    d_s_ = k_.scratch(square);
    logits_ = k_.scratch(tokens);
    delta_ = k_.scratch(tokens);
    out_ = k_.scratch(dim);
    first_ = k_.scratch(rows);
    second_ = k_.scratch(rows);
  }

  void release() {
    for (const Tensor& t : {p_, d_s_, logits_, delta_, out_, first_, second_}) k_.release(t);
  }

  // bias_slot(q, key) gives the index into bias_sums, or nullopt without d_bias.
  void run(const RowIndex& slice, const std::optional<Tensor>& bias_sums,
           const std::function<Value(Value, Value)>& bias_slot) {
    Value tokens = attention_.tokens(), dim = attention_.dim();
    auto row = [&](Value q) { return RowIndex{slice.b, slice.s, slice.h, q}; };
    auto at = [&](Value q, Value key) { return k_.index_add(k_.index_mul(q, tokens), key); };
    Tensor d_o = f_.tensor("d_o");
    k_.loop(zero_, tokens, [&](Value q) {
      Value lse = attention_.softmax(row(q), logits_, out_);
      Value delta = attention_.delta(row(q), out_);
      k_.loop(zero_, tokens, [&](Value key) {
        Value p = k_.exp(k_.sub(k_.load(logits_, {key}), lse));
        Value d_p = k_.sum(zero_, dim, [&](Value d) {
          return k_.mul(attention_.token(d_o, row(q), q, d), attention_.token(f_.tensor("v"), row(q), key, d));
        });
        Value d_s = k_.mul(p, k_.sub(d_p, delta));
        k_.store(p_, {at(q, key)}, p);
        k_.store(d_s_, {at(q, key)}, d_s);
        if (bias_sums) {
          Value slot = bias_slot(q, key);
          k_.store(*bias_sums, {slot}, k_.add(k_.load(*bias_sums, {slot}), d_s));
        }
      });
    });
    if (f_.has("d_q")) {
      // dQ[q, :] = c·Σ_key dS[q, key]·K[key, :]
      product(tokens, [&](Value q, Value key) { return k_.load(d_s_, {at(q, key)}); }, "k", slice, first_);
      store(first_, "d_q", slice, attention_.scale());
    }
    if (f_.has("d_k")) {
      // dK[key, :] = c·Σ_q dS[q, key]·Q[q, :]
      product(tokens, [&](Value key, Value q) { return k_.load(d_s_, {at(q, key)}); }, "q", slice, first_);
      store(first_, "d_k", slice, attention_.scale());
    }
    if (f_.has("d_v")) {
      // dV[key, :] = Σ_q P[q, key]·dO[q, :]
      product(tokens, [&](Value key, Value q) { return k_.load(p_, {at(q, key)}); }, "d_o", slice, second_);
      store(second_, "d_v", slice, k_.real(1.0));
    }
  }

 private:
  // out[r, :] = Σ_t weight(r, t)·tensor[t, :] for rows r, t < N of the slice, into the
  // [N, D] accumulator `out` (t outer, d innermost: contiguous rows).
  void product(Value tokens, const std::function<Value(Value, Value)>& weight, const char* tensor,
               const RowIndex& slice, const Tensor& out) {
    Value dim = attention_.dim();
    Tensor source = f_.tensor(tensor);
    k_.loop(zero_, k_.index_mul(tokens, dim), [&](Value e) { k_.store(out, {e}, k_.real(0.0)); });
    k_.loop(zero_, tokens, [&](Value r) {
      Value base = k_.index_mul(r, dim);
      k_.loop(zero_, tokens, [&](Value t) {
        Value w = weight(r, t);
        k_.loop(zero_, dim, [&](Value d) {
          Value e = k_.index_add(base, d);
          k_.store(out, {e}, k_.add(k_.load(out, {e}), k_.mul(w, attention_.token(source, slice, t, d))));
        });
      });
    });
  }

  void store(const Tensor& rows, const char* gradient, const RowIndex& slice, Value factor) {
    Value dim = attention_.dim();
    Tensor target = f_.tensor(gradient);
    k_.loop(zero_, attention_.tokens(), [&](Value r) {
      k_.loop(zero_, dim, [&](Value d) {
        Value value = k_.load(rows, {k_.index_add(k_.index_mul(r, dim), d)});
        k_.store(target, {slice.b, slice.s, r, slice.h, d}, k_.mul(factor, value));
      });
    });
  }

  StageFunction& f_;
  KernelBuilder& k_;
  Attention& attention_;
  Value zero_;
  Tensor p_, d_s_, logits_, delta_, out_, first_, second_;
};

// Iteration: one group of (b, s, h) slices. Without d_bias a group is one slice. With
// d_bias it is one (b', s', h') of d_bias's leading indices: every slice whose bias it
// is (each of b, s, h over one index where d_bias has the full extent, over all where it
// has extent 1), so that the group sums its d_bias slab alone, slice by slice in order.
void backward_groups(StageFunction& f, const ir::EvoAttention& op) {
  KernelBuilder& k = f.kernel();
  Attention attention(f, op);
  SliceBackward backward(f, attention);
  Value zero = k.index(0), one = k.index(1);
  const bool with_bias = f.has("d_bias");
  std::vector<std::int64_t> group_shape = {op.batch(), op.rows(), op.heads(), op.seq_len(), op.seq_len()};
  if (with_bias) group_shape = op.d_bias->shape;
  Value extents[3] = {attention.batch(), attention.rows(), attention.heads()};
  std::optional<Tensor> sums;
  Value slab;
  if (with_bias) {
    Tensor d_bias = f.tensor("d_bias");
    slab = k.index_mul(k.size(d_bias, 3), k.size(d_bias, 4));
    sums = k.scratch(slab);
  }
  f.for_each_iteration([&](Value g) {
    Value own[3];
    Value rest = g;
    for (int d = 2; d >= 0; --d) {
      Value extent = group_shape[d] == 1 ? one : extents[d];
      own[d] = k.index_rem(rest, extent);
      rest = k.index_div(rest, extent);
    }
    auto range = [&](int d) -> std::pair<Value, Value> {
      if (with_bias && group_shape[d] == 1) return {zero, extents[d]};
      return {own[d], k.index_add(own[d], one)};
    };
    if (sums) k.loop(zero, slab, [&](Value e) { k.store(*sums, {e}, k.real(0.0)); });
    Tensor d_bias = with_bias ? f.tensor("d_bias") : Tensor{};
    auto slot = [&](Value q, Value key) {
      Value row = group_shape[3] == 1 ? zero : q, column = group_shape[4] == 1 ? zero : key;
      return k.index_add(k.index_mul(row, k.size(d_bias, 4)), column);
    };
    auto [b0, b1] = range(0);
    auto [s0, s1] = range(1);
    auto [h0, h1] = range(2);
    k.loop(b0, b1, [&](Value b) {
      k.loop(s0, s1, [&](Value s) {
        k.loop(h0, h1, [&](Value h) { backward.run(RowIndex{b, s, h, zero}, sums, slot); });
      });
    });
    if (!with_bias) return;
    k.loop(zero, k.size(d_bias, 3), [&](Value q) {
      k.loop(zero, k.size(d_bias, 4), [&](Value key) {
        k.store(d_bias, {own[0], own[1], own[2], q, key}, k.load(*sums, {slot(q, key)}));
      });
    });
  });
  backward.release();
  if (sums) k.release(*sums);
}

// ---- The GPU backward: one thread per row, key or d_bias element, no [N, N] scratch -------
// The host's slice groups would give a GPU B·H threads (with a [B, 1, H, N, N] bias) and
// 2·N² scratch values each; these stages recompute P and dS where each needs them instead.

// Where a row's lse and Δ live in the workspace: lse at r, Δ at R + r.
class RowStatistics {
 public:
  RowStatistics(StageFunction& f, Attention& attention) : k_(f.kernel()), workspace_(f.workspace()), a_(attention) {
    rows_ = k_.index_mul(k_.index_mul(a_.batch(), a_.rows()), k_.index_mul(a_.heads(), a_.tokens()));
  }
  Value rows() const { return rows_; }
  // The iteration number of row i (q fastest, as Attention::row counts).
  Value number(const RowIndex& i) {
    Value bs = k_.index_add(k_.index_mul(i.b, a_.rows()), i.s);
    return k_.index_add(k_.index_mul(k_.index_add(k_.index_mul(bs, a_.heads()), i.h), a_.tokens()), i.q);
  }
  Value lse(const RowIndex& i) { return k_.load(workspace_, {number(i)}); }
  Value delta(const RowIndex& i) { return k_.load(workspace_, {k_.index_add(rows_, number(i))}); }
  void store(Value r, Value lse, Value delta) {
    k_.store(workspace_, {r}, lse);
    k_.store(workspace_, {k_.index_add(rows_, r)}, delta);
  }
  // dS[q, key] (and P) of query row i, from the saved statistics.
  std::pair<Value, Value> d_logit(const RowIndex& i, Value key) {
    return a_.d_logit(i, key, a_.logit(i, key), lse(i), delta(i));
  }

 private:
  KernelBuilder& k_;
  Tensor workspace_;
  Attention& a_;
  Value rows_;
};

// Iteration: row r. Its lse and Δ = ⟨dO, O⟩, with O recomputed.
void gpu_row_statistics(StageFunction& f, const ir::EvoAttention& op) {
  KernelBuilder& k = f.kernel();
  Attention attention(f, op);
  RowStatistics statistics(f, attention);
  Tensor logits = k.scratch(attention.tokens()), out = k.scratch(attention.dim());
  f.for_each_iteration([&](Value r) {
    RowIndex i = attention.row(r);
    Value lse = attention.softmax(i, logits, out);
    statistics.store(r, lse, attention.delta(i, out));
  });
}

// Iteration: row r. dQ[q, :] = c·Σ_key dS[q, key]·K[key, :].
void gpu_d_q(StageFunction& f, const ir::EvoAttention& op) {
  KernelBuilder& k = f.kernel();
  Attention attention(f, op);
  RowStatistics statistics(f, attention);
  Tensor sum = k.scratch(attention.dim()), keys = f.tensor("k"), d_q = f.tensor("d_q");
  Value zero = k.index(0);
  f.for_each_iteration([&](Value r) {
    RowIndex i = attention.row(r);
    k.loop(zero, attention.dim(), [&](Value d) { k.store(sum, {d}, k.real(0.0)); });
    k.loop(zero, attention.tokens(), [&](Value key) {
      Value d_s = statistics.d_logit(i, key).first;
      k.loop(zero, attention.dim(), [&](Value d) {
        k.store(sum, {d}, k.add(k.load(sum, {d}), k.mul(d_s, attention.token(keys, i, key, d))));
      });
    });
    k.loop(zero, attention.dim(),
           [&](Value d) { k.store(d_q, {i.b, i.s, i.q, i.h, d}, k.mul(attention.scale(), k.load(sum, {d}))); });
  });
}

// Iteration: key row r (its q is the key). dK[key, :] = c·Σ_q dS[q, key]·Q[q, :] and
// dV[key, :] = Σ_q P[q, key]·dO[q, :], each where wanted.
void gpu_d_kv(StageFunction& f, const ir::EvoAttention& op) {
  KernelBuilder& k = f.kernel();
  Attention attention(f, op);
  RowStatistics statistics(f, attention);
  const bool want_k = f.has("d_k"), want_v = f.has("d_v");
  Tensor sum_k = k.scratch(attention.dim()), sum_v = k.scratch(attention.dim());
  Tensor queries = f.tensor("q"), d_o = f.tensor("d_o");
  Value zero = k.index(0);
  f.for_each_iteration([&](Value r) {
    RowIndex key_row = attention.row(r);
    Value key = key_row.q;
    k.loop(zero, attention.dim(), [&](Value d) {
      k.store(sum_k, {d}, k.real(0.0));
      k.store(sum_v, {d}, k.real(0.0));
    });
    k.loop(zero, attention.tokens(), [&](Value q) {
      RowIndex i{key_row.b, key_row.s, key_row.h, q};
      auto [d_s, p] = statistics.d_logit(i, key);
      k.loop(zero, attention.dim(), [&](Value d) {
        if (want_k) k.store(sum_k, {d}, k.add(k.load(sum_k, {d}), k.mul(d_s, attention.token(queries, i, q, d))));
        if (want_v) k.store(sum_v, {d}, k.add(k.load(sum_v, {d}), k.mul(p, attention.token(d_o, i, q, d))));
      });
    });
    k.loop(zero, attention.dim(), [&](Value d) {
      const std::array<Value, 5> at{key_row.b, key_row.s, key, key_row.h, d};
      if (want_k) k.store(f.tensor("d_k"), at, k.mul(attention.scale(), k.load(sum_k, {d})));
      if (want_v) k.store(f.tensor("d_v"), at, k.load(sum_v, {d}));
    });
  });
}

// Iteration: one element of d_bias, the sum of dS over every (b, s, h, q, key) whose bias
// it is (all indices of a dimension where d_bias has extent 1).
void gpu_d_bias(StageFunction& f, const ir::EvoAttention& op) {
  KernelBuilder& k = f.kernel();
  Attention attention(f, op);
  RowStatistics statistics(f, attention);
  Tensor d_bias = f.tensor("d_bias");
  const auto& shape = op.d_bias->shape;
  const Value extents[5] = {attention.batch(), attention.rows(), attention.heads(), attention.tokens(),
                            attention.tokens()};
  Value zero = k.index(0), one = k.index(1);
  f.for_each_iteration([&](Value e) {
    Value own[5];
    Value rest = e;
    for (int d = 4; d >= 0; --d) {
      Value extent = k.index(shape[d]);
      own[d] = k.index_rem(rest, extent);
      rest = k.index_div(rest, extent);
    }
    auto range = [&](int d) -> std::pair<Value, Value> {
      if (shape[d] == 1) return {zero, extents[d]};
      return {own[d], k.index_add(own[d], one)};
    };
    std::function<Value(int, std::array<Value, 5>&)> sum_over = [&](int d, std::array<Value, 5>& index) -> Value {
      auto [first, last] = range(d);
      return k.sum(first, last, [&](Value x) {
        index[d] = x;
        if (d < 4) return sum_over(d + 1, index);
        return statistics.d_logit(RowIndex{index[0], index[1], index[2], index[3]}, index[4]).first;
      });
    };
    std::array<Value, 5> index{};
    k.store(d_bias, {own[0], own[1], own[2], own[3], own[4]}, sum_over(0, index));
  });
}

void gpu_backward(StageModuleBuilder& module, const ir::EvoAttention& op, const ir::Direction& direction) {
  const std::int64_t rows = op.batch() * op.rows() * op.heads() * op.seq_len();
  module.set_workspace_elements(2 * rows);
  {
    auto statistics = module.stage("evo_attention_row_statistics", rows);
    gpu_row_statistics(statistics, op);
  }
  if (direction.wants(ir::EvoAttention::kGradQ)) {
    auto d_q = module.stage("evo_attention_d_q", rows);
    gpu_d_q(d_q, op);
  }
  if (direction.wants(ir::EvoAttention::kGradK) || direction.wants(ir::EvoAttention::kGradV)) {
    auto d_kv = module.stage("evo_attention_d_kv", rows);
    gpu_d_kv(d_kv, op);
  }
  if (direction.wants(ir::EvoAttention::kGradBias)) {
    std::int64_t elements = 1;
    for (std::int64_t extent : op.d_bias->shape) elements *= extent;
    auto d_bias = module.stage("evo_attention_d_bias", elements);
    gpu_d_bias(d_bias, op);
  }
}

}  // namespace

StageModule evo_attention_module(mlir::MLIRContext& context, const ir::Problem& problem, StageTarget target) {
  const auto& op = std::get<ir::EvoAttention>(problem.op);
  const auto& d = problem.direction;
  StageModuleBuilder module(context, problem, op.q.dtype, target);
  if (d.pass == ir::Pass::kForward) {
    auto rows = module.stage("evo_attention_rows", op.batch() * op.rows() * op.heads() * op.seq_len());
    forward_rows(rows, op);
    return module.finish();
  }
  if (target == StageTarget::kGpu) {
    gpu_backward(module, op, d);
    return module.finish();
  }
  std::int64_t group_count = op.batch() * op.rows() * op.heads();
  if (d.wants(ir::EvoAttention::kGradBias)) {
    const auto& slab = op.d_bias->shape;
    group_count = slab[0] * slab[1] * slab[2];
  }
  auto group_stage = module.stage("evo_attention_backward", group_count);
  backward_groups(group_stage, op);
  return module.finish();
}

}  // namespace mf::compiler::mlir_generator
