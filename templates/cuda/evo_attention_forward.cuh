// EvoAttention forward. One block computes kBlockQ query rows of kRowsPerBlock rows s of
// one (b, h) that share the bias, so each bias tile is read and converted once for all of
// them; each warp owns 16 query rows of every s. Key blocks stream through a
// kStages-deep shared-memory pipeline (evo_attention_common.cuh).
//   x = Q·Kᵀ + (bias + maskterm)/|c|  (Q negated when c < 0, so that L = |c|·x)
//   O = softmax(L)·V,  LSE = log Σ exp L
// The softmax is online with a lazily raised base: exponentials are taken against a base
// m that is raised only when a row's logits pass it by more than 2^8, so the output is
// rarely rescaled and P ≤ 2^8. The row sums come out of the P·V product (V's column of
// ones). Rows whose keys are all dropped give O = 0 and LSE = +inf.
#pragma once

namespace mf {

// How far (base 2) logits may pass the base before it is raised.
constexpr float kRaiseLog2 = 8.0f;

// The base of the two rows (g and g+8) a lane holds in a C fragment.
struct RowBase {
  float base[2];    // m in x units; −inf until a kept key is seen
  float offset[2];  // −m·|c|·log2 e (0 while m = −inf): the exponential's FMA addend
};

// op over row g + 8·half's values in x (columns 2t and 2t+1 of every tile), as a tree:
// a chain of dependent instructions as long as log2 of the count, not the count, which is
// what the warps otherwise stall on (ncu: "wait").
template <int kKeyTiles, class Op>
__device__ __forceinline__ float tree_reduce(const FragC (&x)[kKeyTiles], int half, Op op) {
  float v[kKeyTiles];
#pragma unroll
  for (int j = 0; j < kKeyTiles; ++j) v[j] = op(x[j].c[2 * half], x[j].c[2 * half + 1]);
#pragma unroll
  for (int stride = 1; stride < kKeyTiles; stride *= 2)
#pragma unroll
    for (int j = 0; j + stride < kKeyTiles; j += 2 * stride) v[j] = op(v[j], v[j + stride]);
  return v[0];
}

// Raises the base of rows whose logits (x units) passed it by more than `raise`; factor[half]
// is what the row's earlier output and sums must be multiplied by (1 where the base stayed).
// Returns whether any row of the warp changed its base.
template <int kKeyTiles>
__device__ __forceinline__ bool raise_bases(const FragC (&x)[kKeyTiles], RowBase& row, float exp_scale, float raise,
                                            float (&factor)[2]) {
  float block_max[2];
#pragma unroll
  for (int half = 0; half < 2; ++half)
    block_max[half] = tree_reduce<kKeyTiles>(x, half, [](float a, float b) { return fmaxf(a, b); });
  bool grows[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    block_max[half] = quad_max(block_max[half]);
    grows[half] = block_max[half] - row.base[half] > raise;  // false for −inf − −inf = NaN
  }
  if (!warp_any(grows[0] || grows[1])) return false;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    // From a base of −inf the factor is 0, and the accumulators are still 0.
    factor[half] = grows[half] ? exp2_approx((row.base[half] - block_max[half]) * exp_scale) : 1.0f;
    if (grows[half]) {
      row.base[half] = block_max[half];
      row.offset[half] = -block_max[half] * exp_scale;
    }
  }
  return true;
}

// Rows g and g+8 of C tiles times factor[0] and factor[1].
template <int kTiles>
__device__ __forceinline__ void rescale_rows(FragC (&out)[kTiles], const float (&factor)[2]) {
#pragma unroll
  for (int j = 0; j < kTiles; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) out[j].c[e] *= factor[e >> 1];
}

// Logits (x units) become P = 2^(x·exp_scale + offset).
template <int kKeyTiles>
__device__ __forceinline__ void exponentiate(FragC (&x)[kKeyTiles], const RowBase& row, float exp_scale) {
#pragma unroll
  for (int j = 0; j < kKeyTiles; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) x[j].c[e] = exp2_approx(fmaf(x[j].c[e], exp_scale, row.offset[e >> 1]));
}

// Turns a warp's logits (x units) into P = 2^(x·exp_scale + offset), raising the base of
// rows whose logits passed it and rescaling their output accumulators.
template <int kKeyTiles, int kOutTiles>
__device__ __forceinline__ void softmax_step(FragC (&x)[kKeyTiles], FragC (&out)[kOutTiles], RowBase& row,
                                             float exp_scale, float raise) {
  float factor[2];
  if (raise_bases(x, row, exp_scale, raise, factor)) rescale_rows(out, factor);
  exponentiate(x, row, exp_scale);
}

// out += P·[V | 1], P handed from the logits' registers straight to the product.
template <class C>
__device__ __forceinline__ void accumulate_values(FragC (&out)[C::kHeadDim / 8 + 1], const FragC (&prob)[C::kBlockK / 8],
                                                  const typename C::T* v_tile) {
  using T = typename C::T;
  constexpr int kOutTiles = C::kHeadDim / 8 + 1, kLd = KeyStage<C>::kLdSeq;
#pragma unroll
  for (int kk = 0; kk < C::kBlockK / 16; ++kk) {
    const FragA<T> p_frag = a_from_c<T>(prob[2 * kk], prob[2 * kk + 1]);
#pragma unroll
    for (int j = 0; j + 1 < kOutTiles; j += 2) {
      FragB<T> v0, v1;
      load_b_t2(v0, v1, v_tile, kLd, kk * 16, j * 8);
      mma(out[j], p_frag, v0);
      mma(out[j + 1], p_frag, v1);
    }
    if constexpr (kOutTiles % 2 == 1) {
      FragB<T> v_last;
      load_b_t(v_last, v_tile, kLd, kk * 16, (kOutTiles - 1) * 8);
      mma(out[kOutTiles - 1], p_frag, v_last);
    }
  }
}

// The LSE of a warp's rows g and g+8 (quad lane t = 0 writes) from their row sums, and the
// factors that normalise their output.
__device__ __forceinline__ void finish_rows(const MfEvoParams& p, const float (&sum)[2], const RowBase& row,
                                            float (&inv)[2], int b, int s, int h, int q_first) {
  const int g = lane_id() / 4, t = lane_id() % 4, n = p.seq_len;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    inv[half] = sum[half] > 0.0f ? 1.0f / sum[half] : 0.0f;
    const int q = q_first + g + half * 8;
    if (p.lse != nullptr && t == 0 && q < n)
      p.lse[((i64(b) * p.rows + s) * p.heads + h) * n + q] =
          sum[half] > 0.0f ? (log2f(sum[half]) - row.offset[half]) * kLn2 : pos_inf();
  }
}

// Writes a warp's 16 rows of O, normalised by the row sums (column kD of the last tile,
// held by each quad's lane t = 0), and their LSE.
template <class C>
__device__ __forceinline__ void store_output(const MfEvoParams& p, const FragC (&out)[C::kHeadDim / 8 + 1],
                                             const RowBase& row, typename C::T* staging, int b, int s, int h,
                                             int q_first) {
  float sum[2], inv[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) sum[half] = shuffle(out[C::kHeadDim / 8].c[2 * half], lane_id() & ~3);
  finish_rows(p, sum, row, inv, b, s, h, q_first);
  store_rows<C>(p.o, p, out, inv, PaddedStaging<typename C::T, KeyStage<C>::kLdSeq>{staging}, b, s, h, q_first);
}

// The forward's shared memory: each row's Q tile, then the stage ring of key blocks.
template <class C>
struct ForwardLayout {
  static constexpr int kQBytes = C::kRowsPerBlock * C::kBlockQ * KeyStage<C>::kLdSeq * int(sizeof(typename C::T));
  static constexpr int kBytes = kQBytes + C::kStages * KeyStage<C>::kBytes;
};

template <class C>
__device__ __forceinline__ void evo_attention_forward(const MfEvoParams& p) {
  using T = typename C::T;
  using Stage = KeyStage<C>;
  constexpr int kRows = C::kRowsPerBlock, kD = C::kHeadDim, kBQ = C::kBlockQ, kBK = C::kBlockK;
  constexpr int kThreads = 32 * C::kWarps, kLd = Stage::kLdSeq;
  constexpr int kKeyTiles = kBK / 8, kOutTiles = kD / 8 + 1;
  static_assert(kBQ == 16 * C::kWarps, "each warp owns 16 query rows");
  static_assert(kD % 16 == 0 && kBK % 16 == 0, "tiles are multiples of the 16-wide product");

  extern __shared__ __align__(128) unsigned char smem[];
  T* q_tiles = reinterpret_cast<T*>(smem);  // [kRows][kBQ][kLd]
  unsigned char* stages = smem + ForwardLayout<C>::kQBytes;

  const RowBlock rb = row_block<C>(p);
  const int n = p.seq_len, key_blocks = (n + kBK - 1) / kBK;
  const int row0 = threadIdx.x / 32 * 16;
  const float factor = 1.0f / fabsf(p.scale), exp_scale = fabsf(p.scale_log2);
  const float raise = kRaiseLog2 / exp_scale;  // in x units
  const KeyLoader<C> loader(p, rb);

#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    if (r >= rb.rows) break;
    copy_tile<T, kBQ, kD, kThreads>(q_tiles + r * kBQ * kLd, kLd,
                                    seq_slice<const T>(p.q, rb.b, rb.s0 + r, rb.h) + rb.q0 * p.q.stride_n,
                                    p.q.stride_n, p.q.stride_d, n - rb.q0, p.head_dim, p.q.vector_ok, threadIdx.x);
  }
  unsigned masked_stages = 0;  // bit i: this thread wrote a mask term other than 0 into stage i
#pragma unroll
  for (int i = 0; i < C::kStages; ++i) {
    const Stage st(stages + i * Stage::kBytes);
    st.template pad_values<kThreads>();
    if (i + 1 < C::kStages) {
      if (i < key_blocks) {
        loader.load(st, p, rb, i * kBK);
        MaskFetch<C> mask;
        mask.fetch(p, rb, i * kBK);
        if (mask.store(st, factor)) masked_stages |= 1u << i;
      }
      cp_async_commit();
    }
  }

  FragC out[kRows][kOutTiles];
  RowBase row[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int j = 0; j < kOutTiles; ++j) out[r][j] = FragC{};
    row[r] = RowBase{{neg_inf(), neg_inf()}, {0.0f, 0.0f}};
  }

  for (int kb = 0; kb < key_blocks; ++kb) {
    const int ahead = kb + C::kStages - 1, slot = kb % C::kStages;
    const Stage next(stages + (ahead % C::kStages) * Stage::kBytes);
    MaskFetch<C> next_mask;
    if (ahead < key_blocks) {
      loader.load(next, p, rb, ahead * kBK);
      next_mask.fetch(p, rb, ahead * kBK);
    }
    cp_async_commit();
    cp_async_wait<C::kStages - 1>();
    // Blocks whose keys are all kept (and in range) skip the mask terms.
    const bool masked = __syncthreads_or((masked_stages >> slot) & 1u) != 0;
    masked_stages &= ~(1u << slot);
    if (kb == 0 && p.scale < 0.0f) {
      for (int i = threadIdx.x; i < kRows * kBQ * kLd; i += kThreads) q_tiles[i] = negated(q_tiles[i]);
      __syncthreads();
    }
    const Stage st(stages + slot * Stage::kBytes);

    FragC bias[kKeyTiles];
    load_bias_fragments<C>(bias, st, row0, factor);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r >= rb.rows) break;
      FragC x[kKeyTiles];
      key_block_logits<C>(x, bias, q_tiles + r * kBQ * kLd, st.k(r), st.mask(r), row0, masked);
      softmax_step(x, out[r], row[r], exp_scale, raise);
      accumulate_values<C>(out[r], x, st.v(r));
    }
    if (ahead < key_blocks && next_mask.store(next, factor)) masked_stages |= 1u << (ahead % C::kStages);
    __syncthreads();  // the stage is refilled next
  }
  cp_async_wait<0>();

#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    if (r >= rb.rows) break;
    store_output<C>(p, out[r], row[r], q_tiles + (r * kBQ + row0) * kLd, rb.b, rb.s0 + r, rb.h, rb.q0 + row0);
  }
}

}  // namespace mf
