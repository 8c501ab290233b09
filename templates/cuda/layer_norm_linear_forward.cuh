// LayerNormLinear forward: one block normalises kBlockM rows of x and multiplies them by W
// in kBlockN-wide column tiles streamed through a kStages-deep pipeline; each warp owns
// 16 rows.   x̂ = (x − mean)·rstd·γ + β  (statistics in fp32),   y = x̂·W + b
// The normalised rows stay in shared memory as T, the operand of every column tile, so x
// is read from memory once; W tiles come from L2 (every block reads all of W).
//
// A configuration C provides: T (x, W, y element), GammaT, BetaT, BiasT, kK (K padded
// to a multiple of 16), kBlockM (= 16·kWarps), kBlockN, kWarps, kStages (1 or 2),
// kWeightNK (W stored [N, K], the torch layout), kHasBeta, kHasBias.
#pragma once

namespace mf {

template <class C>
struct LinearTiles {
  using T = typename C::T;
  static constexpr int kLdA = C::kK + 8;  // padded rows: ldmatrix reads hit distinct banks
  static constexpr int kLdW = C::kWeightNK ? C::kK + 8 : C::kBlockN + 8;
  static constexpr int kWRows = C::kWeightNK ? C::kBlockN : C::kK;
  static constexpr int kLdOut = C::kBlockN + 8;
  static constexpr int kABytes = C::kBlockM * kLdA * int(sizeof(T));
  static constexpr int kParamBytes = 2 * C::kK * 4;  // γ and β as float
  static constexpr int kWBytes = kWRows * kLdW * int(sizeof(T));
  static constexpr int kOutBytes = C::kBlockM * kLdOut * int(sizeof(T));
  static constexpr int kBytes = kABytes + kParamBytes + C::kStages * kWBytes + kOutBytes;
};

// Columns n0 .. n0 + kBlockN of W into a stage, in the layout's own orientation.
template <class C>
__device__ __forceinline__ void load_weight_tile(typename C::T* dst, const MfLinearParams& p, int n0) {
  using T = typename C::T;
  using L = LinearTiles<C>;
  const T* w = static_cast<const T*>(p.weight) + n0 * p.w_stride_n;
  if constexpr (C::kWeightNK)
    copy_tile<T, C::kBlockN, C::kK, 32 * C::kWarps>(dst, L::kLdW, w, p.w_stride_n, p.w_stride_k,
                                                    p.out_features - n0, p.in_features, p.w_vector_ok, threadIdx.x);
  else
    copy_tile<T, C::kK, C::kBlockN, 32 * C::kWarps>(dst, L::kLdW, w, p.w_stride_k, p.w_stride_n, p.in_features,
                                                    p.out_features - n0, p.w_vector_ok, threadIdx.x);
}

template <class C>
__device__ __forceinline__ void layer_norm_linear_forward(const MfLinearParams& p) {
  using T = typename C::T;
  using L = LinearTiles<C>;
  constexpr int kThreads = 32 * C::kWarps, kColTiles = C::kBlockN / 8;
  static_assert(C::kBlockM == 16 * C::kWarps, "each warp owns 16 rows");
  static_assert(C::kK % 16 == 0 && C::kBlockN % 16 == 0, "tiles are multiples of the 16-wide product");
  static_assert(C::kStages == 1 || C::kStages == 2, "one or two weight stages");

  extern __shared__ __align__(128) unsigned char smem[];
  T* a = reinterpret_cast<T*>(smem);
  float* gamma = reinterpret_cast<float*>(smem + L::kABytes);
  float* beta = gamma + C::kK;
  unsigned char* w_stages = smem + L::kABytes + L::kParamBytes;
  T* out = reinterpret_cast<T*>(w_stages + C::kStages * L::kWBytes);
  auto w_stage = [&](int tile) { return reinterpret_cast<T*>(w_stages + (tile % C::kStages) * L::kWBytes); };

  const int m0 = blockIdx.x * C::kBlockM, warp = threadIdx.x / 32, g = lane_id() / 4, t = lane_id() % 4;
  const int col_tiles = (p.out_features + C::kBlockN - 1) / C::kBlockN;

  copy_tile<T, C::kBlockM, C::kK, kThreads>(a, L::kLdA, static_cast<const T*>(p.x) + m0 * p.x_stride_m,
                                            p.x_stride_m, p.x_stride_k, p.rows - m0, p.in_features, p.x_vector_ok,
                                            threadIdx.x);
  load_weight_tile<C>(w_stage(0), p, 0);
  cp_async_commit();
  for (int k = threadIdx.x; k < C::kK; k += kThreads) {
    const bool inside = k < p.in_features;
    gamma[k] = inside ? to_float(static_cast<const typename C::GammaT*>(p.gamma)[k * p.gamma_stride]) : 0.0f;
    beta[k] = inside && C::kHasBeta ? to_float(static_cast<const typename C::BetaT*>(p.beta)[k * p.beta_stride]) : 0.0f;
  }
  cp_async_wait<0>();
  __syncthreads();
  normalise_rows(a, L::kLdA, warp * 16, gamma, beta, p.in_features, p.eps, m0, p.rows,
                 RowStatistics{p.mean, p.rstd, p.mean_stride, p.rstd_stride});
  __syncthreads();

  for (int tile = 0; tile < col_tiles; ++tile) {
    if constexpr (C::kStages == 2) {
      if (tile + 1 < col_tiles) load_weight_tile<C>(w_stage(tile + 1), p, (tile + 1) * C::kBlockN);
      cp_async_commit();
      cp_async_wait<1>();
    } else if (tile > 0) {
      load_weight_tile<C>(w_stage(tile), p, tile * C::kBlockN);
      cp_async_commit();
      cp_async_wait<0>();
    }
    __syncthreads();
    const T* w = w_stage(tile);
    FragC acc[kColTiles];
#pragma unroll
    for (int j = 0; j < kColTiles; ++j) acc[j] = FragC{};
#pragma unroll
    for (int kk = 0; kk < C::kK / 16; ++kk) {
      FragA<T> a_frag;
      load_a(a_frag, a, L::kLdA, warp * 16, kk * 16);
#pragma unroll
      for (int j = 0; j < kColTiles; ++j) {
        FragB<T> b_frag;
        if constexpr (C::kWeightNK) load_b(b_frag, w, L::kLdW, j * 8, kk * 16);
        else load_b_t(b_frag, w, L::kLdW, kk * 16, j * 8);
        mma(acc[j], a_frag, b_frag);
      }
    }
    const int n0 = tile * C::kBlockN;
#pragma unroll
    for (int j = 0; j < kColTiles; ++j) {
      const int col = j * 8 + 2 * t, n = n0 + col;
      float b0 = 0.0f, b1 = 0.0f;
      if constexpr (C::kHasBias) {
        const auto* bias = static_cast<const typename C::BiasT*>(p.bias);
        if (n < p.out_features) b0 = to_float(bias[n * p.bias_stride]);
        if (n + 1 < p.out_features) b1 = to_float(bias[(n + 1) * p.bias_stride]);
      }
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        T* to = out + (warp * 16 + g + half * 8) * L::kLdOut + col;
        to[0] = from_float<T>(acc[j].c[2 * half] + b0);
        to[1] = from_float<T>(acc[j].c[2 * half + 1] + b1);
      }
    }
    warp_sync();
    store_warp_rows<T, C::kBlockN>(out, L::kLdOut, warp * 16, static_cast<T*>(p.y) + m0 * p.y_stride_m + n0 * p.y_stride_n,
                                   p.y_stride_m, p.y_stride_n, p.rows - m0, p.out_features - n0, p.y_vector_ok);
    warp_sync();
    __syncthreads();  // this tile's stage is refilled next (one stage) or after next (two)
  }
}

}  // namespace mf
