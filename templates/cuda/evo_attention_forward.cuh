// EvoAttention forward: one block computes kBlockQ query rows of one (b, s, h), each warp
// 16 of them, streaming key blocks through a kStages-deep shared-memory pipeline.
//   L = c·QKᵀ + bias + maskterm (in base 2),  O = softmax(L)·V,  LSE = log Σ exp L
// The softmax is online: a running row maximum m and sum l, with the output rescaled
// when m grows. Rows whose keys are all dropped give O = 0 and LSE = +inf.
#pragma once

namespace mf {

// Row statistics of the two rows (g and g+8) a lane holds in a C fragment.
struct RowState {
  float max[2];  // running maximum of the base-2 logits (−inf until a kept key is seen)
  float sum[2];  // this lane's share of Σ 2^(L − max); the quad is summed at the end
};

// The maximum used for exponentials: −inf would make (−inf) − (−inf) = NaN.
__device__ __forceinline__ float usable_max(float m) { return m == neg_inf() ? 0.0f : m; }

__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

template <class C>
__device__ __forceinline__ void evo_attention_forward(const MfEvoParams& p) {
  using T = typename C::T;
  using Stage = KeyStage<C>;
  constexpr int kD = C::kHeadDim, kBQ = C::kBlockQ, kBK = C::kBlockK;
  constexpr int kThreads = 32 * C::kWarps;
  constexpr int kKeyTiles = kBK / 8, kDimTiles = kD / 8;
  static_assert(kBQ == 16 * C::kWarps, "each warp owns 16 query rows");
  static_assert(kD % 16 == 0 && kBK % 16 == 0, "tiles are multiples of the 16-wide product");

  extern __shared__ __align__(128) unsigned char smem[];
  T* q_tile = reinterpret_cast<T*>(smem);
  unsigned char* stages = smem + kBQ * Stage::kLdSeq * int(sizeof(T));

  const int n = p.seq_len, query_tiles = (n + kBQ - 1) / kBQ;
  int index = blockIdx.x;  // s varies fastest: neighbouring blocks read the same bias rows
  const int s = index % p.rows;
  index /= p.rows;
  const int q0 = (index % query_tiles) * kBQ;
  index /= query_tiles;
  const int h = index % p.heads, b = index / p.heads;
  const int warp = threadIdx.x / 32, g = lane_id() / 4, t = lane_id() % 4;
  const int key_blocks = (n + kBK - 1) / kBK;

  copy_tile<T, kBQ, kD, kThreads>(q_tile, Stage::kLdSeq, seq_slice<const T>(p.q, b, s, h) + q0 * p.q.stride_n,
                                  p.q.stride_n, p.q.stride_d, n - q0, p.head_dim, p.q.vector_ok, threadIdx.x);
#pragma unroll
  for (int i = 0; i < C::kStages - 1; ++i) {
    if (i < key_blocks) load_key_stage<C>(Stage(stages + i * Stage::kBytes), p, b, s, h, q0, i * kBK);
    cp_async_commit();
  }

  FragC out[kDimTiles];
#pragma unroll
  for (int j = 0; j < kDimTiles; ++j) out[j] = FragC{};
  RowState row{{neg_inf(), neg_inf()}, {0.0f, 0.0f}};

  for (int kb = 0; kb < key_blocks; ++kb) {
    const int ahead = kb + C::kStages - 1;
    const Stage next(stages + (ahead % C::kStages) * Stage::kBytes);
    MaskFetch<C> next_mask;
    if (ahead < key_blocks) {
      load_key_tiles<C>(next, p, b, s, h, q0, ahead * kBK);
      next_mask.fetch(p, b, s, ahead * kBK);
    }
    cp_async_commit();
    cp_async_wait<C::kStages - 1>();
    __syncthreads();
    const Stage st(stages + (kb % C::kStages) * Stage::kBytes);

    // Logits of this warp's 16 rows against the block's keys. Q fragments are re-read from
    // shared memory for each block: cheaper than holding D/16 of them in registers.
    FragC score[kKeyTiles];
#pragma unroll
    for (int j = 0; j < kKeyTiles; ++j) score[j] = FragC{};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      FragA<T> q_frag;
      load_a(q_frag, q_tile, Stage::kLdSeq, warp * 16, kk * 16);
#pragma unroll
      for (int j = 0; j < kKeyTiles; ++j) {
        FragB<T> k_frag;
        load_b(k_frag, st.k, Stage::kLdSeq, j * 8, kk * 16);
        mma(score[j], q_frag, k_frag);
      }
    }
    float block_max[2] = {neg_inf(), neg_inf()};
#pragma unroll
    for (int j = 0; j < kKeyTiles; ++j) {
      const int col = j * 8 + 2 * t;
      const float m0 = st.mask[col], m1 = st.mask[col + 1];
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        float b0 = 0.0f, b1 = 0.0f;
        if constexpr (C::kHasBias) read_two(st.bias + (warp * 16 + g + half * 8) * Stage::kLdBias + col, b0, b1);
        float& x0 = score[j].c[2 * half];
        float& x1 = score[j].c[2 * half + 1];
        x0 = fmaf(x0, p.scale_log2, fmaf(b0, kLog2e, m0));
        x1 = fmaf(x1, p.scale_log2, fmaf(b1, kLog2e, m1));
        block_max[half] = fmaxf(block_max[half], fmaxf(x0, x1));
      }
    }
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const float new_max = fmaxf(row.max[half], quad_max(block_max[half]));
      const float rescale = exp2_approx(usable_max(row.max[half]) - usable_max(new_max));
      row.max[half] = new_max;
      row.sum[half] *= rescale;
#pragma unroll
      for (int j = 0; j < kDimTiles; ++j) {
        out[j].c[2 * half] *= rescale;
        out[j].c[2 * half + 1] *= rescale;
      }
      const float base = usable_max(new_max);
#pragma unroll
      for (int j = 0; j < kKeyTiles; ++j) {
        float& x0 = score[j].c[2 * half];
        float& x1 = score[j].c[2 * half + 1];
        x0 = exp2_approx(x0 - base);
        x1 = exp2_approx(x1 - base);
        row.sum[half] += x0 + x1;
      }
    }
    // O += P·V, P handed from the logits' registers straight to the product.
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) {
      const FragA<T> prob = a_from_c<T>(score[2 * kk], score[2 * kk + 1]);
#pragma unroll
      for (int j = 0; j < kDimTiles; ++j) {
        FragB<T> v_frag;
        load_b_t(v_frag, st.v, Stage::kLdSeq, kk * 16, j * 8);
        mma(out[j], prob, v_frag);
      }
    }
    if (ahead < key_blocks) next_mask.store(next.mask);  // that stage is not read in this step
    __syncthreads();  // the stage is refilled next
  }
  cp_async_wait<0>();

  T* o = seq_slice<T>(p.o, b, s, h);
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int q = q0 + warp * 16 + g + half * 8;
    const float sum = quad_sum(row.sum[half]);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    if (q < n) {
#pragma unroll
      for (int j = 0; j < kDimTiles; ++j) {
        const int d = j * 8 + 2 * t;
        if (d < p.head_dim) o[q * p.o.stride_n + d * p.o.stride_d] = from_float<T>(out[j].c[2 * half] * inv);
        if (d + 1 < p.head_dim)
          o[q * p.o.stride_n + (d + 1) * p.o.stride_d] = from_float<T>(out[j].c[2 * half + 1] * inv);
      }
      if (p.lse != nullptr && t == 0)
        p.lse[((i64(b) * p.rows + s) * p.heads + h) * n + q] =
            sum > 0.0f ? (row.max[half] + log2f(sum)) * kLn2 : pos_inf();
    }
  }
}

}  // namespace mf
