// EvoAttention forward, version 4 (sm_90a): version 3's blocks (kRowsPerBlock rows s of one
// (b, h) sharing each bias tile, kStages-deep key-block ring, lazily raised softmax base)
// with both products on warpgroup wgmma instead of warp mma.sync:
//   x = bias/|c| + Q·Kᵀ   one m64n(kBlockK)k16 product per 16 of D, A = Q and B = K from
//                         swizzled shared tiles, the accumulators starting from the bias
//   O += P·V              one m64n(kHeadDim)k16 product per 16 keys, A = P from registers,
//                         B = V read MN-major from its swizzled tile
// The products issue a handful of instructions per warpgroup where mma.sync needed an
// ldmatrix and an mma per 8 columns, which is most of version 3's ~21 instructions a score.
// Row sums are kept beside the output (P is summed in fp32 as it is formed).
//
// kWarps is 4 or 8 (one or two warpgroups of 64 query rows); T is bf16 or f16; the
// padded head dim is at most 64 and tiles use the swizzle mode of its row width.
#pragma once

namespace mf {

// The shared-memory layout of one block, defined once: the generator's host-side size is
// static_assert'ed against kBytes in the instantiated source.
template <class C>
struct ForwardV4Layout {
  using T = typename C::T;
  using BiasT = typename C::BiasT;
  static constexpr int kRows = C::kRowsPerBlock;
  // Rows of Q, K and V tiles: the head dim padded to a swizzle width (16, 32 or 64 elements).
  static constexpr int kLayoutDim = C::kHeadDim <= 16 ? 16 : C::kHeadDim <= 32 ? 32 : 64;
  static constexpr int kRowBytes = kLayoutDim * int(sizeof(T));
  using Rows = wgmma::SwizzledRows<kRowBytes>;
  static constexpr int kAlign = 1024;  // the swizzle pattern starts on 1024-byte boundaries
  static constexpr int kQBytes = C::kBlockQ * kRowBytes;
  static constexpr int kSeqBytes = C::kBlockK * kRowBytes;
  static constexpr int kLdBias = C::kBlockK + 8;
  static constexpr int kBiasBytes = C::kHasBias ? C::kBlockQ * kLdBias * int(sizeof(BiasT)) : 0;
  static constexpr int kMaskBytes = C::kBlockK * int(sizeof(float));
  static constexpr int kStageBytes =
      (kRows * (2 * kSeqBytes + kMaskBytes) + kBiasBytes + kAlign - 1) / kAlign * kAlign;
  // The dynamic allocation may start anywhere 16-byte aligned: kAlign bytes of slack.
  static constexpr int kBytes = kAlign + kRows * kQBytes + C::kStages * kStageBytes;
  static_assert(kQBytes % kAlign == 0 && kSeqBytes % kAlign == 0, "tiles keep the swizzle's alignment");
  static_assert((kRows * 2 * kSeqBytes + kBiasBytes) % 16 == 0, "16-byte aligned mask terms");
};

// One key block of version 4: K and V of each row s (swizzled), the shared bias tile
// (padded, read by ldmatrix as in version 3) and the mask terms of each row.
template <class C>
struct KeyStageV4 {
  using L = ForwardV4Layout<C>;
  static constexpr int kLdBias = L::kLdBias;
  unsigned char* base;

  __device__ __forceinline__ explicit KeyStageV4(unsigned char* stage) : base(stage) {}
  __device__ __forceinline__ unsigned char* k(int r) const { return base + r * L::kSeqBytes; }
  __device__ __forceinline__ unsigned char* v(int r) const { return base + (L::kRows + r) * L::kSeqBytes; }
  __device__ __forceinline__ typename C::BiasT* bias() const {
    return reinterpret_cast<typename C::BiasT*>(base + 2 * L::kRows * L::kSeqBytes);
  }
  __device__ __forceinline__ float* mask(int r) const {
    return reinterpret_cast<float*>(base + 2 * L::kRows * L::kSeqBytes + L::kBiasBytes + r * L::kMaskBytes);
  }
};

// The 16-byte pieces of a swizzled tile of kTileRows rows that one of kThreads threads
// copies. The threads cover whole rows kRowStep apart, a multiple of the swizzle's 8-row
// period, so a thread's pieces share one chunk position and lie a fixed stride apart.
template <class T, int kTileRows, int kRowBytes, int kThreads>
struct SwizzledPieces {
  using Rows = wgmma::SwizzledRows<kRowBytes>;
  static constexpr int kPerPiece = 16 / int(sizeof(T));
  static constexpr int kRowStep = kThreads / Rows::kChunks;
  static constexpr int kCount = (kTileRows + kRowStep - 1) / kRowStep;
  static_assert(kThreads % Rows::kChunks == 0 && kRowStep % 8 == 0, "pieces keep their swizzled chunk");
  int row0, col0, dst0;

  __device__ __forceinline__ explicit SwizzledPieces(int thread)
      : row0(thread / Rows::kChunks), col0(thread % Rows::kChunks * kPerPiece),
        dst0(Rows::offset(thread / Rows::kChunks, thread % Rows::kChunks)) {}

  // Rows [0, valid_rows) and columns [0, valid_cols) of src (unit column stride, 16-byte
  // aligned rows); zeros elsewhere.
  __device__ __forceinline__ void copy(unsigned char* tile, const T* src, i64 row_stride, int valid_rows,
                                       int valid_cols) const {
    const int in_row = valid_cols - col0;
    const int bytes = in_row <= 0 ? 0 : in_row >= kPerPiece ? 16 : in_row * int(sizeof(T));
    const T* from = src + row0 * row_stride + col0;
#pragma unroll
    for (int i = 0; i < kCount; ++i) {
      const int r = row0 + i * kRowStep;
      if (kTileRows % kRowStep != 0 && r >= kTileRows) break;
      const int piece_bytes = r < valid_rows ? bytes : 0;
      cp_async_16(tile + dst0 + i * kRowStep * kRowBytes, piece_bytes > 0 ? from + i * kRowStep * row_stride : src,
                  piece_bytes);
    }
  }
};

// The same tile element by element, for tensors whose head dim is strided or misaligned.
template <class T, int kTileRows, int kRowBytes, int kThreads>
__device__ __noinline__ void copy_swizzled_elements(unsigned char* tile, const T* src, i64 row_stride, i64 col_stride,
                                                    int valid_rows, int valid_cols) {
  using Rows = wgmma::SwizzledRows<kRowBytes>;
  constexpr int kCols = kRowBytes / int(sizeof(T)), kPerPiece = 16 / int(sizeof(T));
  for (int i = threadIdx.x; i < kTileRows * kCols; i += kThreads) {
    const int r = i / kCols, c = i % kCols;
    const T value = r < valid_rows && c < valid_cols ? src[r * row_stride + c * col_stride] : zero_value<T>();
    *reinterpret_cast<T*>(tile + Rows::offset(r, c / kPerPiece) + c % kPerPiece * int(sizeof(T))) = value;
  }
}

// Copies rows k0 .. k0 + kTileRows of a sequence slice into a swizzled tile.
template <class C, int kTileRows>
__device__ __forceinline__ void copy_sequence_tile(unsigned char* tile,
                                                   const SwizzledPieces<typename C::T, kTileRows,
                                                                        ForwardV4Layout<C>::kRowBytes,
                                                                        32 * C::kWarps>& pieces,
                                                   const typename C::T* slice, const MfSeqTensor& x,
                                                   const MfEvoParams& p, int k0) {
  const int valid = p.seq_len - k0;
  if (x.vector_ok)
    pieces.copy(tile, slice + k0 * x.stride_n, x.stride_n, valid, p.head_dim);
  else
    copy_swizzled_elements<typename C::T, kTileRows, ForwardV4Layout<C>::kRowBytes, 32 * C::kWarps>(
        tile, slice + k0 * x.stride_n, x.stride_n, x.stride_d, valid, p.head_dim);
}

// Streams key blocks into version 4's stages.
template <class C>
struct KeyLoaderV4 {
  using T = typename C::T;
  using BiasT = typename C::BiasT;
  using L = ForwardV4Layout<C>;
  static constexpr int kThreads = 32 * C::kWarps, kRows = C::kRowsPerBlock;

  SwizzledPieces<T, C::kBlockK, L::kRowBytes, kThreads> seq;
  TilePieces<BiasT, C::kBlockQ, C::kBlockK, kThreads> bias_pieces;
  KeySlices<C> slices;

  __device__ __forceinline__ KeyLoaderV4(const MfEvoParams& p, const RowBlock& rb)
      : seq(threadIdx.x), bias_pieces(threadIdx.x), slices(p, rb) {}

  __device__ __forceinline__ void load(const KeyStageV4<C>& st, const MfEvoParams& p, const RowBlock& rb,
                                       int k0) const {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r >= rb.rows) break;
      copy_sequence_tile<C>(st.k(r), seq, slices.k[r], p.k, p, k0);
      copy_sequence_tile<C>(st.v(r), seq, slices.v[r], p.v, p, k0);
    }
    if constexpr (C::kHasBias) copy_bias_tile<C>(st.bias(), bias_pieces, slices.bias, p, rb, k0);
  }
};

// A warp's 16 staging rows inside a swizzled tile (from row `first` on).
template <class T, int kRowBytes>
struct SwizzledStaging {
  unsigned char* tile;
  int first;
  __device__ __forceinline__ T* at(int r, int c) const {
    constexpr int kPerPiece = 16 / int(sizeof(T));
    return reinterpret_cast<T*>(tile + wgmma::SwizzledRows<kRowBytes>::offset(first + r, c / kPerPiece) +
                                c % kPerPiece * int(sizeof(T)));
  }
};

// Per-thread partial row sums of P (rows g and g+8), carried beside the output.
struct RowSums {
  float sum[2];
};

template <class C>
__device__ __forceinline__ void evo_attention_forward_v4(const MfEvoParams& p) {
  using T = typename C::T;
  using L = ForwardV4Layout<C>;
  using Stage = KeyStageV4<C>;
  constexpr int kRows = C::kRowsPerBlock, kD = C::kHeadDim, kBQ = C::kBlockQ, kBK = C::kBlockK;
  constexpr int kThreads = 32 * C::kWarps, kKeyTiles = kBK / 8, kOutTiles = L::kLayoutDim / 8;
  static_assert(C::kWarps == 4 || C::kWarps == 8, "one or two warpgroups");
  static_assert(C::kStages >= 2, "a stage in use and one being filled");
  static_assert(kBQ == 16 * C::kWarps, "each warpgroup owns 64 query rows");
  static_assert(kD % 16 == 0 && kBK % 16 == 0 && kD <= 64, "tiles are multiples of the 16-wide product");

  extern __shared__ __align__(16) unsigned char smem_raw[];
  // Aligned by an offset from smem_raw, so that the compiler still knows every tile is
  // shared memory (32-bit addresses; a pointer rounded as an integer is a generic one).
  unsigned char* smem = smem_raw + (L::kAlign - shared_address(smem_raw) % L::kAlign) % L::kAlign;
  unsigned char* q_tiles = smem;  // [kRows] swizzled [kBQ][kLayoutDim]
  unsigned char* stages = smem + kRows * L::kQBytes;

  const RowBlock rb = row_block<C>(p);
  const int n = p.seq_len, key_blocks = (n + kBK - 1) / kBK;
  const int warp = threadIdx.x / 32, row0 = warp * 16, group_row0 = warp / 4 * 64;
  const float factor = 1.0f / fabsf(p.scale), exp_scale = fabsf(p.scale_log2);
  const float raise = kRaiseLog2 / exp_scale;  // in x units
  const KeyLoaderV4<C> loader(p, rb);

  {
    const SwizzledPieces<T, kBQ, L::kRowBytes, kThreads> q_pieces(threadIdx.x);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r >= rb.rows) break;
      copy_sequence_tile<C, kBQ>(q_tiles + r * L::kQBytes, q_pieces, seq_slice<const T>(p.q, rb.b, rb.s0 + r, rb.h),
                                 p.q, p, rb.q0);
    }
  }
  unsigned masked_stages = 0;  // bit i: this thread wrote a mask term other than 0 into stage i
#pragma unroll
  for (int i = 0; i + 1 < C::kStages; ++i) {
    if (i < key_blocks) {
      const Stage st(stages + i * L::kStageBytes);
      loader.load(st, p, rb, i * kBK);
      MaskFetch<C> mask;
      mask.fetch(p, rb, i * kBK);
      if (mask.store(st, factor)) masked_stages |= 1u << i;
    }
    cp_async_commit();
  }

  // Each warpgroup's 64 rows of the Q tiles (the tile of row r lies r·kQBytes further on).
  const wgmma::KMajor<T, L::kRowBytes> queries(q_tiles + group_row0 * L::kRowBytes);
  FragC out[kRows][kOutTiles];
  RowSums sums[kRows];
  RowBase row[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int j = 0; j < kOutTiles; ++j) out[r][j] = FragC{};
    sums[r] = RowSums{{0.0f, 0.0f}};
    row[r] = RowBase{{neg_inf(), neg_inf()}, {0.0f, 0.0f}};
  }

  for (int kb = 0; kb < key_blocks; ++kb) {
    const int ahead = kb + C::kStages - 1, slot = kb % C::kStages;
    cp_async_wait<C::kStages - 2>();  // this thread's copies of block kb have landed
    if (kb == 0 && p.scale < 0.0f) {
      // L = |c|·x needs Q negated when c < 0: once every copy of the Q tiles has landed.
      __syncthreads();
      for (int i = threadIdx.x; i < kRows * kBQ * L::kLayoutDim; i += kThreads) {
        T* q = reinterpret_cast<T*>(q_tiles) + i;
        *q = negated(*q);
      }
    }
    wgmma::fence_shared_for_products();
    // One barrier a block: block kb's tiles are visible to every warp, and every warp is done
    // with block kb − 1, whose stage is refilled next. Blocks whose keys are all kept (and in
    // range) skip the mask terms.
    const bool masked = __syncthreads_or((masked_stages >> slot) & 1u) != 0;
    masked_stages &= ~(1u << slot);
    const Stage next(stages + (ahead % C::kStages) * L::kStageBytes);
    MaskFetch<C> next_mask;
    if (ahead < key_blocks) {
      loader.load(next, p, rb, ahead * kBK);
      next_mask.fetch(p, rb, ahead * kBK);
    }
    cp_async_commit();
    const Stage st(stages + slot * L::kStageBytes);
    // The stage's descriptors, stepped to each row and k step by constant offsets.
    const wgmma::KMajor<T, L::kRowBytes> keys(st.k(0));
    const wgmma::MnMajor<T, L::kRowBytes> values(st.v(0));

#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r >= rb.rows) break;
      FragC x[kKeyTiles];
      if (masked)
        load_masked_bias_fragments<C>(x, st, row0, factor, st.mask(r));
      else
        load_bias_fragments<C>(x, st, row0, factor);
      wgmma::fence();
#pragma unroll
      for (int kk = 0; kk < kD / 16; ++kk)
        wgmma::mma_ss<T, kBK>(x, queries.step(kk, r * L::kQBytes), keys.step(kk, r * L::kSeqBytes), 1);
      wgmma::commit();
      wgmma::wait<0>();
      wgmma::hold(x);

      float rescale[2];
      if (raise_bases(x, row[r], exp_scale, raise, rescale)) {
        rescale_rows(out[r], rescale);
#pragma unroll
        for (int half = 0; half < 2; ++half) sums[r].sum[half] *= rescale[half];
      }
      exponentiate(x, row[r], exp_scale);
#pragma unroll
      for (int half = 0; half < 2; ++half)
        sums[r].sum[half] += tree_reduce<kKeyTiles>(x, half, [](float a, float b) { return a + b; });

      FragA<T> prob[kBK / 16];
#pragma unroll
      for (int kk = 0; kk < kBK / 16; ++kk) prob[kk] = a_from_c<T>(x[2 * kk], x[2 * kk + 1]);
      wgmma::fence();
#pragma unroll
      for (int kk = 0; kk < kBK / 16; ++kk)
        wgmma::mma_rs<T, L::kLayoutDim>(out[r], prob[kk], values.step(kk, r * L::kSeqBytes), 1);
      wgmma::commit();
      wgmma::wait<0>();
      wgmma::hold(out[r]);
    }
    if (ahead < key_blocks && next_mask.store(next, factor)) masked_stages |= 1u << (ahead % C::kStages);
  }
  cp_async_wait<0>();
  __syncthreads();  // every warpgroup's products have read the Q tiles: they become staging

#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    if (r >= rb.rows) break;
    float sum[2], inv[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) sum[half] = quad_sum(sums[r].sum[half]);
    finish_rows(p, sum, row[r], inv, rb.b, rb.s0 + r, rb.h, rb.q0 + row0);
    store_rows<C>(p.o, p, out[r], inv, SwizzledStaging<T, L::kRowBytes>{q_tiles + r * L::kQBytes, row0}, rb.b,
                  rb.s0 + r, rb.h, rb.q0 + row0);
  }
}

}  // namespace mf
