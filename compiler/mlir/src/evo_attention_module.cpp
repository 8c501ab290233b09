// EvoAttention with pair bias (DESIGN.md §1.1) on the host, every layout through strides.
// Forward: one stage over rows (b, s, h, q): the row's logits, their softmax and P·V.
// Backward, which recomputes the forward's statistics instead of reading o and lse (so
// that every dtype, f64 included, keeps its own accuracy):
//   slices (b, s, h): each row's lse and Δ = ⟨dO, O⟩, then dQ row by row and dK, dV key by
//     key, with P = exp(L − lse) and dS = P ⊙ (dP − Δ) recomputed where they are used;
//   d_bias rows (the gradient's own leading indices): dS summed over the dimensions the
//     bias broadcasts along, in a fixed order.
// No sum depends on how threads split a stage: the gradients are deterministic.
#include <limits>

#include "host_modules.h"
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
  k.loop(f.begin(), f.end(), [&](Value r) {
    RowIndex i = attention.row(r);
    Value lse = attention.softmax(i, logits, out);
    k.loop(k.index(0), attention.dim(), [&](Value d) { k.store(o, {i.b, i.s, i.q, i.h, d}, k.load(out, {d})); });
    if (f.has("lse")) k.store(f.tensor("lse"), {i.b, i.s, i.h, i.q}, lse);
  });
  k.release(logits);
  k.release(out);
}

// Iteration: one (b, s, h) slice, all its queries and keys.
void backward_slices(StageFunction& f, const ir::EvoAttention& op) {
  KernelBuilder& k = f.kernel();
  Attention attention(f, op);
  Value zero = k.index(0), tokens = attention.tokens(), dim = attention.dim();
  Tensor lse = k.scratch(tokens), delta = k.scratch(tokens), logits = k.scratch(tokens);
  Tensor first = k.scratch(dim), second = k.scratch(dim);
  auto clear = [&](const Tensor& t) { k.loop(zero, dim, [&](Value d) { k.store(t, {d}, k.real(0.0)); }); };
  auto accumulate = [&](const Tensor& t, Value weight, const std::function<Value(Value)>& row) {
    k.loop(zero, dim, [&](Value d) { k.store(t, {d}, k.add(k.load(t, {d}), k.mul(weight, row(d)))); });
  };
  k.loop(f.begin(), f.end(), [&](Value slice) {
    RowIndex at = attention.row(k.index_mul(slice, tokens));  // query 0 of the slice
    auto query = [&](Value q) { return RowIndex{at.b, at.s, at.h, q}; };
    k.loop(zero, tokens, [&](Value q) {
      Value l = attention.softmax(query(q), logits, first);
      k.store(lse, {q}, l);
      k.store(delta, {q}, attention.delta(query(q), first));
    });
    if (f.has("d_q")) {
      Tensor key = f.tensor("k"), d_q = f.tensor("d_q");
      k.loop(zero, tokens, [&](Value q) {
        RowIndex i = query(q);
        clear(first);
        k.loop(zero, tokens, [&](Value j) {
          auto [d_s, p] = attention.d_logit(i, j, attention.logit(i, j), k.load(lse, {q}), k.load(delta, {q}));
          accumulate(first, d_s, [&](Value d) { return attention.token(key, i, j, d); });
        });
        k.loop(zero, dim, [&](Value d) { k.store(d_q, {i.b, i.s, q, i.h, d}, k.mul(attention.scale(), k.load(first, {d}))); });
      });
    }
    if (f.has("d_k") || f.has("d_v")) {
      Tensor q_tensor = f.tensor("q"), d_o = f.tensor("d_o");
      k.loop(zero, tokens, [&](Value j) {
        clear(first);   // Σ_q dS·Q
        clear(second);  // Σ_q P·dO
        k.loop(zero, tokens, [&](Value q) {
          RowIndex i = query(q);
          auto [d_s, p] = attention.d_logit(i, j, attention.logit(i, j), k.load(lse, {q}), k.load(delta, {q}));
          if (f.has("d_k")) accumulate(first, d_s, [&](Value d) { return attention.token(q_tensor, i, q, d); });
          if (f.has("d_v")) accumulate(second, p, [&](Value d) { return attention.token(d_o, i, q, d); });
        });
        k.loop(zero, dim, [&](Value d) {
          if (f.has("d_k")) k.store(f.tensor("d_k"), {at.b, at.s, j, at.h, d}, k.mul(attention.scale(), k.load(first, {d})));
          if (f.has("d_v")) k.store(f.tensor("d_v"), {at.b, at.s, j, at.h, d}, k.load(second, {d}));
        });
      });
    }
  });
  for (const Tensor& t : {lse, delta, logits, first, second}) k.release(t);
}

// Iteration: one (b', s', h', q') of d_bias's leading dimensions, all its keys. Each of
// b, s, h, q, key runs over one index where d_bias has the full extent and over all of
// them where it has extent 1 (the bias broadcasts there).
void backward_bias(StageFunction& f, const ir::EvoAttention& op) {
  KernelBuilder& k = f.kernel();
  Attention attention(f, op);
  Tensor d_bias = f.tensor("d_bias");
  const ir::TensorDesc& desc = *op.d_bias;
  Value zero = k.index(0), one = k.index(1), tokens = attention.tokens();
  Value extents[5] = {attention.batch(), attention.rows(), attention.heads(), tokens, tokens};
  Tensor sums = k.scratch(k.size(d_bias, 4)), logits = k.scratch(tokens), out = k.scratch(attention.dim());
  k.loop(f.begin(), f.end(), [&](Value r) {
    Value own[4];
    Value rest = r;
    for (int d = 3; d >= 0; --d) {
      Value extent = k.size(d_bias, d);
      own[d] = k.index_rem(rest, extent);
      rest = k.index_div(rest, extent);
    }
    auto range = [&](int d) -> std::pair<Value, Value> {
      if (desc.shape[d] == 1) return {zero, extents[d]};
      return {own[d], k.index_add(own[d], one)};
    };
    const bool summed_keys = desc.shape[4] == 1;
    k.loop(zero, k.size(d_bias, 4), [&](Value j) { k.store(sums, {j}, k.real(0.0)); });
    auto [b0, b1] = range(0);
    auto [s0, s1] = range(1);
    auto [h0, h1] = range(2);
    auto [q0, q1] = range(3);
    k.loop(b0, b1, [&](Value b) {
      k.loop(s0, s1, [&](Value s) {
        k.loop(h0, h1, [&](Value h) {
          k.loop(q0, q1, [&](Value q) {
            RowIndex i{b, s, h, q};
            Value lse = attention.softmax(i, logits, out);
            Value delta = attention.delta(i, out);
            k.loop(zero, tokens, [&](Value key) {
              auto [d_s, p] = attention.d_logit(i, key, k.load(logits, {key}), lse, delta);
              Value slot = summed_keys ? zero : key;
              k.store(sums, {slot}, k.add(k.load(sums, {slot}), d_s));
            });
          });
        });
      });
    });
    k.loop(zero, k.size(d_bias, 4), [&](Value j) { k.store(d_bias, {own[0], own[1], own[2], own[3], j}, k.load(sums, {j})); });
  });
  for (const Tensor& t : {sums, logits, out}) k.release(t);
}

}  // namespace

std::optional<std::string> evo_attention_unsupported(const ir::Problem&) { return std::nullopt; }

HostModule evo_attention_module(mlir::MLIRContext& context, const ir::Problem& problem) {
  const auto& op = std::get<ir::EvoAttention>(problem.op);
  const auto& d = problem.direction;
  auto tensors = ir::tensor_list(problem);
  mlir::FloatType compute = compute_type(context, op.q.dtype);
  HostModule result{mlir::ModuleOp::create(mlir::UnknownLoc::get(&context)), {}, compute, 0};
  auto stage = [&](const std::string& name, std::int64_t iterations) {
    result.stages.push_back({name, iterations});
    return StageFunction(*result.module, name, tensors, compute);
  };
  const std::int64_t slices = op.batch() * op.rows() * op.heads();
  if (d.pass == ir::Pass::kForward) {
    auto rows = stage("evo_attention_rows", slices * op.seq_len());
    forward_rows(rows, op);
    return result;
  }
  if (d.wants(ir::EvoAttention::kGradQ) || d.wants(ir::EvoAttention::kGradK) || d.wants(ir::EvoAttention::kGradV)) {
    auto slice_stage = stage("evo_attention_d_qkv", slices);
    backward_slices(slice_stage, op);
  }
  if (d.wants(ir::EvoAttention::kGradBias)) {
    const auto& shape = op.d_bias->shape;
    auto bias_stage = stage("evo_attention_d_bias", shape[0] * shape[1] * shape[2] * shape[3]);
    backward_bias(bias_stage, op);
  }
  return result;
}

}  // namespace mf::compiler::mlir_generator
