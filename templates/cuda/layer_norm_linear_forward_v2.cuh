// LayerNormLinear forward, version 2 (sm_90a, 16-bit T): persistent blocks, each owning
// one slice of kBlockN columns of W for the whole run, resident in shared memory as
// swizzled K-major panels; one or two warpgroups a block, each streaming 64-row blocks of
// x through its own two-stage cp.async ring. For each row block a warpgroup
//   1. reads its rows into registers as the product's A fragments (ldmatrix),
//   2. normalises them there (fp32 statistics; a row lives on the 4 lanes of a quad),
//   3. multiplies them by the resident slice on wgmma (A from registers, B K-major), the
//      accumulators starting from the bias,
//   4. stages the tile in shared memory and stores it in 16-byte pieces.
// W is read once per block instead of once per 16·kWarps rows (version 1), x once per
// column slice (from L2 after the first: the slices of a row block run side by side), and
// the normalised rows never go back to shared memory.
//
// A configuration C provides T, GammaT, BetaT, BiasT, kK (= K, a multiple of 16), kBlockN
// (the slice's width), kWarps (4 or 8: one or two warpgroups), kWeightNK (W stored [N, K],
// the torch layout), kHasBeta, kHasBias. The grid is a whole number of blocks per slice
// (the launch plan's); block b serves slice b % slices.
#pragma once

namespace mf {

template <class C>
struct LinearV2Layout {
  using T = typename C::T;
  static constexpr int kGroups = C::kWarps / 4;
  static constexpr int kThreads = 32 * C::kWarps;
  static constexpr int kBlockM = 64;          // rows of a warpgroup's block
  static constexpr int kSteps = C::kK / 16;   // k steps of the product
  // The slice as panels of 128-byte rows (64 k of 16-bit T): panel i holds k in
  // [64i, 64i + 64) of each of the slice's kBlockN columns, one column a row.
  using Panel = wgmma::SwizzledRows<128>;
  static constexpr int kPanelK = 128 / int(sizeof(T));
  static constexpr int kStepsPerPanel = kPanelK / 16;
  static constexpr int kPanels = (C::kK + kPanelK - 1) / kPanelK;
  static constexpr int kPanelBytes = C::kBlockN * 128;
  static constexpr int kWeightBytes = kPanels * kPanelBytes;
  static constexpr int kParamBytes = (2 * C::kK + C::kBlockN) * 4;  // γ, β and the slice's b as float
  static constexpr int kLdX = C::kK + 8;  // padded rows: ldmatrix's eight rows hit distinct banks
  static constexpr int kXBytes = kBlockM * kLdX * int(sizeof(T));
  static constexpr int kLdOut = C::kBlockN + 8;
  static constexpr int kOutBytes = kBlockM * kLdOut * int(sizeof(T));
  static constexpr int kGroupBytes = 2 * kXBytes + kOutBytes;  // two x stages and the output stage
  static constexpr int kBytes = kWeightBytes + kParamBytes + kGroups * kGroupBytes;

  static_assert(sizeof(T) == 2, "wgmma on 16-bit inputs");
  static_assert(C::kWarps == 4 || C::kWarps == 8, "one or two warpgroups");
  static_assert(C::kK % 16 == 0 && C::kBlockN % 16 == 0 && C::kBlockN <= 256, "whole k steps, n of m64nNk16");
  static_assert(kPanelBytes % 1024 == 0, "panels keep the swizzle's 1024-byte alignment");
  static_assert(kParamBytes % 16 == 0 && kXBytes % 16 == 0, "stages start on 16-byte boundaries");
};

// Where each part of version 2's shared memory lies: the weight panels first (1024-byte
// aligned), then γ, β, b, then each warpgroup's stages.
template <class C>
struct LinearV2Storage {
  using T = typename C::T;
  using L = LinearV2Layout<C>;
  unsigned char* base;

  __device__ __forceinline__ unsigned char* weight() const { return base; }
  __device__ __forceinline__ float* gamma() const { return reinterpret_cast<float*>(base + L::kWeightBytes); }
  __device__ __forceinline__ float* beta() const { return gamma() + C::kK; }
  __device__ __forceinline__ float* bias() const { return gamma() + 2 * C::kK; }
  __device__ __forceinline__ unsigned char* group(int g) const {
    return base + L::kWeightBytes + L::kParamBytes + g * L::kGroupBytes;
  }
  __device__ __forceinline__ T* x(int g, int stage) const { return reinterpret_cast<T*>(group(g) + stage * L::kXBytes); }
  __device__ __forceinline__ T* out(int g) const { return reinterpret_cast<T*>(group(g) + 2 * L::kXBytes); }
};

// Columns n0 .. n0 + kBlockN of W into the panels (zeros past N): 16-byte pieces of the
// torch layout's rows where they are aligned, element by element otherwise. Once a block.
template <class C>
__device__ __forceinline__ void load_weight_slice(unsigned char* panels, const MfLinearParams& p, int n0) {
  using T = typename C::T;
  using L = LinearV2Layout<C>;
  constexpr int kPerPiece = 16 / int(sizeof(T));
  auto at = [](int n, int k) {  // the byte offset of element (k, n) of the slice
    return (k / L::kPanelK) * L::kPanelBytes + L::Panel::offset(n, k % L::kPanelK / kPerPiece) +
           k % kPerPiece * int(sizeof(T));
  };
  const int valid_n = min(p.out_features - n0, C::kBlockN);
  const T* w = static_cast<const T*>(p.weight) + n0 * p.w_stride_n;
  if (C::kWeightNK && p.w_vector_ok) {
    constexpr int kPiecesPerRow = C::kK / kPerPiece;
    for (int i = threadIdx.x; i < C::kBlockN * kPiecesPerRow; i += L::kThreads) {
      const int n = i / kPiecesPerRow, k = i % kPiecesPerRow * kPerPiece;
      cp_async_16(panels + at(n, k), n < valid_n ? w + n * p.w_stride_n + k : w, n < valid_n ? 16 : 0);
    }
    return;
  }
  // Consecutive threads along W's unit-stride dimension.
#pragma unroll 8
  for (int i = threadIdx.x; i < C::kBlockN * C::kK; i += L::kThreads) {
    const int n = C::kWeightNK ? i / C::kK : i % C::kBlockN, k = C::kWeightNK ? i % C::kK : i / C::kBlockN;
    *reinterpret_cast<T*>(panels + at(n, k)) = n < valid_n ? w[n * p.w_stride_n + k * p.w_stride_k] : zero_value<T>();
  }
}

// A warp's 16 rows (from `first` in the stage x) as normalised A fragments: x̂ = (x − mean)
// · rstd · γ + β. Lane (g, t) holds rows g (pairs 0, 2) and g + 8 (pairs 1, 3), columns
// 16·kk + 8·(pair / 2) + 2t and the next, so a row's statistics are quad reductions.
// With `save`, the statistics of rows below `rows` go to `saved` (tile row r = row m0 + r).
template <class C>
__device__ __forceinline__ void normalise_fragments(FragA<typename C::T> (&a)[LinearV2Layout<C>::kSteps],
                                                    const typename C::T* x, int first, const float* gamma,
                                                    const float* beta, float eps, bool save, int m0, int rows,
                                                    const RowStatistics& saved) {
  using T = typename C::T;
  using L = LinearV2Layout<C>;
  const int g = lane_id() / 4, t = lane_id() % 4;
  constexpr float kInvK = 1.0f / float(C::kK);
#pragma unroll
  for (int kk = 0; kk < L::kSteps; ++kk) load_a(a[kk], x, L::kLdX, first, kk * 16);
  float mean[2] = {0.0f, 0.0f}, rstd[2] = {0.0f, 0.0f};
#pragma unroll
  for (int kk = 0; kk < L::kSteps; ++kk)
#pragma unroll
    for (int pair = 0; pair < 4; ++pair) {
      float u, v;
      unpack(a[kk].p[pair], u, v);
      mean[pair & 1] += u + v;
    }
#pragma unroll
  for (int h = 0; h < 2; ++h) mean[h] = quad_sum(mean[h]) * kInvK;
#pragma unroll
  for (int kk = 0; kk < L::kSteps; ++kk)
#pragma unroll
    for (int pair = 0; pair < 4; ++pair) {
      float u, v;
      unpack(a[kk].p[pair], u, v);
      u -= mean[pair & 1];
      v -= mean[pair & 1];
      rstd[pair & 1] = fmaf(u, u, fmaf(v, v, rstd[pair & 1]));
    }
#pragma unroll
  for (int h = 0; h < 2; ++h) rstd[h] = rsqrtf(quad_sum(rstd[h]) * kInvK + eps);
#pragma unroll
  for (int kk = 0; kk < L::kSteps; ++kk)
#pragma unroll
    for (int pair = 0; pair < 4; ++pair) {
      const int col = kk * 16 + (pair >> 1) * 8 + 2 * t, h = pair & 1;
      const float2 gm = *reinterpret_cast<const float2*>(gamma + col);
      const float2 bt = *reinterpret_cast<const float2*>(beta + col);
      float u, v;
      unpack(a[kk].p[pair], u, v);
      a[kk].p[pair] = make_pair<T>(fmaf((u - mean[h]) * rstd[h], gm.x, bt.x), fmaf((v - mean[h]) * rstd[h], gm.y, bt.y));
    }
  if (save && t == 0)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int m = m0 + first + g + 8 * h;
      if (m < rows) {
        saved.mean[m * saved.mean_stride] = mean[h];
        saved.rstd[m * saved.rstd_stride] = rstd[h];
      }
    }
}

template <class C>
__device__ __forceinline__ void layer_norm_linear_forward_v2(const MfLinearParams& p) {
  using T = typename C::T;
  using L = LinearV2Layout<C>;
  constexpr int kColTiles = C::kBlockN / 8;
  extern __shared__ __align__(1024) unsigned char smem[];
  const LinearV2Storage<C> s{smem};

  // The scheduler: a fixed slice of columns, row blocks strided over the slice's blocks.
  const int slices = (p.out_features + C::kBlockN - 1) / C::kBlockN;
  const int slice = blockIdx.x % slices, block_of_slice = blockIdx.x / slices, blocks_per_slice = gridDim.x / slices;
  const int n0 = slice * C::kBlockN, row_blocks = (p.rows + L::kBlockM - 1) / L::kBlockM;
  const int group = threadIdx.x / 128, thread = threadIdx.x % 128, warp = thread / 32;
  const int g = lane_id() / 4, t = lane_id() % 4;
  const int stride = blocks_per_slice * L::kGroups;
  int block = block_of_slice * L::kGroups + group;

  const T* x = static_cast<const T*>(p.x);
  auto copy_rows = [&](int stage, int m0) {
    copy_tile<T, L::kBlockM, C::kK, 128>(s.x(group, stage), L::kLdX, x + m0 * p.x_stride_m, p.x_stride_m,
                                         p.x_stride_k, p.rows - m0, p.in_features, p.x_vector_ok, thread);
  };

  // Prologue: the slice of W, the parameters, each warpgroup's first rows.
  load_weight_slice<C>(s.weight(), p, n0);
  for (int k = threadIdx.x; k < C::kK; k += L::kThreads) {
    s.gamma()[k] = to_float(static_cast<const typename C::GammaT*>(p.gamma)[k * p.gamma_stride]);
    s.beta()[k] = C::kHasBeta ? to_float(static_cast<const typename C::BetaT*>(p.beta)[k * p.beta_stride]) : 0.0f;
  }
  for (int n = threadIdx.x; n < C::kBlockN; n += L::kThreads)
    s.bias()[n] = C::kHasBias && n0 + n < p.out_features
                      ? to_float(static_cast<const typename C::BiasT*>(p.bias)[(n0 + n) * p.bias_stride])
                      : 0.0f;
  if (block < row_blocks) copy_rows(0, block * L::kBlockM);
  cp_async_commit();
  cp_async_wait<0>();
  wgmma::fence_shared_for_products();  // the panels are read by the tensor cores
  __syncthreads();

  const wgmma::KMajor<T, 128> weights(s.weight());
  const RowStatistics saved{p.mean, p.rstd, p.mean_stride, p.rstd_stride};
  for (int i = 0; block < row_blocks; ++i, block += stride) {
    // Mainloop: this block's rows are in; the other stage (read in the last iteration by
    // every warp of the group, as the barrier says) takes the next block's.
    cp_async_wait<0>();
    group_sync<128>(group);
    if (block + stride < row_blocks) copy_rows((i + 1) & 1, (block + stride) * L::kBlockM);
    cp_async_commit();
    const int m0 = block * L::kBlockM;

    FragA<T> a[L::kSteps];
    normalise_fragments<C>(a, s.x(group, i & 1), warp * 16, s.gamma(), s.beta(), p.eps,
                           slice == 0 && p.mean != nullptr, m0, p.rows, saved);
    FragC acc[kColTiles];
#pragma unroll
    for (int j = 0; j < kColTiles; ++j) {
      const float2 b = *reinterpret_cast<const float2*>(s.bias() + j * 8 + 2 * t);
      acc[j] = FragC{{b.x, b.y, b.x, b.y}};
    }
    wgmma::fence();
#pragma unroll
    for (int kk = 0; kk < L::kSteps; ++kk)
      wgmma::mma_rs_kb<T, C::kBlockN>(acc, a[kk],
                                      weights.step(kk % L::kStepsPerPanel, kk / L::kStepsPerPanel * L::kPanelBytes), 1);
    wgmma::commit();
    wgmma::wait<0>();
    wgmma::hold(acc);

    // Epilogue: each warp stages its own 16 rows and stores them.
    T* out = s.out(group);
#pragma unroll
    for (int j = 0; j < kColTiles; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h)
        *reinterpret_cast<Pair<T>*>(out + (warp * 16 + g + 8 * h) * L::kLdOut + j * 8 + 2 * t) =
            make_pair<T>(acc[j].c[2 * h], acc[j].c[2 * h + 1]);
    warp_sync();
    store_warp_rows<T, C::kBlockN>(out, L::kLdOut, warp * 16,
                                   static_cast<T*>(p.y) + m0 * p.y_stride_m + n0 * p.y_stride_n, p.y_stride_m,
                                   p.y_stride_n, p.rows - m0, p.out_features - n0, p.y_vector_ok);
    warp_sync();  // the stage is rewritten by the next block
  }
}

}  // namespace mf
