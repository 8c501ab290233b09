// Transition backward, deterministic (no float atomics). With x̂ = (x − mean)·rstd (the
// forward's saved statistics), h0 = x̂·γ + β (x itself without the LayerNorm),
// [a | g] = h0·W1, s = σ(g), h = a ⊙ g·s and dh = dy·W2ᵀ:
//   da = dh ⊙ g·s,   dg = dh ⊙ a ⊙ s·(1 + g·(1 − s)),   dh0 = [da | dg]·W1ᵀ,
//   dx = rstd·(dh0⊙γ − mean_d(dh0⊙γ) − x̂·mean_d(dh0⊙γ⊙x̂))   (dh0 itself without the LayerNorm),
//   dγ = Σ_m dh0⊙x̂,   dβ = Σ_m dh0,   dW2 = hᵀ·dy,   dW1 = h0ᵀ·[da | dg].
// Nothing F wide reaches memory: the rows and weights kernels each compute the hidden again,
// kBlockF columns at a time. Three kernels: rows (dx and per-block dγ/dβ sums; a block owns
// 16·kWarps rows), weights (per-group dW1 and dW2 sums; a block owns one hidden chunk and a
// group of rows), finalize (adds the partial sums in index order).
//
// A configuration C provides what the forward's does, with kBlockD = kD (the whole width of
// dy and W2 in every chunk).
#pragma once

namespace mf {

// The chunk's h, da and dg for a warp's 16 rows, in accumulator layout.
template <class C>
struct HiddenGradients {
  static constexpr int kTiles = C::kBlockF / 8;
  FragC h[kTiles], da[kTiles], dg[kTiles];
};

// Rows r0 .. r0+15 of the h0 and dy tiles (ld elements a row) against a chunk's W1 and W2
// slices (TransitionTiles' layout): a, g = h0·W1 and dh = dy·W2ᵀ, then h, da and dg.
template <class C>
__device__ __forceinline__ void hidden_gradients(HiddenGradients<C>& out, const typename C::T* h0,
                                                 const typename C::T* dy, int ld, int r0, const typename C::T* w1,
                                                 const typename C::T* w2) {
  using T = typename C::T;
  using L = TransitionTiles<C>;
  constexpr int kTiles = C::kBlockF / 8;
  FragC* act = out.h;  // computed in place: a becomes h, g becomes dg, dh becomes da
  FragC* gate = out.dg;
  FragC* dh = out.da;
#pragma unroll
  for (int j = 0; j < kTiles; ++j) act[j] = gate[j] = dh[j] = FragC{};
#pragma unroll
  for (int kk = 0; kk < C::kD / 16; ++kk) {
    FragA<T> x_frag, dy_frag;
    load_a(x_frag, h0, ld, r0, kk * 16);
    load_a(dy_frag, dy, ld, r0, kk * 16);
#pragma unroll
    for (int j = 0; j < kTiles; ++j) {
      FragB<T> w_act, w_gate, w_out;
      if constexpr (C::kW1NK) {
        load_b(w_act, w1, L::kLdW1, j * 8, kk * 16);
        load_b(w_gate, w1, L::kLdW1, C::kBlockF + j * 8, kk * 16);
      } else {
        load_b_t(w_act, w1, L::kLdW1, kk * 16, j * 8);
        load_b_t(w_gate, w1, L::kLdW1, kk * 16, C::kBlockF + j * 8);
      }
      if constexpr (C::kW2NK) load_b_t(w_out, w2, L::kLdW2, kk * 16, j * 8);
      else load_b(w_out, w2, L::kLdW2, j * 8, kk * 16);
      mma(act[j], x_frag, w_act);
      mma(gate[j], x_frag, w_gate);
      mma(dh[j], dy_frag, w_out);
    }
  }
#pragma unroll
  for (int j = 0; j < kTiles; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float a = act[j].c[e], g = gate[j].c[e], d = dh[j].c[e];
      const float s = reciprocal_approx(1.0f + exp2_approx(-g * kLog2e)), silu = g * s;
      out.h[j].c[e] = a * silu;
      out.da[j].c[e] = d * silu;
      out.dg[j].c[e] = d * a * s * fmaf(g, 1.0f - s, 1.0f);
    }
}

template <class C>
struct TransitionRowsTiles {
  using T = typename C::T;
  static constexpr int kBlockM = 16 * C::kWarps;
  static constexpr int kLd = C::kD + 8, kLdDh = C::kD + 4;
  static constexpr int kTileBytes = kBlockM * kLd * int(sizeof(T));  // h0, then dy
  static constexpr int kDhBytes = kBlockM * kLdDh * 4;                // dh0 in fp32
  static constexpr int kParamBytes = C::kLayerNorm ? 2 * C::kD * 4 : 0;
  static constexpr int kRowBytes = 2 * kBlockM * 4;                    // mean, rstd
  static constexpr int kColumnBytes = C::kLayerNorm ? 2 * C::kWarps * C::kD * 4 : 0;  // per-warp dγ, dβ sums
  static constexpr int kBytes = 2 * kTileBytes + kDhBytes + kParamBytes + kRowBytes + kColumnBytes +
                                C::kStages * TransitionTiles<C>::kStageBytes;
};

// γ and β as float, zero past D (β zero without it).
template <class C>
__device__ __forceinline__ void load_norm_params(float* gamma, float* beta, const MfTransitionParams& p) {
  for (int k = threadIdx.x; k < C::kD; k += 32 * C::kWarps) {
    const bool inside = k < p.dim;
    gamma[k] = inside ? to_float(static_cast<const typename C::GammaT*>(p.gamma)[k * p.gamma_stride]) : 0.0f;
    beta[k] = inside && C::kHasBeta ? to_float(static_cast<const typename C::BetaT*>(p.beta)[k * p.beta_stride]) : 0.0f;
  }
}

// Rows m0 .. m0 + kRows of x and dy into tiles, and their saved statistics; rows from
// `valid` on (past M, or another block's) read as zero.
template <class C, int kRows>
__device__ __forceinline__ void load_row_tiles(typename C::T* h0, typename C::T* dy, int ld, float* mean, float* rstd,
                                               const MfTransitionParams& p, int m0, int valid) {
  using T = typename C::T;
  constexpr int kThreads = 32 * C::kWarps;
  copy_tile<T, kRows, C::kD, kThreads>(h0, ld, static_cast<const T*>(p.x) + m0 * p.x_stride_m, p.x_stride_m,
                                       p.x_stride_d, valid, p.dim, p.x_vector_ok, threadIdx.x);
  copy_tile<T, kRows, C::kD, kThreads>(dy, ld, static_cast<const T*>(p.d_y) + m0 * p.dy_stride_m, p.dy_stride_m,
                                       p.dy_stride_d, valid, p.dim, p.dy_vector_ok, threadIdx.x);
  if constexpr (C::kLayerNorm)
    for (int r = threadIdx.x; r < kRows; r += kThreads) {
      const bool inside = r < valid;
      mean[r] = inside ? p.mean[(m0 + r) * p.mean_stride] : 0.0f;
      rstd[r] = inside ? p.rstd[(m0 + r) * p.rstd_stride] : 0.0f;
    }
}

// h0 = x̂·γ + β in place over the tile's first `valid` rows (the others stay zero).
template <class C, int kRows>
__device__ __forceinline__ void normalise_saved(typename C::T* h0, int ld, const float* gamma, const float* beta,
                                                const float* mean, const float* rstd, int dim, int valid) {
  for (int i = threadIdx.x; i < kRows * C::kD; i += 32 * C::kWarps) {
    const int r = i / C::kD, k = i % C::kD;
    if (r < valid && k < dim)
      h0[r * ld + k] = from_float<typename C::T>(fmaf((to_float(h0[r * ld + k]) - mean[r]) * rstd[r], gamma[k], beta[k]));
  }
}

template <class C>
__device__ __forceinline__ void transition_backward_rows(const MfTransitionParams& p) {
  using T = typename C::T;
  using L = TransitionRowsTiles<C>;
  using W = TransitionTiles<C>;
  constexpr int kThreads = 32 * C::kWarps, kSteps = C::kBlockF / 16;
  static_assert(C::kBlockD == C::kD, "the backward reads whole rows of dy and W2");
  static_assert(C::kStages == 1 || C::kStages == 2, "one or two weight stages");

  extern __shared__ __align__(128) unsigned char smem[];
  T* h0 = reinterpret_cast<T*>(smem);
  T* dy = reinterpret_cast<T*>(smem + L::kTileBytes);
  float* dh0 = reinterpret_cast<float*>(smem + 2 * L::kTileBytes);
  float* gamma = reinterpret_cast<float*>(smem + 2 * L::kTileBytes + L::kDhBytes);
  float* beta = gamma + C::kD;
  float* mean = reinterpret_cast<float*>(smem + 2 * L::kTileBytes + L::kDhBytes + L::kParamBytes);
  float* rstd = mean + L::kBlockM;
  float* column_sums = rstd + L::kBlockM;  // [2][warps][kD]
  unsigned char* stages = reinterpret_cast<unsigned char*>(column_sums) + L::kColumnBytes;
  auto stage = [&](int chunk) { return stages + (chunk % C::kStages) * W::kStageBytes; };

  const int m0 = blockIdx.x * L::kBlockM, warp = threadIdx.x / 32, g = lane_id() / 4, t = lane_id() % 4;
  const int chunks = (p.hidden + C::kBlockF - 1) / C::kBlockF;
  load_row_tiles<C, L::kBlockM>(h0, dy, L::kLd, mean, rstd, p, m0, p.rows - m0);
  load_hidden_chunk<C>(stage(0), p, 0, 0);
  cp_async_commit();
  if constexpr (C::kLayerNorm) load_norm_params<C>(gamma, beta, p);
  for (int i = lane_id(); i < 16 * C::kD; i += 32) dh0[(warp * 16 + i / C::kD) * L::kLdDh + i % C::kD] = 0.0f;
  cp_async_wait<0>();
  __syncthreads();
  if constexpr (C::kLayerNorm) {
    normalise_saved<C, L::kBlockM>(h0, L::kLd, gamma, beta, mean, rstd, p.dim, p.rows - m0);
    __syncthreads();
  }

  for (int chunk = 0; chunk < chunks; ++chunk) {
    if constexpr (C::kStages == 2) {
      if (chunk + 1 < chunks) load_hidden_chunk<C>(stage(chunk + 1), p, (chunk + 1) * C::kBlockF, 0);
      cp_async_commit();
      cp_async_wait<1>();
    } else if (chunk > 0) {
      load_hidden_chunk<C>(stage(chunk), p, chunk * C::kBlockF, 0);
      cp_async_commit();
      cp_async_wait<0>();
    }
    __syncthreads();
    const T* w1 = reinterpret_cast<const T*>(stage(chunk));
    const T* w2 = reinterpret_cast<const T*>(stage(chunk) + W::kW1Bytes);
    HiddenGradients<C> hidden;
    hidden_gradients<C>(hidden, h0, dy, L::kLd, warp * 16, w1, w2);
    FragA<T> da[kSteps], dg[kSteps];
#pragma unroll
    for (int s = 0; s < kSteps; ++s) {
      da[s] = a_from_c<T>(hidden.da[2 * s], hidden.da[2 * s + 1]);
      dg[s] = a_from_c<T>(hidden.dg[2 * s], hidden.dg[2 * s + 1]);
    }
    // dh0 += [da | dg]·W1ᵀ, one 8-column tile of D at a time, added into this warp's rows.
#pragma unroll 2
    for (int j = 0; j < C::kD / 8; ++j) {
      FragC acc = FragC{};
#pragma unroll
      for (int s = 0; s < kSteps; ++s) {
        FragB<T> w_act, w_gate;
        if constexpr (C::kW1NK) {
          load_b_t(w_act, w1, W::kLdW1, s * 16, j * 8);
          load_b_t(w_gate, w1, W::kLdW1, C::kBlockF + s * 16, j * 8);
        } else {
          load_b(w_act, w1, W::kLdW1, j * 8, s * 16);
          load_b(w_gate, w1, W::kLdW1, j * 8, C::kBlockF + s * 16);
        }
        mma(acc, da[s], w_act);
        mma(acc, dg[s], w_gate);
      }
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        float* to = dh0 + (warp * 16 + g + half * 8) * L::kLdDh + j * 8 + 2 * t;
        to[0] += acc.c[2 * half];
        to[1] += acc.c[2 * half + 1];
      }
    }
    __syncthreads();  // this chunk's stage is refilled next (one stage) or after next (two)
  }

  // dx from this warp's rows of dh0 (x read again for x̂); per-warp column sums for dγ, dβ.
  const T* x = static_cast<const T*>(p.x);
  T* dx = static_cast<T*>(p.d_x);
  const float inv_d = 1.0f / float(p.dim);
  float* sum_xhat = column_sums + warp * C::kD;
  float* sum_dh = column_sums + (C::kWarps + warp) * C::kD;
  if constexpr (C::kLayerNorm)
    for (int k = lane_id(); k < C::kD; k += 32) sum_xhat[k] = sum_dh[k] = 0.0f;
  for (int r = warp * 16; r < warp * 16 + 16; ++r) {
    const int m = m0 + r;
    if (m >= p.rows) break;
    const float* row = dh0 + r * L::kLdDh;
    if constexpr (!C::kLayerNorm) {
      if (dx != nullptr)
        for (int k = lane_id(); k < p.dim; k += 32) dx[m * p.dx_stride_m + k * p.dx_stride_d] = from_float<T>(row[k]);
      continue;
    } else {
      float dn_sum = 0.0f, dn_xhat_sum = 0.0f;
      for (int k = lane_id(); k < p.dim; k += 32) {
        const float xhat = (to_float(x[m * p.x_stride_m + k * p.x_stride_d]) - mean[r]) * rstd[r];
        const float dn = row[k] * gamma[k];
        dn_sum += dn;
        dn_xhat_sum = fmaf(dn, xhat, dn_xhat_sum);
        sum_xhat[k] = fmaf(row[k], xhat, sum_xhat[k]);
        sum_dh[k] += row[k];
      }
      const float mean_dn = warp_sum(dn_sum) * inv_d, mean_dn_xhat = warp_sum(dn_xhat_sum) * inv_d;
      if (dx != nullptr)
        for (int k = lane_id(); k < p.dim; k += 32) {
          const float xhat = (to_float(x[m * p.x_stride_m + k * p.x_stride_d]) - mean[r]) * rstd[r];
          dx[m * p.dx_stride_m + k * p.dx_stride_d] =
              from_float<T>(rstd[r] * (row[k] * gamma[k] - mean_dn - xhat * mean_dn_xhat));
        }
    }
  }
  if constexpr (C::kLayerNorm) {
    __syncthreads();
    // The block's dγ and dβ sums, warps added in order.
    if (p.gamma_partial != nullptr)
      for (int k = threadIdx.x; k < C::kD; k += kThreads) {
        float xhat_sum = 0.0f, dh_sum = 0.0f;
        for (int w = 0; w < C::kWarps; ++w) {
          xhat_sum += column_sums[w * C::kD + k];
          dh_sum += column_sums[(C::kWarps + w) * C::kD + k];
        }
        p.gamma_partial[(i64(blockIdx.x) * 2 + 0) * C::kD + k] = xhat_sum;
        p.gamma_partial[(i64(blockIdx.x) * 2 + 1) * C::kD + k] = dh_sum;
      }
  }
}

// ---- weights ---------------------------------------------------------------------------
template <class C>
struct TransitionWeightsTiles {
  using T = typename C::T;
  static constexpr int kBlockM = 16 * C::kWarps;
  static constexpr int kLd = C::kD + 8, kLdH = C::kBlockF + 8, kLdDag = 2 * C::kBlockF + 8;
  static constexpr int kTileBytes = kBlockM * kLd * int(sizeof(T));  // h0, then dy
  static constexpr int kHBytes = kBlockM * kLdH * int(sizeof(T));
  static constexpr int kDagBytes = kBlockM * kLdDag * int(sizeof(T));  // [da | dg]
  static constexpr int kParamBytes = C::kLayerNorm ? 2 * C::kD * 4 : 0;
  static constexpr int kRowBytes = 2 * kBlockM * 4;
  static constexpr int kBytes =
      2 * kTileBytes + kHBytes + kDagBytes + kParamBytes + kRowBytes + TransitionTiles<C>::kStageBytes;
  // The block's dW1 [kD, 2·kBlockF] and dW2 [kBlockF, kD] in 16 x 8 tiles, dealt to warps.
  static constexpr int kW1Cols = 2 * C::kBlockF / 8, kW1Tiles = C::kD / 16 * kW1Cols;
  static constexpr int kW2Cols = C::kD / 8, kW2Tiles = C::kBlockF / 16 * kW2Cols;
  static constexpr int kW1PerWarp = (kW1Tiles + C::kWarps - 1) / C::kWarps;
  static constexpr int kW2PerWarp = (kW2Tiles + C::kWarps - 1) / C::kWarps;
};

// A warp's accumulator tile (rows g, g + 8; columns 2t, 2t + 1) into a T tile.
template <class T>
__device__ __forceinline__ void store_c(T* tile, int ld, int r0, int c0, const FragC& c) {
  const int g = lane_id() / 4, t = lane_id() % 4;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    T* to = tile + (r0 + g + half * 8) * ld + c0 + 2 * t;
    to[0] = from_float<T>(c.c[2 * half]);
    to[1] = from_float<T>(c.c[2 * half + 1]);
  }
}

template <class C>
__device__ __forceinline__ void transition_backward_weights(const MfTransitionParams& p) {
  using T = typename C::T;
  using L = TransitionWeightsTiles<C>;
  using W = TransitionTiles<C>;
  constexpr int kHiddenTiles = C::kBlockF / 8;
  static_assert(C::kBlockD == C::kD, "the backward reads whole rows of dy and W2");

  extern __shared__ __align__(128) unsigned char smem[];
  T* h0 = reinterpret_cast<T*>(smem);
  T* dy = reinterpret_cast<T*>(smem + L::kTileBytes);
  T* h = reinterpret_cast<T*>(smem + 2 * L::kTileBytes);
  T* dag = reinterpret_cast<T*>(smem + 2 * L::kTileBytes + L::kHBytes);
  float* gamma = reinterpret_cast<float*>(smem + 2 * L::kTileBytes + L::kHBytes + L::kDagBytes);
  float* beta = gamma + C::kD;
  float* mean = reinterpret_cast<float*>(smem + 2 * L::kTileBytes + L::kHBytes + L::kDagBytes + L::kParamBytes);
  float* rstd = mean + L::kBlockM;
  unsigned char* chunk_stage = reinterpret_cast<unsigned char*>(rstd + L::kBlockM);
  const T* w1 = reinterpret_cast<const T*>(chunk_stage);
  const T* w2 = reinterpret_cast<const T*>(chunk_stage + W::kW1Bytes);

  const int chunks = (p.hidden + C::kBlockF - 1) / C::kBlockF;
  const int f0 = (blockIdx.x % chunks) * C::kBlockF, group = blockIdx.x / chunks;
  const int m_begin = group * p.rows_per_group, m_end = min(p.rows, m_begin + p.rows_per_group);
  const int warp = threadIdx.x / 32, g = lane_id() / 4, t = lane_id() % 4;
  load_hidden_chunk<C>(chunk_stage, p, f0, 0);
  cp_async_commit();
  if constexpr (C::kLayerNorm) load_norm_params<C>(gamma, beta, p);

  FragC dw1[L::kW1PerWarp], dw2[L::kW2PerWarp];
#pragma unroll
  for (int i = 0; i < L::kW1PerWarp; ++i) dw1[i] = FragC{};
#pragma unroll
  for (int i = 0; i < L::kW2PerWarp; ++i) dw2[i] = FragC{};

  for (int m0 = m_begin; m0 < m_end; m0 += L::kBlockM) {
    const int valid = m_end - m0;  // rows past the group belong to the next block
    load_row_tiles<C, L::kBlockM>(h0, dy, L::kLd, mean, rstd, p, m0, valid);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();
    if constexpr (C::kLayerNorm) {
      normalise_saved<C, L::kBlockM>(h0, L::kLd, gamma, beta, mean, rstd, p.dim, valid);
      __syncthreads();
    }
    HiddenGradients<C> hidden;
    hidden_gradients<C>(hidden, h0, dy, L::kLd, warp * 16, w1, w2);
#pragma unroll
    for (int j = 0; j < kHiddenTiles; ++j) {
      store_c(h, L::kLdH, warp * 16, j * 8, hidden.h[j]);
      store_c(dag, L::kLdDag, warp * 16, j * 8, hidden.da[j]);
      store_c(dag, L::kLdDag, warp * 16, C::kBlockF + j * 8, hidden.dg[j]);
    }
    __syncthreads();
    // dW1 += h0ᵀ·[da | dg] and dW2 += hᵀ·dy over this step's rows.
#pragma unroll
    for (int kr = 0; kr < L::kBlockM / 16; ++kr) {
#pragma unroll
      for (int i = 0; i < L::kW1PerWarp; ++i) {
        const int tile = warp + i * C::kWarps;
        if (tile >= L::kW1Tiles) break;
        FragA<T> a;
        FragB<T> b;
        load_a_t(a, h0, L::kLd, tile / L::kW1Cols * 16, kr * 16);
        load_b_t(b, dag, L::kLdDag, kr * 16, tile % L::kW1Cols * 8);
        mma(dw1[i], a, b);
      }
#pragma unroll
      for (int i = 0; i < L::kW2PerWarp; ++i) {
        const int tile = warp + i * C::kWarps;
        if (tile >= L::kW2Tiles) break;
        FragA<T> a;
        FragB<T> b;
        load_a_t(a, h, L::kLdH, tile / L::kW2Cols * 16, kr * 16);
        load_b_t(b, dy, L::kLd, kr * 16, tile % L::kW2Cols * 8);
        mma(dw2[i], a, b);
      }
    }
    __syncthreads();  // the row tiles are refilled next
  }

  // This group's sums: dW1 [D, 2F] (the chunk's a columns at f0.., its g columns at F + f0..),
  // dW2 [F, D].
  const i64 w1_size = i64(p.dim) * 2 * p.hidden, w2_size = i64(p.hidden) * p.dim;
#pragma unroll
  for (int i = 0; i < L::kW1PerWarp; ++i) {
    const int tile = warp + i * C::kWarps;
    if (tile >= L::kW1Tiles || p.w1_partial == nullptr) break;
#pragma unroll
    for (int half = 0; half < 2; ++half)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int d = tile / L::kW1Cols * 16 + g + half * 8, col = tile % L::kW1Cols * 8 + 2 * t + e;
        const int f = f0 + col % C::kBlockF;
        if (d < p.dim && f < p.hidden)
          p.w1_partial[group * w1_size + i64(d) * 2 * p.hidden + (col < C::kBlockF ? 0 : p.hidden) + f] =
              dw1[i].c[2 * half + e];
      }
  }
#pragma unroll
  for (int i = 0; i < L::kW2PerWarp; ++i) {
    const int tile = warp + i * C::kWarps;
    if (tile >= L::kW2Tiles || p.w2_partial == nullptr) break;
#pragma unroll
    for (int half = 0; half < 2; ++half)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int f = f0 + tile / L::kW2Cols * 16 + g + half * 8, d = tile % L::kW2Cols * 8 + 2 * t + e;
        if (d < p.dim && f < p.hidden) p.w2_partial[group * w2_size + i64(f) * p.dim + d] = dw2[i].c[2 * half + e];
      }
  }
}

// ---- finalize --------------------------------------------------------------------------
// Each gradient element: its partial sums added in index order, converted, stored strided.
template <class C>
__device__ __forceinline__ void transition_backward_finalize(const MfTransitionParams& p) {
  using T = typename C::T;
  const int d_count = p.dim, f2 = 2 * p.hidden;
  const i64 w1_count = p.w1_partial != nullptr ? i64(d_count) * f2 : 0;
  const i64 w2_count = p.w2_partial != nullptr ? i64(p.hidden) * d_count : 0;
  const i64 norms = p.gamma_partial != nullptr ? 2 * d_count : 0;
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < w1_count + w2_count + norms;
       i += i64(gridDim.x) * blockDim.x) {
    float sum = 0.0f;
    if (i < w1_count) {
      for (int group = 0; group < p.groups; ++group) sum += p.w1_partial[group * w1_count + i];
      const int d = int(i / f2), f = int(i % f2);
      if (p.d_w1 != nullptr) static_cast<T*>(p.d_w1)[d * p.dw1_stride_d + f * p.dw1_stride_f] = from_float<T>(sum);
    } else if (i < w1_count + w2_count) {
      const i64 j = i - w1_count;
      for (int group = 0; group < p.groups; ++group) sum += p.w2_partial[group * w2_count + j];
      const int f = int(j / d_count), d = int(j % d_count);
      if (p.d_w2 != nullptr) static_cast<T*>(p.d_w2)[f * p.dw2_stride_f + d * p.dw2_stride_d] = from_float<T>(sum);
    } else {
      const int j = int(i - w1_count - w2_count), which = j / d_count, k = j % d_count;  // 0: dγ, 1: dβ
      for (int block = 0; block < p.row_blocks; ++block) sum += p.gamma_partial[(i64(block) * 2 + which) * C::kD + k];
      if (which == 0 && p.d_gamma != nullptr)
        static_cast<typename C::GammaT*>(p.d_gamma)[k * p.dgamma_stride] = from_float<typename C::GammaT>(sum);
      if (which == 1 && p.d_beta != nullptr)
        static_cast<typename C::BetaT*>(p.d_beta)[k * p.dbeta_stride] = from_float<typename C::BetaT>(sum);
    }
  }
}

}  // namespace mf
