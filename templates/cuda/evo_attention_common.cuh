// What the EvoAttention kernels share: element addressing of the strided tensors, where a
// block works, and the pipeline that streams key blocks (K, V, bias and key mask) through
// shared memory for the forward and the queries kernel.
//
// A kernel configuration C provides: T (Q/K/V/O element), BiasT, MaskT (u8 for boolean,
// a float type for additive), kHeadDim (D padded to a multiple of 16), kBlockQ, kBlockK,
// kWarps, kStages, kGroups, kRowsPerBlock, kHasBias, kMaskKind (0 none, 1 boolean,
// 2 additive).
//
// Logits are carried in "x units": x = Q·Kᵀ + (bias + maskterm)·f, where f is a factor the
// kernel chooses (1/c, or 1/|c| in the forward), so that the bias can start the product's
// accumulator and L = x/f is one multiply away, folded into the exponential's FMA.
#pragma once

namespace mf {


// The first element of the [N, D] slice of a sequence tensor at (b, s, h).
template <class T>
__device__ __forceinline__ T* seq_slice(const MfSeqTensor& x, int b, int s, int h) {
  return static_cast<T*>(x.data) + b * x.stride_b + s * x.stride_s + h * x.stride_h;
}

template <class T>
__device__ __forceinline__ T* pair_slice(const MfPairTensor& x, int b, int s, int h) {
  return static_cast<T*>(x.data) + b * x.stride_b + s * x.stride_s + h * x.stride_h;
}

// Two neighbouring floats of a shared-memory row.
__device__ __forceinline__ void read_two(const float* p, float& a, float& b) {
  const float2 v = *reinterpret_cast<const float2*>(p);
  a = v.x;
  b = v.y;
}


// The mask term of key k: 0 for kept keys, −inf for dropped ones and for keys past the end
// of the sequence, the additive value otherwise.
template <class C>
__device__ __forceinline__ float mask_term(const MfEvoParams& p, int b, int s, int k) {
  if (k >= p.seq_len) return neg_inf();
  if constexpr (C::kMaskKind == 0) {
    return 0.0f;
  } else {
    const i64 offset = b * p.mask_stride_b + s * p.mask_stride_s + k * p.mask_stride_k;
    const typename C::MaskT m = static_cast<const typename C::MaskT*>(p.mask)[offset];
    if constexpr (C::kMaskKind == 1) return m != 0 ? 0.0f : neg_inf();
    else return to_float(m);
  }
}

// ---- Where a block of the forward or queries kernel works --------------------------------
// One query block of kRowsPerBlock consecutive rows s of one (b, h); `rows` of them exist
// (fewer in the last group when S is not a multiple).
struct RowBlock {
  int b, s0, rows, h, q0;
};

template <class C>
__device__ __forceinline__ RowBlock row_block(const MfEvoParams& p) {
  constexpr int kRows = C::kRowsPerBlock;
  const int query_tiles = (p.seq_len + C::kBlockQ - 1) / C::kBlockQ;
  const int row_groups = (p.rows + kRows - 1) / kRows;
  int index = blockIdx.x;  // rows s vary fastest: neighbouring blocks read the same bias tiles
  RowBlock rb;
  rb.s0 = index % row_groups * kRows;
  index /= row_groups;
  rb.q0 = index % query_tiles * C::kBlockQ;
  index /= query_tiles;
  rb.h = index % p.heads;
  rb.b = index / p.heads;
  rb.rows = min(kRows, p.rows - rb.s0);
  return rb;
}

// ---- One key block in shared memory ----------------------------------------------------
// K and V of each of the block's rows s, the bias tile they share (the bias is the same for
// every s of a block: the generator allows kRowsPerBlock > 1 only then) and the mask terms
// of each row in x units. V rows are padded with a column of ones at kHeadDim, so that the
// product P·V also yields the row sums of P.
template <class C>
struct KeyStage {
  using T = typename C::T;
  using BiasT = typename C::BiasT;
  static constexpr int kRows = C::kRowsPerBlock;
  static constexpr int kLdSeq = C::kHeadDim + 8;  // padding puts ldmatrix rows in distinct banks
  static constexpr int kLdBias = C::kBlockK + 8;
  static constexpr int kSeqBytes = C::kBlockK * kLdSeq * int(sizeof(T));
  static constexpr int kBiasBytes = C::kHasBias ? C::kBlockQ * kLdBias * int(sizeof(BiasT)) : 0;
  static constexpr int kMaskBytes = C::kBlockK * int(sizeof(float));
  static constexpr int kBytes = kRows * (2 * kSeqBytes + kMaskBytes) + kBiasBytes;
  static_assert(kSeqBytes % 16 == 0 && kBiasBytes % 16 == 0 && kMaskBytes % 16 == 0, "16-byte aligned tiles");

  unsigned char* base;

  __device__ __forceinline__ explicit KeyStage(unsigned char* stage) : base(stage) {}
  __device__ __forceinline__ T* k(int r) const { return reinterpret_cast<T*>(base + r * kSeqBytes); }
  __device__ __forceinline__ T* v(int r) const { return reinterpret_cast<T*>(base + (kRows + r) * kSeqBytes); }
  __device__ __forceinline__ BiasT* bias() const { return reinterpret_cast<BiasT*>(base + 2 * kRows * kSeqBytes); }
  __device__ __forceinline__ float* mask(int r) const {
    return reinterpret_cast<float*>(base + 2 * kRows * kSeqBytes + kBiasBytes + r * kMaskBytes);
  }

  // The padding columns of V: 1 at kHeadDim, 0 after it. No copy writes them, so once per
  // kernel is enough; the kThreads threads of the block take part.
  template <int kThreads>
  __device__ __forceinline__ void pad_values() const {
    constexpr int kPad = kLdSeq - C::kHeadDim;
    for (int i = threadIdx.x; i < kRows * C::kBlockK * kPad; i += kThreads) {
      const int row = i / kPad, col = i % kPad;
      v(0)[row * kLdSeq + C::kHeadDim + col] = col == 0 ? one_value<T>() : zero_value<T>();
    }
  }
};

// The mask terms of one key block travel through registers: fetched when the block's tiles
// are requested, written to the stage one compute step later, so that no warp waits on
// them at a barrier.
template <class C>
struct MaskFetch {
  static constexpr int kThreads = 32 * C::kWarps;
  static constexpr int kTerms = C::kRowsPerBlock * C::kBlockK;
  static constexpr int kPerThread = (kTerms + kThreads - 1) / kThreads;
  typename C::MaskT raw[kPerThread];
  unsigned valid = 0;  // bit i: term threadIdx.x + i·kThreads belongs to a row and key that exist

  __device__ __forceinline__ void fetch(const MfEvoParams& p, const RowBlock& rb, int k0) {
    valid = 0;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int term = threadIdx.x + i * kThreads, r = term / C::kBlockK, k = term % C::kBlockK;
      if (term >= kTerms || r >= rb.rows || k0 + k >= p.seq_len) continue;
      valid |= 1u << i;
      if constexpr (C::kMaskKind != 0)
        raw[i] = static_cast<const typename C::MaskT*>(
            p.mask)[rb.b * p.mask_stride_b + (rb.s0 + r) * p.mask_stride_s + (k0 + k) * p.mask_stride_k];
    }
  }
  // Writes the terms in x units (times `factor`) and tells whether any of
  // this thread's is not 0, so that blocks whose keys are all kept skip the mask.
  template <class Stage>
  __device__ __forceinline__ bool store(const Stage& st, float factor) const {
    bool any = false;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int term = threadIdx.x + i * kThreads;
      if (term >= kTerms) continue;
      float value = neg_inf();  // the term itself; −inf·factor is +inf for a negative factor
      if ((valid >> i) & 1u) {
        if constexpr (C::kMaskKind == 0) value = 0.0f;
        else if constexpr (C::kMaskKind == 1) value = raw[i] != 0 ? 0.0f : neg_inf();
        else value = to_float(raw[i]);
      }
      value *= factor;
      st.mask(term / C::kBlockK)[term % C::kBlockK] = value;
      any |= value != 0.0f;
    }
    return any;
  }
};

// Where a block's key blocks come from: the K and V slices of each of its rows s (the last
// row repeated past the end of S) and its bias slice at row q0.
template <class C>
struct KeySlices {
  const typename C::T* k[C::kRowsPerBlock];
  const typename C::T* v[C::kRowsPerBlock];
  const typename C::BiasT* bias = nullptr;  // row q0, key 0 of the block's bias slice

  __device__ __forceinline__ KeySlices(const MfEvoParams& p, const RowBlock& rb) {
#pragma unroll
    for (int r = 0; r < C::kRowsPerBlock; ++r) {
      const int s = min(rb.s0 + r, p.rows - 1);
      k[r] = seq_slice<const typename C::T>(p.k, rb.b, s, rb.h);
      v[r] = seq_slice<const typename C::T>(p.v, rb.b, s, rb.h);
    }
    if constexpr (C::kHasBias)
      bias = pair_slice<const typename C::BiasT>(p.bias, rb.b, rb.s0, rb.h) + rb.q0 * p.bias.stride_q;
  }
};

// Starts the copy of the bias tile [kBlockQ x kBlockK] of key block k0 into a padded tile of
// kBlockK + 8 columns (ldmatrix rows in distinct banks); `bias` is the block's row q0, key 0.
template <class C, class Pieces>
__device__ __forceinline__ void copy_bias_tile(typename C::BiasT* dst, const Pieces& pieces,
                                               const typename C::BiasT* bias, const MfEvoParams& p,
                                               const RowBlock& rb, int k0) {
  using BiasT = typename C::BiasT;
  constexpr int kThreads = 32 * C::kWarps, kLd = C::kBlockK + 8;
  const int valid_q = p.seq_len - rb.q0, valid_k = p.seq_len - k0;
  const BiasT* src = bias + k0 * p.bias.stride_k;
  if (!p.bias.vector_ok)
    copy_tile<BiasT, C::kBlockQ, C::kBlockK, kThreads>(dst, kLd, src, p.bias.stride_q, p.bias.stride_k, valid_q,
                                                       valid_k, false, threadIdx.x);
  else if (valid_q >= C::kBlockQ && valid_k >= C::kBlockK)
    pieces.copy(dst, kLd, src, p.bias.stride_q);
  else
    copy_tile_edge<BiasT, C::kBlockQ, C::kBlockK, kThreads>(dst, kLd, src, p.bias.stride_q, valid_q, valid_k,
                                                            threadIdx.x);
}

// Streams key blocks into stages: each thread's share of the copies is fixed when the
// block starts, so that a key block costs an address add and a cp.async per 16 bytes.
// Tensors the host could not vectorise (an inner stride other than 1, or misalignment)
// are copied element by element.
template <class C>
struct KeyLoader {
  using T = typename C::T;
  using BiasT = typename C::BiasT;
  using Stage = KeyStage<C>;
  static constexpr int kThreads = 32 * C::kWarps, kRows = C::kRowsPerBlock;
  using SeqPieces = TilePieces<T, C::kBlockK, C::kHeadDim, kThreads>;
  using BiasPieces = TilePieces<BiasT, C::kBlockQ, C::kBlockK, kThreads>;

  SeqPieces seq;
  BiasPieces bias_pieces;
  KeySlices<C> slices;

  __device__ __forceinline__ KeyLoader(const MfEvoParams& p, const RowBlock& rb)
      : seq(threadIdx.x), bias_pieces(threadIdx.x), slices(p, rb) {}

  __device__ __forceinline__ void copy_seq(T* dst, const T* slice, const MfSeqTensor& x, const MfEvoParams& p,
                                           int k0) const {
    const int valid = p.seq_len - k0;
    if (!x.vector_ok) {
      copy_tile<T, C::kBlockK, C::kHeadDim, kThreads>(dst, Stage::kLdSeq, slice + k0 * x.stride_n, x.stride_n,
                                                      x.stride_d, valid, p.head_dim, false, threadIdx.x);
    } else if (valid >= C::kBlockK && p.head_dim == C::kHeadDim) {
      seq.copy(dst, Stage::kLdSeq, slice + k0 * x.stride_n, x.stride_n);
    } else {
      copy_tile_edge<T, C::kBlockK, C::kHeadDim, kThreads>(dst, Stage::kLdSeq, slice + k0 * x.stride_n, x.stride_n,
                                                           valid, p.head_dim, threadIdx.x);
    }
  }

  // Starts the copies of key block k0 into a stage.
  __device__ __forceinline__ void load(const Stage& st, const MfEvoParams& p, const RowBlock& rb, int k0) const {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r >= rb.rows) break;
      copy_seq(st.k(r), slices.k[r], p.k, p, k0);
      copy_seq(st.v(r), slices.v[r], p.v, p, k0);
    }
    if constexpr (C::kHasBias) copy_bias_tile<C>(st.bias(), bias_pieces, slices.bias, p, rb, k0);
  }
};

// The two C fragments (columns 0..7 and 8..15) of a 16 x 16 tile loaded in the A layout,
// as floats times `factor`: A's pairs 0..3 are (row g, cols 2t..), (g+8, 2t..),
// (g, 8+2t..), (g+8, 8+2t..).
template <class T>
__device__ __forceinline__ void scaled_c_from_a(FragC& lo, FragC& hi, const FragA<T>& pairs, float factor) {
  unpack(pairs.p[0], lo.c[0], lo.c[1]);
  unpack(pairs.p[1], lo.c[2], lo.c[3]);
  unpack(pairs.p[2], hi.c[0], hi.c[1]);
  unpack(pairs.p[3], hi.c[2], hi.c[3]);
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    lo.c[e] *= factor;
    hi.c[e] *= factor;
  }
}

// The bias of a warp's 16 query rows in one key block, in the accumulator layout of the
// logits and multiplied by `factor` (x units): ldmatrix hands each lane exactly the pairs
// its logits need. Zero without a bias.
template <class C, class Stage>
__device__ __forceinline__ void load_bias_fragments(FragC (&bias)[C::kBlockK / 8], const Stage& st, int row0,
                                                    float factor) {
  static_assert(Stage::kLdBias == C::kBlockK + 8, "bias tiles as copy_bias_tile writes them");
#pragma unroll
  for (int j = 0; j < C::kBlockK / 16; ++j) {
    if constexpr (C::kHasBias) {
      FragA<typename C::BiasT> pairs;
      load_a(pairs, st.bias(), Stage::kLdBias, row0, j * 16);
      scaled_c_from_a(bias[2 * j], bias[2 * j + 1], pairs, factor);
    } else {
      bias[2 * j] = bias[2 * j + 1] = FragC{};
    }
  }
}

// load_bias_fragments plus one row's mask terms (kBlockK floats in x units), fused: each
// logit starts as bias·factor + term, one FFMA where the separate add cost a second pass.
template <class C, class Stage>
__device__ __forceinline__ void load_masked_bias_fragments(FragC (&x)[C::kBlockK / 8], const Stage& st, int row0,
                                                           float factor, const float* mask) {
  const int t = lane_id() % 4;
#pragma unroll
  for (int j = 0; j < C::kBlockK / 16; ++j) {
    float term[2][2];
#pragma unroll
    for (int i = 0; i < 2; ++i) read_two(mask + (2 * j + i) * 8 + 2 * t, term[i][0], term[i][1]);
    if constexpr (C::kHasBias) {
      FragA<typename C::BiasT> pairs;
      load_a(pairs, st.bias(), Stage::kLdBias, row0, j * 16);
      scaled_c_from_a(x[2 * j], x[2 * j + 1], pairs, 1.0f);
    } else {
      x[2 * j] = x[2 * j + 1] = FragC{};
    }
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) x[2 * j + i].c[e] = fmaf(x[2 * j + i].c[e], factor, term[i][e & 1]);
  }
}

// init + A·Bᵀ for a warp's 16 rows of A (rows row0.. of a_tile) against the kBlockK rows
// of b_tile, over the head dimension: the accumulator starts from `init` without a copy.
template <class C>
__device__ __forceinline__ void product_abt(FragC (&acc)[C::kBlockK / 8], const FragC (&init)[C::kBlockK / 8],
                                            const typename C::T* a_tile, const typename C::T* b_tile, int row0) {
  using T = typename C::T;
  constexpr int kLd = KeyStage<C>::kLdSeq;
#pragma unroll
  for (int kk = 0; kk < C::kHeadDim / 16; ++kk) {
    FragA<T> a_frag;
    load_a(a_frag, a_tile, kLd, row0, kk * 16);
#pragma unroll
    for (int j = 0; j < C::kBlockK / 8; j += 2) {
      FragB<T> b0, b1;
      load_b2(b0, b1, b_tile, kLd, j * 8, kk * 16);
      if (kk == 0) {
        mma(acc[j], a_frag, b0, init[j]);
        mma(acc[j + 1], a_frag, b1, init[j + 1]);
      } else {
        mma(acc[j], a_frag, b0);
        mma(acc[j + 1], a_frag, b1);
      }
    }
  }
}

// Adds a key block's mask terms (x units, one per key) to a warp's logits.
template <int kKeyTiles>
__device__ __forceinline__ void add_mask_terms(FragC (&x)[kKeyTiles], const float* mask) {
  const int t = lane_id() % 4;
#pragma unroll
  for (int j = 0; j < kKeyTiles; ++j) {
    float m0, m1;
    read_two(mask + j * 8 + 2 * t, m0, m1);
    x[j].c[0] += m0;
    x[j].c[1] += m1;
    x[j].c[2] += m0;
    x[j].c[3] += m1;
  }
}

// Logits of a warp's 16 query rows against a key block in x units: Q·Kᵀ started from the
// bias fragments, plus the mask terms where the block has any.
template <class C>
__device__ __forceinline__ void key_block_logits(FragC (&x)[C::kBlockK / 8], const FragC (&bias)[C::kBlockK / 8],
                                                 const typename C::T* q_tile, const typename C::T* k_tile,
                                                 const float* mask, int row0, bool masked) {
  product_abt<C>(x, bias, q_tile, k_tile, row0);
  if (masked) add_mask_terms(x, mask);
}

// Where a warp stages its 16 output rows on their way to global memory: rows of kLd
// elements (version 3's padded tiles).
template <class T, int kLd>
struct PaddedStaging {
  T* rows;
  __device__ __forceinline__ T* at(int r, int c) const { return rows + r * kLd + c; }
};

// Writes a warp's 16 rows of a sequence tensor from the first kHeadDim/8 accumulator tiles,
// row g + 8·half times row_scale[half]. The rows go through `staging` (the warp's own
// 16 rows, no longer read), so that global stores are 16 bytes wide where the layout allows.
template <class C, int kTiles, class Staging>
__device__ __forceinline__ void store_rows(const MfSeqTensor& x, const MfEvoParams& p, const FragC (&acc)[kTiles],
                                           const float (&row_scale)[2], const Staging& staging, int b, int s, int h,
                                           int q_first) {
  using T = typename C::T;
  constexpr int kD = C::kHeadDim;
  static_assert(kTiles >= kD / 8, "the accumulator covers the head dimension");
  const int g = lane_id() / 4, t = lane_id() % 4, n = p.seq_len;
#pragma unroll
  for (int half = 0; half < 2; ++half)
#pragma unroll
    for (int j = 0; j < kD / 8; ++j)
      *reinterpret_cast<Pair<T>*>(staging.at(g + half * 8, j * 8 + 2 * t)) =
          make_pair<T>(acc[j].c[2 * half] * row_scale[half], acc[j].c[2 * half + 1] * row_scale[half]);
  warp_sync();
  T* out = seq_slice<T>(x, b, s, h);
  if (x.vector_ok && p.head_dim == kD) {
    constexpr int kPerPiece = 16 / int(sizeof(T)), kPiecesPerRow = kD / kPerPiece;
#pragma unroll
    for (int i = lane_id(); i < 16 * kPiecesPerRow; i += 32) {
      const int r = i / kPiecesPerRow, c = i % kPiecesPerRow * kPerPiece;
      if (q_first + r < n)
        *reinterpret_cast<uint4*>(out + (q_first + r) * x.stride_n + c) = *reinterpret_cast<const uint4*>(staging.at(r, c));
    }
  } else {
    for (int i = lane_id(); i < 16 * kD; i += 32) {
      const int r = i / kD, d = i % kD;
      if (q_first + r < n && d < p.head_dim) out[(q_first + r) * x.stride_n + d * x.stride_d] = *staging.at(r, d);
    }
  }
}

}  // namespace mf
