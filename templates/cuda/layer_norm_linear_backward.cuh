// LayerNormLinear backward, deterministic (no float atomics): with x̂ = (x − mean)·rstd from
// the forward's saved statistics and h = x̂·γ + β,
//   dh = dy·Wᵀ,   dx = rstd·(dh⊙γ − mean_k(dh⊙γ) − x̂·mean_k(dh⊙γ⊙x̂)),
//   dγ = Σ_m dh⊙x̂,  dβ = Σ_m dh,  dW = hᵀ·dy,  db = Σ_m dy.
// Three kernels: rows (dh, dx and per-block dγ/dβ sums; one block owns 16·warps rows),
// weights (per-group dW and db sums; one block owns a column tile of W and a group of
// rows), finalize (adds the partial sums in index order).
//
// Rows configuration: T, GammaT, kK (K padded to a multiple of kKChunk), kKChunk (columns
// of dh held in registers at once, ≤ 128), kBlockM = 16·kWarps, kBlockN, kWarps,
// kWeightNK. Weights configuration: T, GammaT, BetaT, kK (K padded to 16), kBlockN,
// kWarps, kChunkM, kHasBeta.
#pragma once

namespace mf {

template <class C>
struct LinearRowsTiles {
  using T = typename C::T;
  static constexpr int kLdX = C::kK + 8, kLdG = C::kK + 4;
  static constexpr int kLdDy = C::kBlockN + 8;
  static constexpr int kLdW = C::kWeightNK ? C::kKChunk + 8 : C::kBlockN + 8;
  static constexpr int kWRows = C::kWeightNK ? C::kBlockN : C::kKChunk;
  static constexpr int kXBytes = C::kBlockM * kLdX * int(sizeof(T));
  static constexpr int kGBytes = C::kBlockM * kLdG * 4;   // dh ⊙ γ of every column
  static constexpr int kRowBytes = 4 * C::kBlockM * 4;     // mean, rstd, Σ dh⊙γ, Σ dh⊙γ⊙x̂
  static constexpr int kGammaBytes = C::kK * 4;
  static constexpr int kColumnBytes = 2 * C::kWarps * C::kKChunk * 4;  // per-warp column sums
  static constexpr int kStageBytes = C::kBlockM * kLdDy * int(sizeof(T)) + kWRows * kLdW * int(sizeof(T));
  static constexpr int kBytes = kXBytes + kGBytes + kRowBytes + kGammaBytes + kColumnBytes + 2 * kStageBytes;
};

// dy rows and the W columns of chunk `k0` for column tile n0, into one stage.
template <class C>
__device__ __forceinline__ void load_rows_stage(unsigned char* stage, const MfLinearParams& p, int m0, int n0, int k0) {
  using T = typename C::T;
  using L = LinearRowsTiles<C>;
  constexpr int kThreads = 32 * C::kWarps;
  T* dy = reinterpret_cast<T*>(stage);
  T* w = dy + C::kBlockM * L::kLdDy;
  copy_tile<T, C::kBlockM, C::kBlockN, kThreads>(
      dy, L::kLdDy, static_cast<const T*>(p.d_y) + m0 * p.dy_stride_m + n0 * p.dy_stride_n, p.dy_stride_m,
      p.dy_stride_n, p.rows - m0, p.out_features - n0, p.dy_vector_ok, threadIdx.x);
  const T* from = static_cast<const T*>(p.weight) + k0 * p.w_stride_k + n0 * p.w_stride_n;
  if constexpr (C::kWeightNK)
    copy_tile<T, C::kBlockN, C::kKChunk, kThreads>(w, L::kLdW, from, p.w_stride_n, p.w_stride_k,
                                                   p.out_features - n0, p.in_features - k0, p.w_vector_ok, threadIdx.x);
  else
    copy_tile<T, C::kKChunk, C::kBlockN, kThreads>(w, L::kLdW, from, p.w_stride_k, p.w_stride_n,
                                                   p.in_features - k0, p.out_features - n0, p.w_vector_ok, threadIdx.x);
}

template <class C>
__device__ __forceinline__ void layer_norm_linear_backward_rows(const MfLinearParams& p) {
  using T = typename C::T;
  using L = LinearRowsTiles<C>;
  constexpr int kThreads = 32 * C::kWarps, kColTiles = C::kKChunk / 8;
  static_assert(C::kBlockM == 16 * C::kWarps && C::kK % C::kKChunk == 0 && C::kKChunk % 16 == 0, "tile shapes");

  extern __shared__ __align__(128) unsigned char smem[];
  T* x = reinterpret_cast<T*>(smem);
  float* g_tile = reinterpret_cast<float*>(smem + L::kXBytes);
  float* mean = reinterpret_cast<float*>(smem + L::kXBytes + L::kGBytes);
  float* rstd = mean + C::kBlockM;
  float* sum_g = rstd + C::kBlockM;
  float* sum_gx = sum_g + C::kBlockM;
  float* gamma = sum_gx + C::kBlockM;
  float* column_sums = gamma + C::kK;  // [2][warps][kKChunk]
  unsigned char* stages = reinterpret_cast<unsigned char*>(column_sums + 2 * C::kWarps * C::kKChunk);

  const int m0 = blockIdx.x * C::kBlockM, warp = threadIdx.x / 32, g = lane_id() / 4, t = lane_id() % 4;
  const int k_count = p.in_features, col_tiles = (p.out_features + C::kBlockN - 1) / C::kBlockN;
  copy_tile<T, C::kBlockM, C::kK, kThreads>(x, L::kLdX, static_cast<const T*>(p.x) + m0 * p.x_stride_m, p.x_stride_m,
                                            p.x_stride_k, p.rows - m0, k_count, p.x_vector_ok, threadIdx.x);
  cp_async_commit();
  for (int r = threadIdx.x; r < C::kBlockM; r += kThreads) {
    const bool inside = m0 + r < p.rows;
    mean[r] = inside ? p.mean[(m0 + r) * p.mean_stride] : 0.0f;
    rstd[r] = inside ? p.rstd[(m0 + r) * p.rstd_stride] : 0.0f;
  }
  for (int k = threadIdx.x; k < C::kK; k += kThreads)
    gamma[k] = k < k_count ? to_float(static_cast<const typename C::GammaT*>(p.gamma)[k * p.gamma_stride]) : 0.0f;
  float row_g[2] = {0.0f, 0.0f}, row_gx[2] = {0.0f, 0.0f};  // this lane's share of rows g and g + 8

  for (int k0 = 0; k0 < C::kK; k0 += C::kKChunk) {
    // dh of this chunk's columns: Σ over column tiles of dy·Wᵀ, two stages in flight.
    FragC acc[kColTiles];
#pragma unroll
    for (int j = 0; j < kColTiles; ++j) acc[j] = FragC{};
    load_rows_stage<C>(stages, p, m0, 0, k0);
    cp_async_commit();
    for (int tile = 0; tile < col_tiles; ++tile) {
      if (tile + 1 < col_tiles) load_rows_stage<C>(stages + ((tile + 1) % 2) * L::kStageBytes, p, m0, (tile + 1) * C::kBlockN, k0);
      cp_async_commit();
      cp_async_wait<1>();
      __syncthreads();
      const T* dy = reinterpret_cast<const T*>(stages + (tile % 2) * L::kStageBytes);
      const T* w = dy + C::kBlockM * L::kLdDy;
#pragma unroll
      for (int kk = 0; kk < C::kBlockN / 16; ++kk) {
        FragA<T> a;
        load_a(a, dy, L::kLdDy, warp * 16, kk * 16);
#pragma unroll
        for (int j = 0; j < kColTiles; ++j) {
          FragB<T> b;
          if constexpr (C::kWeightNK) load_b_t(b, w, L::kLdW, kk * 16, j * 8);
          else load_b(b, w, L::kLdW, j * 8, kk * 16);
          mma(acc[j], a, b);
        }
      }
      __syncthreads();  // the stage is refilled next
    }
    // dh ⊙ γ kept for dx; row sums for dx; column sums (over this warp's rows) for dγ, dβ.
#pragma unroll
    for (int j = 0; j < kColTiles; ++j) {
      float col_gx[2] = {0.0f, 0.0f}, col_h[2] = {0.0f, 0.0f};
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int r = warp * 16 + g + half * 8;
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int k = k0 + j * 8 + 2 * t + e;
          const float dh = acc[j].c[2 * half + e];
          const float xhat = (to_float(x[r * L::kLdX + k]) - mean[r]) * rstd[r];
          const float gv = dh * gamma[k];
          g_tile[r * L::kLdG + k] = gv;
          row_g[half] += gv;
          row_gx[half] = fmaf(gv, xhat, row_gx[half]);
          col_gx[e] = fmaf(dh, xhat, col_gx[e]);
          col_h[e] += dh;
        }
      }
#pragma unroll
      for (int e = 0; e < 2; ++e) {
#pragma unroll
        for (int offset = 4; offset < 32; offset *= 2) {  // over g: the 8 row pairs of the warp
          col_gx[e] += shuffle_xor(col_gx[e], offset);
          col_h[e] += shuffle_xor(col_h[e], offset);
        }
        if (g == 0) {
          column_sums[warp * C::kKChunk + j * 8 + 2 * t + e] = col_gx[e];
          column_sums[(C::kWarps + warp) * C::kKChunk + j * 8 + 2 * t + e] = col_h[e];
        }
      }
    }
    __syncthreads();
    // The block's dγ and dβ sums of this chunk, warps added in order.
    for (int c = threadIdx.x; c < C::kKChunk; c += kThreads) {
      float gx = 0.0f, h = 0.0f;
      for (int w = 0; w < C::kWarps; ++w) {
        gx += column_sums[w * C::kKChunk + c];
        h += column_sums[(C::kWarps + w) * C::kKChunk + c];
      }
      if (p.gamma_partial != nullptr && k0 + c < k_count) {
        p.gamma_partial[(i64(blockIdx.x) * 2 + 0) * C::kK + k0 + c] = gx;
        p.gamma_partial[(i64(blockIdx.x) * 2 + 1) * C::kK + k0 + c] = h;
      }
    }
  }
  if (p.d_x == nullptr) return;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const float a = quad_sum(row_g[half]), b = quad_sum(row_gx[half]);
    if (t == 0) {
      sum_g[warp * 16 + g + half * 8] = a;
      sum_gx[warp * 16 + g + half * 8] = b;
    }
  }
  __syncthreads();
  const float inv_k = 1.0f / float(k_count);
  T* dx = static_cast<T*>(p.d_x);
  for (int r = warp * 16; r < warp * 16 + 16; ++r) {
    if (m0 + r >= p.rows) break;
    const float mg = sum_g[r] * inv_k, mgx = sum_gx[r] * inv_k;
    for (int k = lane_id(); k < k_count; k += 32) {
      const float xhat = (to_float(x[r * L::kLdX + k]) - mean[r]) * rstd[r];
      dx[(m0 + r) * p.dx_stride_m + k * p.dx_stride_k] =
          from_float<T>(rstd[r] * (g_tile[r * L::kLdG + k] - mg - xhat * mgx));
    }
  }
}

// ---- weights ---------------------------------------------------------------------------
template <class C>
struct LinearWeightsTiles {
  using T = typename C::T;
  static constexpr int kLdH = C::kK + 8, kLdDy = C::kBlockN + 8;
  static constexpr int kHBytes = C::kChunkM * kLdH * int(sizeof(T));
  static constexpr int kDyBytes = C::kChunkM * kLdDy * int(sizeof(T));
  static constexpr int kBytes = kHBytes + kDyBytes + 2 * C::kK * 4 + 2 * C::kChunkM * 4;
};

template <class C>
__device__ __forceinline__ void layer_norm_linear_backward_weights(const MfLinearParams& p) {
  using T = typename C::T;
  using L = LinearWeightsTiles<C>;
  constexpr int kThreads = 32 * C::kWarps, kColTiles = C::kBlockN / 8;
  constexpr int kRowTiles = (C::kK / 16 + C::kWarps - 1) / C::kWarps;  // 16-row tiles of W per warp
  static_assert(C::kK % 16 == 0 && C::kChunkM % 16 == 0 && C::kBlockN % 16 == 0, "tile shapes");

  extern __shared__ __align__(128) unsigned char smem[];
  T* h = reinterpret_cast<T*>(smem);
  T* dy = reinterpret_cast<T*>(smem + L::kHBytes);
  float* gamma = reinterpret_cast<float*>(smem + L::kHBytes + L::kDyBytes);
  float* beta = gamma + C::kK;
  float* mean = beta + C::kK;
  float* rstd = mean + C::kChunkM;

  const int col_tiles = (p.out_features + C::kBlockN - 1) / C::kBlockN;
  const int n0 = (blockIdx.x % col_tiles) * C::kBlockN, group = blockIdx.x / col_tiles;
  const int m_begin = group * p.rows_per_group, m_end = min(p.rows, m_begin + p.rows_per_group);
  const int warp = threadIdx.x / 32, g = lane_id() / 4, t = lane_id() % 4, k_count = p.in_features;
  for (int k = threadIdx.x; k < C::kK; k += kThreads) {
    const bool inside = k < k_count;
    gamma[k] = inside ? to_float(static_cast<const typename C::GammaT*>(p.gamma)[k * p.gamma_stride]) : 0.0f;
    beta[k] = inside && C::kHasBeta ? to_float(static_cast<const typename C::BetaT*>(p.beta)[k * p.beta_stride]) : 0.0f;
  }
  FragC acc[kRowTiles][kColTiles];
#pragma unroll
  for (int i = 0; i < kRowTiles; ++i)
#pragma unroll
    for (int j = 0; j < kColTiles; ++j) acc[i][j] = FragC{};
  float bias_sum = 0.0f;  // column threadIdx.x of the tile

  for (int m0 = m_begin; m0 < m_end; m0 += C::kChunkM) {
    const int valid = m_end - m0;
    copy_tile<T, C::kChunkM, C::kK, kThreads>(h, L::kLdH, static_cast<const T*>(p.x) + m0 * p.x_stride_m,
                                              p.x_stride_m, p.x_stride_k, valid, k_count, p.x_vector_ok, threadIdx.x);
    copy_tile<T, C::kChunkM, C::kBlockN, kThreads>(
        dy, L::kLdDy, static_cast<const T*>(p.d_y) + m0 * p.dy_stride_m + n0 * p.dy_stride_n, p.dy_stride_m,
        p.dy_stride_n, valid, p.out_features - n0, p.dy_vector_ok, threadIdx.x);
    cp_async_commit();
    for (int r = threadIdx.x; r < C::kChunkM; r += kThreads) {
      mean[r] = r < valid ? p.mean[(m0 + r) * p.mean_stride] : 0.0f;
      rstd[r] = r < valid ? p.rstd[(m0 + r) * p.rstd_stride] : 0.0f;
    }
    cp_async_wait<0>();
    __syncthreads();
    // h = x̂·γ + β in place; rows past M stay zero (their dy rows are zero too).
    for (int i = threadIdx.x; i < C::kChunkM * C::kK; i += kThreads) {
      const int r = i / C::kK, k = i % C::kK;
      if (r < valid && k < k_count)
        h[r * L::kLdH + k] = from_float<T>(fmaf((to_float(h[r * L::kLdH + k]) - mean[r]) * rstd[r], gamma[k], beta[k]));
    }
    if (threadIdx.x < C::kBlockN)
      for (int r = 0; r < C::kChunkM; ++r) bias_sum += to_float(dy[r * L::kLdDy + threadIdx.x]);
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < C::kChunkM / 16; ++kk) {
#pragma unroll
      for (int i = 0; i < kRowTiles; ++i) {
        const int row_tile = warp + i * C::kWarps;
        if (row_tile * 16 >= C::kK) break;
        FragA<T> a;
        load_a_t(a, h, L::kLdH, row_tile * 16, kk * 16);
#pragma unroll
        for (int j = 0; j < kColTiles; ++j) {
          FragB<T> b;
          load_b_t(b, dy, L::kLdDy, kk * 16, j * 8);
          mma(acc[i][j], a, b);
        }
      }
    }
    __syncthreads();  // h and dy are refilled next
  }
  if (p.weight_partial != nullptr) {
    float* out = p.weight_partial + i64(group) * k_count * p.out_features;
#pragma unroll
    for (int i = 0; i < kRowTiles; ++i) {
      const int row_tile = warp + i * C::kWarps;
      if (row_tile * 16 >= C::kK) break;
#pragma unroll
      for (int j = 0; j < kColTiles; ++j)
#pragma unroll
        for (int half = 0; half < 2; ++half)
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int k = row_tile * 16 + g + half * 8, n = n0 + j * 8 + 2 * t + e;
            if (k < k_count && n < p.out_features) out[i64(k) * p.out_features + n] = acc[i][j].c[2 * half + e];
          }
    }
  }
  if (p.bias_partial != nullptr && threadIdx.x < C::kBlockN && n0 + int(threadIdx.x) < p.out_features)
    p.bias_partial[i64(group) * p.out_features + n0 + threadIdx.x] = bias_sum;
}

// ---- finalize --------------------------------------------------------------------------
// Each gradient element: its partial sums added in index order, converted, stored strided.
template <class C>
__device__ __forceinline__ void layer_norm_linear_backward_finalize(const MfLinearParams& p) {
  const int k_count = p.in_features, n_count = p.out_features;
  const i64 weights = p.weight_partial != nullptr ? i64(k_count) * n_count : 0;
  const i64 biases = p.bias_partial != nullptr ? n_count : 0;
  const i64 norms = p.gamma_partial != nullptr ? 2 * k_count : 0;
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < weights + biases + norms;
       i += i64(gridDim.x) * blockDim.x) {
    float sum = 0.0f;
    if (i < weights) {
      for (int group = 0; group < p.groups; ++group) sum += p.weight_partial[group * weights + i];
      const int k = int(i / n_count), n = int(i % n_count);
      if (p.d_weight != nullptr)
        static_cast<typename C::T*>(p.d_weight)[k * p.dw_stride_k + n * p.dw_stride_n] = from_float<typename C::T>(sum);
    } else if (i < weights + biases) {
      const int n = int(i - weights);
      for (int group = 0; group < p.groups; ++group) sum += p.bias_partial[i64(group) * n_count + n];
      if (p.d_bias != nullptr)
        static_cast<typename C::BiasT*>(p.d_bias)[n * p.dbias_stride] = from_float<typename C::BiasT>(sum);
    } else {
      const int j = int(i - weights - biases), which = j / k_count, k = j % k_count;  // 0: dγ, 1: dβ
      for (int block = 0; block < p.row_blocks; ++block)
        sum += p.gamma_partial[(i64(block) * 2 + which) * C::kK + k];
      if (which == 0 && p.d_gamma != nullptr)
        static_cast<typename C::GammaT*>(p.d_gamma)[k * p.dgamma_stride] = from_float<typename C::GammaT>(sum);
      if (which == 1 && p.d_beta != nullptr)
        static_cast<typename C::BetaT*>(p.d_beta)[k * p.dbeta_stride] = from_float<typename C::BetaT>(sum);
    }
  }
}

}  // namespace mf
