// Transition forward: one block owns kBlockM rows of x (16 per warp) and kBlockD columns
// of y, and walks the hidden width F in chunks of kBlockF:
//   x̂ = LN(x) (optional),  [a | g] = x̂·W1[:, chunk | F + chunk],  h = a ⊙ silu(g),
//   y += h·W2[chunk, :]
// h goes from the first product's accumulators to the second product's operand in
// registers: the 2·F-wide hidden tensor never reaches memory. The W1 and W2 slices of a
// chunk are streamed from L2 (every block reads all of both) through a kStages-deep
// pipeline; the x tile stays in shared memory as T, read from memory once.
//
// A configuration C provides: T (x, W1, W2, y element), GammaT, BetaT, kD (D padded to
// 16), kBlockD (columns of y a block computes; D > kBlockD takes several blocks a row
// block, each computing the hidden again), kBlockF, kWarps, kStages (1 or 2), kLayerNorm,
// kHasBeta, kW1NK and kW2NK (the weight stored in the torch nn.Linear layout, [out, in]).
#pragma once

namespace mf {

template <class C>
struct TransitionTiles {
  using T = typename C::T;
  static constexpr int kBlockM = 16 * C::kWarps;
  static constexpr int kLdA = C::kD + 8;  // padded rows: ldmatrix reads hit distinct banks
  // A chunk's W1 slice holds its a columns, then its g columns, in the layout's orientation.
  static constexpr int kW1Rows = C::kW1NK ? 2 * C::kBlockF : C::kD;
  static constexpr int kLdW1 = C::kW1NK ? C::kD + 8 : 2 * C::kBlockF + 8;
  static constexpr int kW2Rows = C::kW2NK ? C::kBlockD : C::kBlockF;
  static constexpr int kLdW2 = C::kW2NK ? C::kBlockF + 8 : C::kBlockD + 8;
  static constexpr int kABytes = kBlockM * kLdA * int(sizeof(T));
  static constexpr int kParamBytes = C::kLayerNorm ? 2 * C::kD * 4 : 0;  // γ and β as float
  static constexpr int kW1Bytes = kW1Rows * kLdW1 * int(sizeof(T));
  static constexpr int kW2Bytes = kW2Rows * kLdW2 * int(sizeof(T));
  static constexpr int kStageBytes = kW1Bytes + kW2Bytes;
  static constexpr int kBytes = kABytes + kParamBytes + C::kStages * kStageBytes;
};

// Hidden columns f0 .. f0 + kBlockF (a, and the matching g) of W1 and rows f0 .. of W2's
// columns d0 .. d0 + kBlockD into a stage; hidden columns past F read as zero.
template <class C>
__device__ __forceinline__ void load_hidden_chunk(unsigned char* stage, const MfTransitionParams& p, int f0, int d0) {
  using T = typename C::T;
  using L = TransitionTiles<C>;
  constexpr int kThreads = 32 * C::kWarps;
  T* w1_tile = reinterpret_cast<T*>(stage);
  T* w2_tile = reinterpret_cast<T*>(stage + L::kW1Bytes);
  const int f_left = p.hidden - f0;
  for (int half = 0; half < 2; ++half) {
    const T* w1 = static_cast<const T*>(p.w1) + (half * p.hidden + f0) * p.w1_stride_f;
    if constexpr (C::kW1NK)
      copy_tile<T, C::kBlockF, C::kD, kThreads>(w1_tile + half * C::kBlockF * L::kLdW1, L::kLdW1, w1, p.w1_stride_f,
                                                p.w1_stride_d, f_left, p.dim, p.w1_vector_ok, threadIdx.x);
    else
      copy_tile<T, C::kD, C::kBlockF, kThreads>(w1_tile + half * C::kBlockF, L::kLdW1, w1, p.w1_stride_d,
                                                p.w1_stride_f, p.dim, f_left, p.w1_vector_ok, threadIdx.x);
  }
  const T* w2 = static_cast<const T*>(p.w2) + f0 * p.w2_stride_f + d0 * p.w2_stride_d;
  if constexpr (C::kW2NK)
    copy_tile<T, C::kBlockD, C::kBlockF, kThreads>(w2_tile, L::kLdW2, w2, p.w2_stride_d, p.w2_stride_f, p.dim - d0,
                                                   f_left, p.w2_vector_ok, threadIdx.x);
  else
    copy_tile<T, C::kBlockF, C::kBlockD, kThreads>(w2_tile, L::kLdW2, w2, p.w2_stride_f, p.w2_stride_d, f_left,
                                                   p.dim - d0, p.w2_vector_ok, threadIdx.x);
}

// a ⊙ silu(g) = a·g·σ(g) on two accumulator tiles; σ(g) → 0 as g → −∞ (1/∞ = 0).
__device__ __forceinline__ FragC swiglu(const FragC& act, const FragC& gate) {
  FragC h;
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const float g = gate.c[e];
    h.c[e] = act.c[e] * g * reciprocal_approx(1.0f + exp2_approx(-g * kLog2e));
  }
  return h;
}

template <class C>
__device__ __forceinline__ void transition_forward(const MfTransitionParams& p) {
  using T = typename C::T;
  using L = TransitionTiles<C>;
  constexpr int kThreads = 32 * C::kWarps, kHiddenTiles = C::kBlockF / 8, kOutTiles = C::kBlockD / 8;
  static_assert(C::kD % 16 == 0 && C::kBlockF % 16 == 0 && C::kBlockD % 16 == 0,
                "tiles are multiples of the 16-wide product");
  static_assert(C::kBlockD <= C::kD, "the y tile is staged in the x tile's rows");
  static_assert(C::kStages == 1 || C::kStages == 2, "one or two weight stages");

  extern __shared__ __align__(128) unsigned char smem[];
  T* x_tile = reinterpret_cast<T*>(smem);
  float* gamma = reinterpret_cast<float*>(smem + L::kABytes);
  float* beta = gamma + C::kD;
  unsigned char* stages = smem + L::kABytes + L::kParamBytes;
  auto stage = [&](int chunk) { return stages + (chunk % C::kStages) * L::kStageBytes; };

  const int row_block = blockIdx.x % p.row_blocks, col_block = blockIdx.x / p.row_blocks;
  const int m0 = row_block * L::kBlockM, d0 = col_block * C::kBlockD, warp = threadIdx.x / 32;
  const int g = lane_id() / 4, t = lane_id() % 4;
  const int chunks = (p.hidden + C::kBlockF - 1) / C::kBlockF;

  copy_tile<T, L::kBlockM, C::kD, kThreads>(x_tile, L::kLdA, static_cast<const T*>(p.x) + m0 * p.x_stride_m,
                                            p.x_stride_m, p.x_stride_d, p.rows - m0, p.dim, p.x_vector_ok,
                                            threadIdx.x);
  load_hidden_chunk<C>(stage(0), p, 0, d0);
  cp_async_commit();
  if constexpr (C::kLayerNorm) {
    for (int k = threadIdx.x; k < C::kD; k += kThreads) {
      const bool inside = k < p.dim;
      gamma[k] = inside ? to_float(static_cast<const typename C::GammaT*>(p.gamma)[k * p.gamma_stride]) : 0.0f;
      beta[k] =
          inside && C::kHasBeta ? to_float(static_cast<const typename C::BetaT*>(p.beta)[k * p.beta_stride]) : 0.0f;
    }
  }
  cp_async_wait<0>();
  __syncthreads();
  if constexpr (C::kLayerNorm) {
    // Every column block normalises its rows; the first saves the statistics.
    normalise_rows(x_tile, L::kLdA, warp * 16, gamma, beta, p.dim, p.eps, m0, p.rows,
                   RowStatistics{col_block == 0 ? p.mean : nullptr, p.rstd, p.mean_stride, p.rstd_stride});
    warp_sync();  // a warp reads only its own 16 rows of the x tile
  }

  FragC out[kOutTiles];
#pragma unroll
  for (int j = 0; j < kOutTiles; ++j) out[j] = FragC{};
  for (int chunk = 0; chunk < chunks; ++chunk) {
    if constexpr (C::kStages == 2) {
      if (chunk + 1 < chunks) load_hidden_chunk<C>(stage(chunk + 1), p, (chunk + 1) * C::kBlockF, d0);
      cp_async_commit();
      cp_async_wait<1>();
    } else if (chunk > 0) {
      load_hidden_chunk<C>(stage(chunk), p, chunk * C::kBlockF, d0);
      cp_async_commit();
      cp_async_wait<0>();
    }
    __syncthreads();
    const T* w1 = reinterpret_cast<const T*>(stage(chunk));
    const T* w2 = reinterpret_cast<const T*>(stage(chunk) + L::kW1Bytes);

    FragC act[kHiddenTiles], gate[kHiddenTiles];
#pragma unroll
    for (int j = 0; j < kHiddenTiles; ++j) act[j] = gate[j] = FragC{};
#pragma unroll
    for (int kk = 0; kk < C::kD / 16; ++kk) {
      FragA<T> x_frag;
      load_a(x_frag, x_tile, L::kLdA, warp * 16, kk * 16);
#pragma unroll
      for (int j = 0; j < kHiddenTiles; ++j) {
        FragB<T> w_act, w_gate;
        if constexpr (C::kW1NK) {
          load_b(w_act, w1, L::kLdW1, j * 8, kk * 16);
          load_b(w_gate, w1, L::kLdW1, C::kBlockF + j * 8, kk * 16);
        } else {
          load_b_t(w_act, w1, L::kLdW1, kk * 16, j * 8);
          load_b_t(w_gate, w1, L::kLdW1, kk * 16, C::kBlockF + j * 8);
        }
        mma(act[j], x_frag, w_act);
        mma(gate[j], x_frag, w_gate);
      }
    }
#pragma unroll
    for (int s = 0; s < C::kBlockF / 16; ++s) {
      const FragA<T> h = a_from_c<T>(swiglu(act[2 * s], gate[2 * s]), swiglu(act[2 * s + 1], gate[2 * s + 1]));
#pragma unroll
      for (int j = 0; j < kOutTiles; ++j) {
        FragB<T> w;
        if constexpr (C::kW2NK) load_b(w, w2, L::kLdW2, j * 8, s * 16);
        else load_b_t(w, w2, L::kLdW2, s * 16, j * 8);
        mma(out[j], h, w);
      }
    }
    __syncthreads();  // this chunk's stage is refilled next (one stage) or after next (two)
  }

  // The y tile leaves through this warp's own rows of the x tile.
#pragma unroll
  for (int j = 0; j < kOutTiles; ++j)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      T* to = x_tile + (warp * 16 + g + half * 8) * L::kLdA + j * 8 + 2 * t;
      to[0] = from_float<T>(out[j].c[2 * half]);
      to[1] = from_float<T>(out[j].c[2 * half + 1]);
    }
  warp_sync();
  store_warp_rows<T, C::kBlockD>(x_tile, L::kLdA, warp * 16,
                                 static_cast<T*>(p.y) + m0 * p.y_stride_m + d0 * p.y_stride_d, p.y_stride_m,
                                 p.y_stride_d, p.rows - m0, p.dim - d0, p.y_vector_ok);
}

}  // namespace mf
