// LayerNormLinear backward, weights kernel version 2 (sm_90a, 16-bit T): with h = x̂·γ + β
// recomputed from x and the forward's saved statistics,
//   dW[k, n] = Σ_m h[m, k]·dy[m, n],   db[n] = Σ_m dy[m, n],
// on warpgroup products. Block b owns the kBlockN columns of slice b % slices and the group
// of rows b / slices (the launch plan's rows_per_group, a whole number of 64-row chunks);
// each of its warpgroups owns 64 rows of dW (k), their [64 x kBlockN] accumulators held in
// registers over the whole group. Chunks of 64 rows of x and dy stream through a ring of
// kStages cp.async stages shared by the block, and for each chunk
//   A = hᵀ: each warp's 16 rows of k, ldmatrix-transposed from the x stage and normalised
//       in registers,
//   B = dy: 128-byte-swizzled MN-major panels of 64 columns, read by the tensor cores,
// while db's column sums are taken from the dy stage as the products run. The partial sums
// go to the workspace in version 1's layout (weight_partial[group][k][n],
// bias_partial[group][n]); the finalize kernel adds them in group order, so the result is
// deterministic.
//
// Against version 1 (a block per column tile of 8 warps, the LayerNorm in shared memory,
// copy, wait and compute in turn): dy is read once, x once per slice (from L2 after the
// first), and the copies of the next kStages - 1 chunks run under each chunk's products.
//
// A configuration C provides T, GammaT, BetaT, kK (= K, at most 64·kWarps/4), kBlockN
// (64, 128 or 256), kWarps (4 or 8: one warpgroup per 64 rows of dW), kStages, kHasBeta.
#pragma once

namespace mf {

template <class C>
struct LinearWeightsV2Layout {
  using T = typename C::T;
  using Panel = wgmma::SwizzledRows<128>;
  static constexpr int kGroups = C::kWarps / 4;
  static constexpr int kThreads = 32 * C::kWarps;
  static constexpr int kKPad = 64 * kGroups;       // x's columns as staged, zeros past K
  static constexpr int kChunkM = 64;               // rows of x and dy a stage
  static constexpr int kSteps = kChunkM / 16;      // k16 steps of the product a chunk
  static constexpr int kStages = C::kStages;
  // dy as panels of 128-byte rows: panel i holds columns [64i, 64i + 64) of the chunk's rows.
  static constexpr int kPanelN = 128 / int(sizeof(T));
  static constexpr int kPanels = C::kBlockN / kPanelN;
  static constexpr int kPanelBytes = kChunkM * 128;
  static constexpr int kDyBytes = kPanels * kPanelBytes;
  static constexpr int kLdX = kKPad + 8;  // padded rows: ldmatrix's eight rows hit distinct banks
  static constexpr int kXBytes = kChunkM * kLdX * int(sizeof(T));
  static constexpr int kStatsBytes = 2 * kChunkM * 4;  // mean and rstd of the chunk's rows
  // db: a thread sums one column pair over a part of the chunk's rows.
  static constexpr int kPairs = C::kBlockN / 2;
  static constexpr int kParts = kThreads / kPairs;
  static constexpr int kRowsPerPart = kChunkM / kParts;
  static constexpr int kSumsBytes = kParts * C::kBlockN * 4;
  static constexpr int kBytes = kStages * (kDyBytes + kXBytes + kStatsBytes) + kSumsBytes;

  static_assert(sizeof(T) == 2, "wgmma on 16-bit inputs");
  static_assert(C::kWarps == 4 || C::kWarps == 8, "one or two warpgroups");
  static_assert(C::kK <= kKPad, "a warpgroup per 64 rows of dW");
  static_assert(C::kBlockN % kPanelN == 0 && C::kBlockN <= 256, "whole panels, n of m64nNk16");
  static_assert(kThreads % kPairs == 0 && kChunkM % kParts == 0, "db's parts cover the chunk");
  static_assert(kStages >= 2, "a ring");
  static_assert(kDyBytes % 1024 == 0 && kXBytes % 16 == 0, "panels keep the swizzle's 1024-byte alignment");
};

// Version 2's shared memory: the stages' dy panels first (1024-byte aligned), then their
// x rows, then their statistics, then db's per-part sums.
template <class C>
struct LinearWeightsV2Storage {
  using T = typename C::T;
  using L = LinearWeightsV2Layout<C>;
  unsigned char* base;

  __device__ __forceinline__ unsigned char* dy(int stage) const { return base + stage * L::kDyBytes; }
  __device__ __forceinline__ T* x(int stage) const {
    return reinterpret_cast<T*>(base + L::kStages * L::kDyBytes + stage * L::kXBytes);
  }
  __device__ __forceinline__ float* mean(int stage) const {
    return reinterpret_cast<float*>(base + L::kStages * (L::kDyBytes + L::kXBytes) + stage * L::kStatsBytes);
  }
  __device__ __forceinline__ float* rstd(int stage) const { return mean(stage) + L::kChunkM; }
  __device__ __forceinline__ float* sums() const {
    return reinterpret_cast<float*>(base + L::kStages * (L::kDyBytes + L::kXBytes + L::kStatsBytes));
  }
};

// The byte offset of dy's element (r, n) in a stage's panels.
template <class C>
__device__ __forceinline__ int dy_panel_offset(int r, int n) {
  using L = LinearWeightsV2Layout<C>;
  constexpr int kPerPiece = 16 / int(sizeof(typename C::T));
  return n / L::kPanelN * L::kPanelBytes + L::Panel::offset(r, n % L::kPanelN / kPerPiece) +
         n % kPerPiece * int(sizeof(typename C::T));
}

// Rows m0 .. m0 + valid_rows of x, of dy's slice n0 and of the statistics into `stage`;
// the rest of the stage zero (the products then add nothing for those rows).
template <class C>
__device__ __forceinline__ void load_weights_chunk(const LinearWeightsV2Storage<C>& s, int stage,
                                                   const MfLinearParams& p, int m0, int valid_rows, int n0) {
  using T = typename C::T;
  using L = LinearWeightsV2Layout<C>;
  constexpr int kPerPiece = 16 / int(sizeof(T)), kPiecesPerRow = C::kBlockN / kPerPiece;
  copy_tile<T, L::kChunkM, L::kKPad, L::kThreads>(s.x(stage), L::kLdX, static_cast<const T*>(p.x) + m0 * p.x_stride_m,
                                                  p.x_stride_m, p.x_stride_k, valid_rows, p.in_features,
                                                  p.x_vector_ok, threadIdx.x);
  const T* dy = static_cast<const T*>(p.d_y) + m0 * p.dy_stride_m + n0 * p.dy_stride_n;
  const int valid_n = p.out_features - n0;
  unsigned char* panels = s.dy(stage);
  if (p.dy_vector_ok) {
#pragma unroll
    for (int i = threadIdx.x; i < L::kChunkM * kPiecesPerRow; i += L::kThreads) {
      const int r = i / kPiecesPerRow, n = i % kPiecesPerRow * kPerPiece;
      const int in_row = r < valid_rows ? valid_n - n : 0;
      const int bytes = in_row <= 0 ? 0 : (in_row >= kPerPiece ? 16 : in_row * int(sizeof(T)));
      cp_async_16(panels + dy_panel_offset<C>(r, n), bytes > 0 ? dy + r * p.dy_stride_m + n : dy, bytes);
    }
  } else {
    for (int i = threadIdx.x; i < L::kChunkM * C::kBlockN; i += L::kThreads) {
      const int r = i / C::kBlockN, n = i % C::kBlockN;
      *reinterpret_cast<T*>(panels + dy_panel_offset<C>(r, n)) =
          r < valid_rows && n < valid_n ? dy[r * p.dy_stride_m + n * p.dy_stride_n] : zero_value<T>();
    }
  }
  // Statistics: threads 0..63 the means, 64..127 the rstds; zero past the rows (x̂ = 0 there).
  if (threadIdx.x < 2 * L::kChunkM) {
    const int r = threadIdx.x % L::kChunkM;
    const bool is_mean = threadIdx.x < L::kChunkM;
    float* to = (is_mean ? s.mean(stage) : s.rstd(stage)) + r;
    if (r < valid_rows)
      cp_async_4(to, is_mean ? p.mean + (m0 + r) * p.mean_stride : p.rstd + (m0 + r) * p.rstd_stride);
    else
      *to = 0.0f;
  }
}

// A warp's 16 rows of hᵀ (rows `first` .. of k) for the chunk in `stage`, as the product's
// A fragments: lane (g, t) holds k = first + g (pairs 0, 2) and first + g + 8 (pairs 1, 3),
// rows m = 16·kk + 8·(pair / 2) + 2t and the next; gamma and beta are this lane's γ, β at
// its two k.
template <class C>
__device__ __forceinline__ void normalised_transpose(FragA<typename C::T> (&a)[LinearWeightsV2Layout<C>::kSteps],
                                                     const LinearWeightsV2Storage<C>& s, int stage, int first,
                                                     const float (&gamma)[2], const float (&beta)[2]) {
  using T = typename C::T;
  using L = LinearWeightsV2Layout<C>;
  const int t = lane_id() % 4;
  const float* mean = s.mean(stage);
  const float* rstd = s.rstd(stage);
#pragma unroll
  for (int kk = 0; kk < L::kSteps; ++kk) {
    load_a_t(a[kk], s.x(stage), L::kLdX, first, kk * 16);
#pragma unroll
    for (int half = 0; half < 2; ++half) {  // rows 16kk + 2t (+1) and 16kk + 8 + 2t (+1)
      const int m = kk * 16 + half * 8 + 2 * t;
      const float2 mu = *reinterpret_cast<const float2*>(mean + m);
      const float2 rs = *reinterpret_cast<const float2*>(rstd + m);
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int pair = 2 * half + h;
        float u, v;
        unpack(a[kk].p[pair], u, v);
        a[kk].p[pair] = make_pair<T>(fmaf((u - mu.x) * rs.x, gamma[h], beta[h]),
                                     fmaf((v - mu.y) * rs.y, gamma[h], beta[h]));
      }
    }
  }
}

template <class C>
__device__ __forceinline__ void layer_norm_linear_backward_weights_v2(const MfLinearParams& p) {
  using T = typename C::T;
  using L = LinearWeightsV2Layout<C>;
  constexpr int kColTiles = C::kBlockN / 8;
  extern __shared__ __align__(1024) unsigned char smem[];
  const LinearWeightsV2Storage<C> s{smem};

  // The scheduler: a fixed slice of columns and a fixed group of rows.
  const int slices = (p.out_features + C::kBlockN - 1) / C::kBlockN;
  const int slice = blockIdx.x % slices, group = blockIdx.x / slices, n0 = slice * C::kBlockN;
  const int m_begin = group * p.rows_per_group, m_end = min(p.rows, m_begin + p.rows_per_group);
  const int chunks = (m_end - m_begin + L::kChunkM - 1) / L::kChunkM;
  const int warp = threadIdx.x / 32, g = lane_id() / 4, t = lane_id() % 4;
  const int first_k = warp * 16;  // warpgroup w's warps cover k in [64w, 64w + 64)
  auto load = [&](int chunk) {
    const int m0 = m_begin + chunk * L::kChunkM;
    load_weights_chunk<C>(s, chunk % L::kStages, p, m0, m_end - m0, n0);
  };

  float gamma[2], beta[2];  // at k = first_k + g and first_k + g + 8; zero past K (h = 0 there)
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int k = first_k + g + 8 * h;
    const bool inside = k < p.in_features;
    gamma[h] = inside ? to_float(static_cast<const typename C::GammaT*>(p.gamma)[k * p.gamma_stride]) : 0.0f;
    beta[h] = inside && C::kHasBeta ? to_float(static_cast<const typename C::BetaT*>(p.beta)[k * p.beta_stride])
                                    : 0.0f;
  }
  // db: this thread's column pair and part of each chunk's rows.
  const int pair = threadIdx.x % L::kPairs, part = threadIdx.x / L::kPairs;
  float column_sum[2] = {0.0f, 0.0f};

  // Prologue: the first kStages - 1 chunks in flight.
#pragma unroll
  for (int c = 0; c < L::kStages - 1; ++c) {
    if (c < chunks) load(c);
    cp_async_commit();
  }
  FragC acc[kColTiles];
#pragma unroll
  for (int j = 0; j < kColTiles; ++j) acc[j] = FragC{};

  for (int c = 0; c < chunks; ++c) {
    // Mainloop: chunk c is in (this thread's copies; the barrier makes them everyone's,
    // fenced for the tensor cores), and chunk c - 1's products are done, so its stage
    // takes chunk c + kStages - 1.
    cp_async_wait<L::kStages - 2>();
    wgmma::fence_shared_for_products();
    __syncthreads();
    if (c + L::kStages - 1 < chunks) load(c + L::kStages - 1);
    cp_async_commit();
    const int stage = c % L::kStages;

    FragA<T> a[L::kSteps];
    normalised_transpose<C>(a, s, stage, first_k, gamma, beta);
    const wgmma::MnMajor<T, 128> dy(s.dy(stage), L::kPanelBytes);
    wgmma::fence();
#pragma unroll
    for (int kk = 0; kk < L::kSteps; ++kk) wgmma::mma_rs<T, C::kBlockN>(acc, a[kk], dy.step(kk), 1);
    wgmma::commit();
    if (p.bias_partial != nullptr) {
      const unsigned char* panels = s.dy(stage);
#pragma unroll 4
      for (int r = part * L::kRowsPerPart; r < (part + 1) * L::kRowsPerPart; ++r) {
        float u, v;
        unpack(*reinterpret_cast<const Pair<T>*>(panels + dy_panel_offset<C>(r, 2 * pair)), u, v);
        column_sum[0] += u;
        column_sum[1] += v;
      }
    }
    wgmma::wait<0>();
  }
  wgmma::hold(acc);

  // Epilogue: the group's partial dW rows of this warp, and db's parts added in order.
  if (p.weight_partial != nullptr) {
    float* out = p.weight_partial + i64(group) * p.in_features * p.out_features;
#pragma unroll
    for (int j = 0; j < kColTiles; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int k = first_k + g + 8 * h, n = n0 + j * 8 + 2 * t + e;
          if (k < p.in_features && n < p.out_features) out[i64(k) * p.out_features + n] = acc[j].c[2 * h + e];
        }
  }
  if (p.bias_partial != nullptr) {
    s.sums()[part * C::kBlockN + 2 * pair] = column_sum[0];
    s.sums()[part * C::kBlockN + 2 * pair + 1] = column_sum[1];
    __syncthreads();
    for (int n = threadIdx.x; n < C::kBlockN; n += L::kThreads) {
      float sum = 0.0f;
      for (int q = 0; q < L::kParts; ++q) sum += s.sums()[q * C::kBlockN + n];
      if (n0 + n < p.out_features) p.bias_partial[i64(group) * p.out_features + n0 + n] = sum;
    }
  }
}

}  // namespace mf
