// LayerNormLinear backward, version 2 (sm_90a, 16-bit T, K = 64 or 128), deterministic.
// With x̂ = (x − mean)·rstd from the forward's saved statistics, h = x̂·γ + β and
// G = x̂ᵀ·dy [K x N], every parameter gradient follows from G and db = Σ_m dy:
//   dW = γ ⊙ G + β ⊗ db   (h's columns are x̂'s scaled and shifted),
//   dγ[k] = Σ_n W[k, n]·G[k, n],   dβ[k] = Σ_n W[k, n]·db[n]   (dh = dy·Wᵀ summed against x̂),
// so the rows kernel computes dx alone and no pass sums per-row-block dγ, dβ partials.
// Three kernels:
//   rows     dh = dy·Wᵀ on wgmma (dy and W streamed through a cp.async ring, A and B from
//            shared memory), then dx = rstd·(dh⊙γ − mean_k(dh⊙γ) − x̂·mean_k(dh⊙γ⊙x̂)) in
//            registers;
//   weights  G and db per (column slice, group of rows) on wgmma, A = x̂ᵀ normalised in
//            registers, B = dy from shared memory;
//   finalize G and db summed over the groups in order, then dW, db, dγ, dβ.
// Against version 1 (mma.sync, copy-wait-compute, the LayerNorm in shared memory once per
// column tile, dγ/dβ partial sums per row block): dy is read once by each kernel, x once
// per column slice (from L2 after the first), and the copies run under the products.
#pragma once

namespace mf {

// ---- weights: G = x̂ᵀ·dy and db ------------------------------------------------------
// Block b owns the kBlockN columns of slice b % slices and the group of rows b / slices
// (the launch plan's rows_per_group, whole 64-row chunks); each warpgroup owns 64 rows of G
// (k), its [64 x kBlockN] accumulators in registers over the whole group. 64-row chunks
// of x and dy stream through a ring of kStages stages shared by the block: A = x̂ᵀ, each
// warp's 16 rows of k ldmatrix-transposed from the x stage and normalised in registers;
// B = dy, 128-byte-swizzled MN-major panels of 64 columns; db's column sums are taken from
// the dy stage while the products run. Partial sums go to weight_partial[group][k][n] and
// bias_partial[group][n].
//
// A configuration C provides T, kK (at most 64·kWarps/4), kBlockN (64, 128 or 256), kWarps
// (4 or 8: one warpgroup per 64 rows of G) and kStages.
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

// A warp's 16 rows of x̂ᵀ (rows `first` .. of k) for the chunk in `stage`, as the
// product's A fragments: lane (g, t) holds k = first + g (pairs 0, 2) and first + g + 8
// (pairs 1, 3), rows m = 16·kk + 8·(pair / 2) + 2t and the next. Columns past K hold
// −mean·rstd; their rows of G are never stored.
template <class C>
__device__ __forceinline__ void normalised_transpose(FragA<typename C::T> (&a)[LinearWeightsV2Layout<C>::kSteps],
                                                     const LinearWeightsV2Storage<C>& s, int stage, int first) {
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
        a[kk].p[pair] = make_pair<T>((u - mu.x) * rs.x, (v - mu.y) * rs.y);
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
    normalised_transpose<C>(a, s, stage, first_k);
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

  // Epilogue: the group's partial G rows of this warp, and db's parts added in order.
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

// ---- rows: dx --------------------------------------------------------------------------
// A block owns kBlockM = 64·warpgroups rows; each warpgroup 64 of them. For each 64-column
// chunk of N (the product's reduction), the block's dy rows (128-byte-swizzled K-major
// panels, the A operand) and W's 64 rows of the chunk (B: MN-major panels of 64 k from the
// torch layout, K-major rows of 64 n from the [K, N] one) stream through a ring of kStages
// stages; each warpgroup accumulates dh [64 x kK] on wgmma with both operands from shared
// memory. Then, in registers (a row lives on the 4 lanes of a quad):
//   g = dh⊙γ,  dx = rstd·(g − mean_k(g) − x̂·mean_k(g⊙x̂)),
// staged per warp in the (then free) first stage and stored in 16-byte pieces.
//
// A configuration C provides T, GammaT, kK (64 or 128: wgmma's N), kWarps (4 or 8),
// kStages and kWeightNK (W stored [N, K], the torch layout).
template <class C>
struct LinearRowsV2Layout {
  using T = typename C::T;
  using Panel = wgmma::SwizzledRows<128>;
  static constexpr int kGroups = C::kWarps / 4;
  static constexpr int kThreads = 32 * C::kWarps;
  static constexpr int kBlockM = 64 * kGroups;
  static constexpr int kChunkN = 128 / int(sizeof(T));  // columns of dy a stage: one 128-byte row
  static constexpr int kSteps = kChunkN / 16;
  static constexpr int kStages = C::kStages;
  static constexpr int kDyBytes = kBlockM * 128;
  // W's chunk: torch layout, kK / 64 MN-major panels of kChunkN rows; [K, N], kK K-major rows.
  static constexpr int kWPanelBytes = kChunkN * 128;
  static constexpr int kWBytes = C::kK * kChunkN * int(sizeof(T));
  static constexpr int kStageBytes = kDyBytes + kWBytes;
  static constexpr int kLdOut = C::kK + 8;
  static constexpr int kOutBytes = kBlockM * kLdOut * int(sizeof(T));  // dx staged, in stage 0
  static constexpr int kBytes = kStages * kStageBytes + C::kK * 4;      // then γ as float

  static_assert(sizeof(T) == 2, "wgmma on 16-bit inputs");
  static_assert(C::kWarps == 4 || C::kWarps == 8, "one or two warpgroups");
  static_assert(C::kK == 64 || C::kK == 128, "dh's columns: whole 128-byte panels, n of m64nNk16");
  static_assert(kStages >= 2 && kOutBytes <= kStageBytes * kStages, "a ring; dx's stage fits in it");
  static_assert(kStageBytes % 1024 == 0, "stages keep the swizzle's 1024-byte alignment");
};

template <class C>
struct LinearRowsV2Storage {
  using L = LinearRowsV2Layout<C>;
  unsigned char* base;
  __device__ __forceinline__ unsigned char* dy(int stage) const { return base + stage * L::kStageBytes; }
  __device__ __forceinline__ unsigned char* w(int stage) const { return dy(stage) + L::kDyBytes; }
  __device__ __forceinline__ typename C::T* out() const { return reinterpret_cast<typename C::T*>(base); }
  __device__ __forceinline__ float* gamma() const {
    return reinterpret_cast<float*>(base + L::kStages * L::kStageBytes);
  }
};

// Columns n0 .. n0 + kChunkN of the block's dy rows and the same rows of W into `stage`
// (zeros past M, N and K).
template <class C>
__device__ __forceinline__ void load_rows_chunk(const LinearRowsV2Storage<C>& s, int stage, const MfLinearParams& p,
                                                int m0, int n0) {
  using T = typename C::T;
  using L = LinearRowsV2Layout<C>;
  constexpr int kPerPiece = 16 / int(sizeof(T)), kPiecesPerRow = L::kChunkN / kPerPiece;
  const int valid_rows = p.rows - m0, valid_n = p.out_features - n0;
  auto piece_bytes = [](int in_row) { return in_row <= 0 ? 0 : (in_row >= kPerPiece ? 16 : in_row * int(sizeof(T))); };
  // dy: row r of the block, 16-byte piece c of the chunk.
  const T* dy = static_cast<const T*>(p.d_y) + m0 * p.dy_stride_m + n0 * p.dy_stride_n;
  unsigned char* dy_panel = s.dy(stage);
  if (p.dy_vector_ok) {
#pragma unroll
    for (int i = threadIdx.x; i < L::kBlockM * kPiecesPerRow; i += L::kThreads) {
      const int r = i / kPiecesPerRow, c = i % kPiecesPerRow;
      const int bytes = r < valid_rows ? piece_bytes(valid_n - c * kPerPiece) : 0;
      cp_async_16(dy_panel + L::Panel::offset(r, c), bytes > 0 ? dy + r * p.dy_stride_m + c * kPerPiece : dy, bytes);
    }
  } else {
    for (int i = threadIdx.x; i < L::kBlockM * L::kChunkN; i += L::kThreads) {
      const int r = i / L::kChunkN, n = i % L::kChunkN;
      *reinterpret_cast<T*>(dy_panel + L::Panel::offset(r, n / kPerPiece) + n % kPerPiece * int(sizeof(T))) =
          r < valid_rows && n < valid_n ? dy[r * p.dy_stride_m + n * p.dy_stride_n] : zero_value<T>();
    }
  }
  // W: element (k, n0 + n). Torch layout: MN-major, row n of panel k / 64 holds k % 64;
  // [K, N]: K-major, row k holds the chunk's n.
  const T* w = static_cast<const T*>(p.weight) + n0 * p.w_stride_n;
  unsigned char* w_tile = s.w(stage);
  auto w_offset = [](int k, int n) {
    if constexpr (C::kWeightNK)
      return k / 64 * L::kWPanelBytes + L::Panel::offset(n, k % 64 / kPerPiece) + k % kPerPiece * int(sizeof(T));
    else
      return L::Panel::offset(k, n / kPerPiece) + n % kPerPiece * int(sizeof(T));
  };
  if (p.w_vector_ok) {
    // Pieces along the layout's unit-stride dimension: k for the torch layout, n otherwise.
    constexpr int kRows = C::kWeightNK ? L::kChunkN : C::kK, kPieces = C::kWeightNK ? C::kK / kPerPiece : kPiecesPerRow;
#pragma unroll
    for (int i = threadIdx.x; i < kRows * kPieces; i += L::kThreads) {
      const int row = i / kPieces, c = i % kPieces * kPerPiece;
      const int k = C::kWeightNK ? c : row, n = C::kWeightNK ? row : c;
      const int bytes = C::kWeightNK ? (n < valid_n ? piece_bytes(p.in_features - k) : 0)
                                     : (k < p.in_features ? piece_bytes(valid_n - n) : 0);
      cp_async_16(w_tile + w_offset(k, n), bytes > 0 ? w + k * p.w_stride_k + n * p.w_stride_n : w, bytes);
    }
  } else {
    for (int i = threadIdx.x; i < C::kK * L::kChunkN; i += L::kThreads) {
      const int k = C::kWeightNK ? i % C::kK : i / L::kChunkN, n = C::kWeightNK ? i / C::kK : i % L::kChunkN;
      *reinterpret_cast<T*>(w_tile + w_offset(k, n)) =
          k < p.in_features && n < valid_n ? w[k * p.w_stride_k + n * p.w_stride_n] : zero_value<T>();
    }
  }
}

template <class C>
__device__ __forceinline__ void layer_norm_linear_backward_rows_v2(const MfLinearParams& p) {
  using T = typename C::T;
  using L = LinearRowsV2Layout<C>;
  constexpr int kColTiles = C::kK / 8;
  extern __shared__ __align__(1024) unsigned char smem[];
  const LinearRowsV2Storage<C> s{smem};
  const int m0 = blockIdx.x * L::kBlockM, group = threadIdx.x / 128, warp = threadIdx.x / 32;
  const int g = lane_id() / 4, t = lane_id() % 4, chunks = (p.out_features + L::kChunkN - 1) / L::kChunkN;

  for (int k = threadIdx.x; k < C::kK; k += L::kThreads)
    s.gamma()[k] = k < p.in_features ? to_float(static_cast<const typename C::GammaT*>(p.gamma)[k * p.gamma_stride])
                                     : 0.0f;
#pragma unroll
  for (int c = 0; c < L::kStages - 1; ++c) {
    if (c < chunks) load_rows_chunk<C>(s, c, p, m0, c * L::kChunkN);
    cp_async_commit();
  }
  FragC acc[kColTiles];
#pragma unroll
  for (int j = 0; j < kColTiles; ++j) acc[j] = FragC{};

  for (int c = 0; c < chunks; ++c) {
    // Mainloop: chunk c is in and fenced for the tensor cores; chunk c - 1's products are
    // done, so its stage takes chunk c + kStages - 1.
    cp_async_wait<L::kStages - 2>();
    wgmma::fence_shared_for_products();
    __syncthreads();
    if (c + L::kStages - 1 < chunks)
      load_rows_chunk<C>(s, (c + L::kStages - 1) % L::kStages, p, m0, (c + L::kStages - 1) * L::kChunkN);
    cp_async_commit();
    const int stage = c % L::kStages;
    const wgmma::KMajor<T, 128> dy(s.dy(stage));
    wgmma::fence();
    if constexpr (C::kWeightNK) {
      const wgmma::MnMajor<T, 128> w(s.w(stage), L::kWPanelBytes);
#pragma unroll
      for (int kk = 0; kk < L::kSteps; ++kk)
        wgmma::mma_ss_mn<T, C::kK>(acc, dy.step(kk, group * 64 * 128), w.step(kk), 1);
    } else {
      const wgmma::KMajor<T, 128> w(s.w(stage));
#pragma unroll
      for (int kk = 0; kk < L::kSteps; ++kk) wgmma::mma_ss<T, C::kK>(acc, dy.step(kk, group * 64 * 128), w.step(kk), 1);
    }
    wgmma::commit();
    wgmma::wait<0>();
  }
  wgmma::hold(acc);
  cp_async_wait<0>();
  __syncthreads();  // every product is done: stage 0 takes dx

  // Epilogue: lane (g, t) holds rows r = 16·warp + g + 8h, columns 8j + 2t and the next.
  const float inv_k = 1.0f / float(p.in_features);
  T* out = s.out();
  const T* x = static_cast<const T*>(p.x);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = warp * 16 + g + 8 * h, m = m0 + r;
    const bool inside = m < p.rows;
    const float mean = inside ? p.mean[m * p.mean_stride] : 0.0f, rstd = inside ? p.rstd[m * p.rstd_stride] : 0.0f;
    // x's pairs held packed (a register each) between the sums and dx.
    Pair<T> xs[kColTiles];
    float sum_g = 0.0f, sum_gx = 0.0f;
#pragma unroll
    for (int j = 0; j < kColTiles; ++j) {
      const int k = j * 8 + 2 * t;  // K is a multiple of 64: both columns exist
      const T* first = x + m * p.x_stride_m + k * p.x_stride_k;
      xs[j] = inside ? Pair<T>{u32(first[0].bits) | u32(first[p.x_stride_k].bits) << 16} : Pair<T>{0u};
      const float2 gm = *reinterpret_cast<const float2*>(s.gamma() + k);
      float u, v;
      unpack(xs[j], u, v);
      const float g0 = acc[j].c[2 * h] * gm.x, g1 = acc[j].c[2 * h + 1] * gm.y;
      acc[j].c[2 * h] = g0;
      acc[j].c[2 * h + 1] = g1;
      sum_g += g0 + g1;
      sum_gx = fmaf(g0, (u - mean) * rstd, fmaf(g1, (v - mean) * rstd, sum_gx));
    }
    const float mg = quad_sum(sum_g) * inv_k, mgx = quad_sum(sum_gx) * inv_k;
#pragma unroll
    for (int j = 0; j < kColTiles; ++j) {
      float u, v;
      unpack(xs[j], u, v);
      *reinterpret_cast<Pair<T>*>(out + r * L::kLdOut + j * 8 + 2 * t) =
          make_pair<T>(rstd * (acc[j].c[2 * h] - mg - (u - mean) * rstd * mgx),
                       rstd * (acc[j].c[2 * h + 1] - mg - (v - mean) * rstd * mgx));
    }
  }
  warp_sync();
  store_warp_rows<T, C::kK>(out, L::kLdOut, warp * 16, static_cast<T*>(p.d_x) + m0 * p.dx_stride_m, p.dx_stride_m,
                            p.dx_stride_k, p.rows - m0, p.in_features, p.dx_vector_ok);
}

// ---- finalize --------------------------------------------------------------------------
// Block k < K: row k of dW and dγ[k], dβ[k]; block K: db. Each G and db element is the sum
// of its groups' partials in group order; dγ and dβ are block sums over n in a fixed tree.
// 256 threads.
template <class C>
__device__ __forceinline__ void layer_norm_linear_backward_finalize_v2(const MfLinearParams& p) {
  using T = typename C::T;
  constexpr int kThreads = 256;
  __shared__ float warp_sums[2][kThreads / 32];
  const int k = blockIdx.x, n_count = p.out_features, k_count = p.in_features;
  const i64 weights = i64(k_count) * n_count;
  auto bias_sum = [&](int n) {
    float sum = 0.0f;
    for (int group = 0; group < p.groups; ++group) sum += p.bias_partial[i64(group) * n_count + n];
    return sum;
  };
  if (k == k_count) {
    if (p.d_bias != nullptr)
      for (int n = threadIdx.x; n < n_count; n += kThreads)
        static_cast<typename C::BiasT*>(p.d_bias)[n * p.dbias_stride] = from_float<typename C::BiasT>(bias_sum(n));
    return;
  }
  const float gamma = to_float(static_cast<const typename C::GammaT*>(p.gamma)[k * p.gamma_stride]);
  const float beta = C::kHasBeta ? to_float(static_cast<const typename C::BetaT*>(p.beta)[k * p.beta_stride]) : 0.0f;
  float d_gamma = 0.0f, d_beta = 0.0f;
  for (int n = threadIdx.x; n < n_count; n += kThreads) {
    float g = 0.0f;
    for (int group = 0; group < p.groups; ++group) g += p.weight_partial[group * weights + i64(k) * n_count + n];
    const float db = bias_sum(n), w = to_float(static_cast<const T*>(p.weight)[k * p.w_stride_k + n * p.w_stride_n]);
    if (p.d_weight != nullptr)
      static_cast<T*>(p.d_weight)[k * p.dw_stride_k + n * p.dw_stride_n] = from_float<T>(fmaf(gamma, g, beta * db));
    d_gamma = fmaf(w, g, d_gamma);
    d_beta = fmaf(w, db, d_beta);
  }
  d_gamma = warp_sum(d_gamma);
  d_beta = warp_sum(d_beta);
  if (lane_id() == 0) {
    warp_sums[0][threadIdx.x / 32] = d_gamma;
    warp_sums[1][threadIdx.x / 32] = d_beta;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float sum_gamma = 0.0f, sum_beta = 0.0f;
    for (int w = 0; w < kThreads / 32; ++w) {
      sum_gamma += warp_sums[0][w];
      sum_beta += warp_sums[1][w];
    }
    if (p.d_gamma != nullptr)
      static_cast<typename C::GammaT*>(p.d_gamma)[k * p.dgamma_stride] = from_float<typename C::GammaT>(sum_gamma);
    if (p.d_beta != nullptr)
      static_cast<typename C::BetaT*>(p.d_beta)[k * p.dbeta_stride] = from_float<typename C::BetaT>(sum_beta);
  }
}

}  // namespace mf
