// EvoAttention with pair bias (DESIGN.md §1.1), forward and backward in double.
//
// The work splits into independent head slices (b, s, h): the N queries of one head of
// one row. Each slice is loaded into dense [N, D] matrices and computed with the textbook
// formulas; only dBias crosses slices, and it is summed per worker (worker_sums.h).
#include <cmath>
#include <limits>

#include "dense.h"
#include "mf/reference/reference.h"
#include "strided_view.h"
#include "worker_sums.h"

namespace mf::reference {
namespace {

using internal::ConstView;
using internal::Matrix;
using internal::Shape;
using internal::View;

constexpr double kPlusInfinity = std::numeric_limits<double>::infinity();
constexpr double kMinusInfinity = -kPlusInfinity;

struct HeadSlice {
  std::int64_t b, s, h;
};

// Row softmax of the logits: P and, per query, lse = log Σ_k exp L[k].
struct Probabilities {
  Matrix p;
  std::vector<double> lse;
};

// A query whose logits are all −∞ (every key dropped) gets P = 0, so its output and
// gradients are exactly zero instead of 0/0, and lse = +∞ (the FlashAttention convention):
// a backward that recomputes P = exp(L − lse) from the saved lse then gets exp(−∞) = 0 for
// every key, where lse = −∞ would give exp(−∞ + ∞) = NaN.
Probabilities softmax_rows(const Matrix& logits) {
  Probabilities result{Matrix(logits.rows(), logits.cols()), std::vector<double>(logits.rows())};
  for (std::int64_t q = 0; q < logits.rows(); ++q) {
    const auto row = logits.row(q);
    double max = kMinusInfinity;
    for (double value : row) max = std::max(max, value);
    if (max == kMinusInfinity) {
      result.lse[q] = kPlusInfinity;
      continue;
    }
    const auto p = result.p.row(q);
    double sum = 0.0;
    for (std::size_t k = 0; k < row.size(); ++k) {
      p[k] = std::exp(row[k] - max);
      sum += p[k];
    }
    for (double& value : p) value /= sum;
    result.lse[q] = max + std::log(sum);
  }
  return result;
}

// dS = P ⊙ (dP − Δ) with Δ[q] = Σ_k P[q, k]·dP[q, k].
Matrix softmax_backward(const Matrix& p, const Matrix& d_p) {
  Matrix d_s(p.rows(), p.cols());
  for (std::int64_t q = 0; q < p.rows(); ++q) {
    const double delta = internal::dot(p.row(q), d_p.row(q));
    for (std::int64_t k = 0; k < p.cols(); ++k) d_s(q, k) = p(q, k) * (d_p(q, k) - delta);
  }
  return d_s;
}

// Logical shapes: activations [B, S, N, H, D], bias [B, S, H, N, N], mask [B, S, 1, 1, N],
// lse [B, S, H, N].
struct Shapes {
  explicit Shapes(const ir::EvoAttention& op) : activation(op.q.shape) {
    if (op.q.rank() != 5)
      ir::fail(ir::ErrorKind::kShapeMismatch, "reference: q must have rank 5 [B, S, N, H, D]");
    const std::int64_t batch = op.batch(), rows = op.rows(), seq = op.seq_len(), heads = op.heads();
    bias = {batch, rows, heads, seq, seq};
    mask = {batch, rows, 1, 1, seq};
    lse = {batch, rows, heads, seq};
  }
  Shape activation, bias, mask, lse;
};

// The inputs of one problem, read by logical index, and the forward of one head slice.
class Inputs {
 public:
  Inputs(const ir::EvoAttention& op, const EvoAttentionData& data)
      : shapes(op),
        q("q", op.q, data.q, shapes.activation),
        k("k", op.k, data.k, shapes.activation),
        v("v", op.v, data.v, shapes.activation),
        bias_(internal::optional_input("bias", op.bias, data.bias, shapes.bias)),
        mask_(op.mask_kind == ir::MaskKind::kNone
                  ? std::nullopt
                  : std::optional(internal::required_input("mask", op.mask, data.mask, shapes.mask))),
        mask_kind_(op.mask_kind),
        scale_(op.effective_scale()) {}

  double scale() const { return scale_; }
  std::int64_t slices() const { return shapes.activation[0] * shapes.activation[1] * shapes.activation[3]; }
  HeadSlice slice(std::int64_t index) const {
    const std::int64_t heads = shapes.activation[3], rows = shapes.activation[1];
    return {index / (rows * heads), index / heads % rows, index % heads};
  }

  // The [N, D] matrix of one head slice of q, k, v or d_o.
  Matrix head(const ConstView& tensor, HeadSlice slice) const {
    Matrix m(seq_len(), head_dim());
    for (std::int64_t n = 0; n < seq_len(); ++n)
      for (std::int64_t d = 0; d < head_dim(); ++d) m(n, d) = tensor(slice.b, slice.s, n, slice.h, d);
    return m;
  }

  // L = c·Q·Kᵀ + bias + maskterm, then P = softmax(L) row by row.
  Probabilities probabilities(HeadSlice slice, const Matrix& q_head, const Matrix& k_head) const {
    Matrix logits = internal::product(q_head, internal::transposed(k_head));
    internal::scale(logits, scale_);
    for (std::int64_t query = 0; query < seq_len(); ++query)
      for (std::int64_t key = 0; key < seq_len(); ++key)
        logits(query, key) += bias_term(slice, query, key) + mask_term(slice, key);
    return softmax_rows(logits);
  }

  const Shapes shapes;
  const ConstView q, k, v;

 private:
  std::int64_t seq_len() const { return shapes.activation[2]; }
  std::int64_t head_dim() const { return shapes.activation[4]; }

  double bias_term(HeadSlice slice, std::int64_t query, std::int64_t key) const {
    return bias_ ? (*bias_)(slice.b, slice.s, slice.h, query, key) : 0.0;
  }

  // Boolean: 0 for a kept key (nonzero), −∞ for a dropped one. Additive: the value.
  double mask_term(HeadSlice slice, std::int64_t key) const {
    if (!mask_) return 0.0;
    const double value = (*mask_)(slice.b, slice.s, 0, 0, key);
    if (mask_kind_ == ir::MaskKind::kBoolean) return value != 0.0 ? 0.0 : kMinusInfinity;
    return value;
  }

  std::optional<ConstView> bias_, mask_;
  ir::MaskKind mask_kind_;
  double scale_;
};

void store_head(const View& tensor, HeadSlice slice, const Matrix& m) {
  for (std::int64_t n = 0; n < m.rows(); ++n)
    for (std::int64_t d = 0; d < m.cols(); ++d) tensor(slice.b, slice.s, n, slice.h, d) = m(n, d);
}

// dBias = dS summed over every dimension along which the bias broadcasts: where d_bias has
// size 1 (or stride 0, in which case each aliased element receives the same sum).
class BiasGradient {
 public:
  BiasGradient(const ir::TensorDesc& d_bias, void* base, const Shapes& shapes, const ThreadPool& pool)
      : extent_(d_bias.shape),
        output_("d_bias", d_bias, base, d_bias.shape),
        sum_layout_(summed_layout(d_bias)),
        sum_index_("d_bias", sum_layout_, shapes.bias, internal::Broadcast::kAllowed),
        sums_(pool, sum_layout_.numel()) {}

  void add(int worker, HeadSlice slice, const Matrix& d_s) {
    const auto sum = sums_.of(worker);
    for (std::int64_t q = 0; q < d_s.rows(); ++q)
      for (std::int64_t k = 0; k < d_s.cols(); ++k) sum[sum_index_.offset(slice.b, slice.s, slice.h, q, k)] += d_s(q, k);
  }

  void store() const {
    const std::vector<double> total = sums_.total();
    for (std::int64_t b = 0; b < extent_[0]; ++b)
      for (std::int64_t s = 0; s < extent_[1]; ++s)
        for (std::int64_t h = 0; h < extent_[2]; ++h)
          for (std::int64_t q = 0; q < extent_[3]; ++q)
            for (std::int64_t k = 0; k < extent_[4]; ++k)
              output_(b, s, h, q, k) = total[sum_index_.offset(b, s, h, q, k)];
  }

 private:
  // Dense f64 layout of the sums: the d_bias shape with its broadcast dimensions at 1.
  static ir::TensorDesc summed_layout(const ir::TensorDesc& d_bias) {
    Shape shape = d_bias.shape;
    for (int d = 0; d < d_bias.rank(); ++d)
      if (d_bias.is_broadcast_dim(d)) shape[d] = 1;
    return ir::TensorDesc::contiguous(ir::DType::kF64, shape);
  }

  Shape extent_;
  View output_;
  ir::TensorDesc sum_layout_;
  internal::StridedIndex sum_index_;
  internal::WorkerSums sums_;
};

void forward(const ir::EvoAttention& op, const EvoAttentionData& data, ThreadPool& pool) {
  const Inputs in(op, data);
  const View o("o", op.o, data.o, in.shapes.activation);
  const auto lse = internal::optional_output("lse", op.lse, data.lse, in.shapes.lse);
  pool.parallel_for(in.slices(), 1, [&](std::int64_t begin, std::int64_t end, int) {
    for (std::int64_t index = begin; index < end; ++index) {
      const HeadSlice slice = in.slice(index);
      const Probabilities attention = in.probabilities(slice, in.head(in.q, slice), in.head(in.k, slice));
      store_head(o, slice, internal::product(attention.p, in.head(in.v, slice)));
      if (lse)
        for (std::int64_t n = 0; n < attention.p.rows(); ++n) (*lse)(slice.b, slice.s, slice.h, n) = attention.lse[n];
    }
  });
}

void backward(const ir::EvoAttention& op, const ir::Direction& direction, const EvoAttentionData& data,
              ThreadPool& pool) {
  using ir::EvoAttention;
  const Inputs in(op, data);
  const Shape& shape = in.shapes.activation;
  const ConstView d_o = internal::required_input("d_o", op.d_o, data.d_o, shape);
  const auto d_q = internal::wanted_output(direction.wants(EvoAttention::kGradQ), "d_q", op.d_q, data.d_q, shape);
  const auto d_k = internal::wanted_output(direction.wants(EvoAttention::kGradK), "d_k", op.d_k, data.d_k, shape);
  const auto d_v = internal::wanted_output(direction.wants(EvoAttention::kGradV), "d_v", op.d_v, data.d_v, shape);
  std::optional<BiasGradient> d_bias;
  if (direction.wants(EvoAttention::kGradBias)) {
    if (!op.d_bias) ir::fail(ir::ErrorKind::kInvalidArgument, "reference: the direction asks for d_bias but it is absent");
    d_bias.emplace(*op.d_bias, data.d_bias, in.shapes, pool);
  }

  pool.parallel_for(in.slices(), 1, [&](std::int64_t begin, std::int64_t end, int worker) {
    for (std::int64_t index = begin; index < end; ++index) {
      const HeadSlice slice = in.slice(index);
      const Matrix q = in.head(in.q, slice), k = in.head(in.k, slice), v = in.head(in.v, slice);
      const Matrix d_o_head = in.head(d_o, slice);
      const Matrix p = in.probabilities(slice, q, k).p;
      const Matrix d_s = softmax_backward(p, internal::product(d_o_head, internal::transposed(v)));
      if (d_q) {  // dQ = c·dS·K
        Matrix d_q_head = internal::product(d_s, k);
        internal::scale(d_q_head, in.scale());
        store_head(*d_q, slice, d_q_head);
      }
      if (d_k) {  // dK = c·dSᵀ·Q
        Matrix d_k_head = internal::transposed_product(d_s, q);
        internal::scale(d_k_head, in.scale());
        store_head(*d_k, slice, d_k_head);
      }
      if (d_v) store_head(*d_v, slice, internal::transposed_product(p, d_o_head));  // dV = Pᵀ·dO
      if (d_bias) d_bias->add(worker, slice, d_s);
    }
  });
  if (d_bias) d_bias->store();
}

}  // namespace

void run(const ir::EvoAttention& op, const ir::Direction& direction, const EvoAttentionData& data,
         ThreadPool& pool) {
  if (direction.pass == ir::Pass::kForward)
    forward(op, data, pool);
  else
    backward(op, direction, data, pool);
}

}  // namespace mf::reference
