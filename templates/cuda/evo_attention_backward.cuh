// EvoAttention backward (DESIGN.md §1.1), in up to four launches:
//   1. row_delta:  Δ[q] = ⟨dO[q], O[q]⟩ for every row.
//   2. keys:       one block per (b, h, key block, group of s rows). For each s it streams
//                  the query blocks and computes P, dP, dS; dK and dV finish in registers;
//                  dS summed over the group's rows accumulates in a dBias strip (shared
//                  memory; an entry point of its own adds into global memory where the
//                  strip does not fit), so the reduction over S never leaves the chip per
//                  row. Fast mode also adds dS·K into a float dQ accumulator with atomics.
//   3. queries:    deterministic mode only: one block per query block of the rows s that
//                  share the bias recomputes P and dS and computes dQ without atomics.
//   4. finalize:   dBias = Σ over groups (and over B or H where the bias broadcasts), in a
//                  fixed order; fast mode converts the dQ accumulator.
#pragma once

namespace mf {

// ---- 1. Δ ----------------------------------------------------------------------------
// Eight lanes per row, each summing every eighth element.
template <class C>
__device__ __forceinline__ void evo_attention_row_delta(const MfEvoParams& p) {
  using T = typename C::T;
  const i64 rows = i64(p.batch) * p.rows * p.heads * p.seq_len;
  const i64 row = (i64(blockIdx.x) * blockDim.x + threadIdx.x) / 8;
  const int part = threadIdx.x % 8;
  float sum = 0.0f;
  if (row < rows) {
    i64 index = row;
    const int q = int(index % p.seq_len);
    index /= p.seq_len;
    const int h = int(index % p.heads);
    index /= p.heads;
    const int s = int(index % p.rows), b = int(index / p.rows);
    const T* o = seq_slice<const T>(p.o, b, s, h) + q * p.o.stride_n;
    const T* d_o = seq_slice<const T>(p.d_o, b, s, h) + q * p.d_o.stride_n;
    for (int d = part; d < p.head_dim; d += 8) sum += to_float(o[d * p.o.stride_d]) * to_float(d_o[d * p.d_o.stride_d]);
  }
  sum += shuffle_xor(sum, 1);
  sum += shuffle_xor(sum, 2);
  sum += shuffle_xor(sum, 4);
  // Rows are stored [b, s, h, q], the order of the loop above.
  if (row < rows && part == 0) p.delta[row] = sum;
}

// ---- 2. keys -------------------------------------------------------------------------
// One query block of the keys kernel: Q, dO, the bias rows and the per-row LSE and Δ.
template <class C>
struct QueryStage {
  using T = typename C::T;
  using BiasT = typename C::BiasT;
  static constexpr int kLdSeq = C::kHeadDim + 8;
  static constexpr int kLdBias = C::kBlockK + 8;
  static constexpr int kSeqBytes = C::kBlockQ * kLdSeq * int(sizeof(T));
  static constexpr int kBiasBytes = C::kHasBias ? C::kBlockQ * kLdBias * int(sizeof(BiasT)) : 0;
  static constexpr int kRowBytes = C::kBlockQ * int(sizeof(float));
  static constexpr int kBytes = 2 * kSeqBytes + kBiasBytes + 2 * kRowBytes;

  T* q;
  T* d_o;
  BiasT* bias;
  float* lse;  // natural log, +inf past the end of the sequence
  float* delta;

  __device__ __forceinline__ QueryStage(unsigned char* base)
      : q(reinterpret_cast<T*>(base)),
        d_o(reinterpret_cast<T*>(base + kSeqBytes)),
        bias(reinterpret_cast<BiasT*>(base + 2 * kSeqBytes)),
        lse(reinterpret_cast<float*>(base + 2 * kSeqBytes + kBiasBytes)),
        delta(reinterpret_cast<float*>(base + 2 * kSeqBytes + kBiasBytes + kRowBytes)) {}
};

__device__ __forceinline__ i64 row_index(const MfEvoParams& p, int b, int s, int h) {
  return ((i64(b) * p.rows + s) * p.heads + h) * p.seq_len;
}

// Streams query blocks of one row s into a query group's stages. Each of the group's
// kThreads threads copies fixed 16-byte pieces, so a query block costs an address add and a
// cp.async per piece; LSE and Δ arrive by 4-byte cp.async, so no warp waits on them.
template <class C, int kThreads>
struct QueryLoader {
  using T = typename C::T;
  using BiasT = typename C::BiasT;
  using Stage = QueryStage<C>;
  using SeqPieces = TilePieces<T, C::kBlockQ, C::kHeadDim, kThreads>;
  using BiasPieces = TilePieces<BiasT, C::kBlockQ, C::kBlockK, kThreads>;
  SeqPieces seq;
  BiasPieces bias_pieces;
  int thread;

  __device__ __forceinline__ explicit QueryLoader(int group_thread)
      : seq(group_thread), bias_pieces(group_thread), thread(group_thread) {}

  __device__ __forceinline__ void copy_seq(T* dst, const MfSeqTensor& x, const MfEvoParams& p, int b, int s, int h,
                                           int q0) const {
    const T* src = seq_slice<const T>(x, b, s, h) + q0 * x.stride_n;
    const int valid = p.seq_len - q0;
    if (!x.vector_ok)
      copy_tile_elements<T, C::kBlockQ, C::kHeadDim, kThreads>(dst, Stage::kLdSeq, src, x.stride_n, x.stride_d, valid,
                                                               p.head_dim, thread);
    else if (valid >= C::kBlockQ && p.head_dim == C::kHeadDim)
      seq.copy(dst, Stage::kLdSeq, src, x.stride_n);
    else
      seq.copy_edge(dst, Stage::kLdSeq, src, x.stride_n, valid, p.head_dim);
  }

  // Starts the copies of query block q0 of row s (keys from k0) into a stage.
  __device__ __forceinline__ void load(const Stage& st, const MfEvoParams& p, int b, int s, int h, int q0,
                                       int k0) const {
    const int n = p.seq_len;
    copy_seq(st.q, p.q, p, b, s, h, q0);
    copy_seq(st.d_o, p.d_o, p, b, s, h, q0);
    if constexpr (C::kHasBias) {
      const BiasT* src = pair_slice<const BiasT>(p.bias, b, s, h) + q0 * p.bias.stride_q + k0 * p.bias.stride_k;
      const int valid_q = n - q0, valid_k = n - k0;
      if (!p.bias.vector_ok)
        copy_tile_elements<BiasT, C::kBlockQ, C::kBlockK, kThreads>(st.bias, Stage::kLdBias, src, p.bias.stride_q,
                                                                    p.bias.stride_k, valid_q, valid_k, thread);
      else if (valid_q >= C::kBlockQ && valid_k >= C::kBlockK)
        bias_pieces.copy(st.bias, Stage::kLdBias, src, p.bias.stride_q);
      else
        bias_pieces.copy_edge(st.bias, Stage::kLdBias, src, p.bias.stride_q, valid_q, valid_k);
    }
    const i64 rows = row_index(p, b, s, h);
    for (int i = thread; i < C::kBlockQ; i += kThreads) {
      if (q0 + i < n) {
        cp_async_4(st.lse + i, p.lse + rows + q0 + i);
        cp_async_4(st.delta + i, p.delta + rows + q0 + i);
      } else {
        // Rows past the end get LSE = +inf, so their probabilities are exactly zero. The
        // stage is not read before the barrier that follows its copies.
        st.lse[i] = pos_inf();
        st.delta[i] = 0.0f;
      }
    }
  }
};

// The keys kernel sums dSᵀ over its rows s in a dBias strip: rows keys, columns queries.
// The strip lives in shared memory where it fits (ld: room for every query block's
// columns, so adds need no bounds checks) and is flushed to the partial sums at the end;
// otherwise the block adds straight into its partial sums in global memory.
template <class C>
__device__ __forceinline__ int shared_strip_ld(int n) {
  return (n + 63) / 64 * 64 + 8;  // kBlockQ <= 64
}

// Writes (or, in fast mode, atomically adds) a finished shared strip to the partial sums
// in global memory, one row of queries per key.
template <class C>
__device__ __forceinline__ void flush_dbias_strip(const MfEvoParams& p, const float* strip, float* partial, int k0) {
  const int n = p.seq_len, ld = shared_strip_ld<C>(n);
  for (int r = threadIdx.x / 32; r < C::kBlockK; r += C::kWarps) {
    if (k0 + r >= n) break;
    for (int q = lane_id(); q < n; q += 32) {
      const float value = strip[r * ld + q];
      if (C::kDeterministic) partial[(k0 + r) * i64(n) + q] = value;
      else atomicAdd(partial + (k0 + r) * i64(n) + q, value);
    }
  }
}

// Adds a warp's dSᵀ (16 keys from key0 × kBlockQ queries from q0) to a shared strip: the
// first row s of a block stores, later rows add.
template <class C>
__device__ __forceinline__ void add_to_shared_strip(float* strip, int ld, const FragC (&d_s)[C::kBlockQ / 8],
                                                    int key0, int q0, bool first_row) {
  const int g = lane_id() / 4, t = lane_id() % 4;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float* row = strip + (key0 + g + half * 8) * ld + q0 + 2 * t;
#pragma unroll
    for (int j = 0; j < C::kBlockQ / 8; ++j) {
      float2* cell = reinterpret_cast<float2*>(row + j * 8);
      float2 value = make_float2(d_s[j].c[2 * half], d_s[j].c[2 * half + 1]);
      if (!first_row) {
        const float2 old = *cell;
        value.x += old.x;
        value.y += old.y;
      }
      *cell = value;
    }
  }
}

// The same into the block's partial sums in global memory (n × n, rows from key k0): bounds
// checked, and in fast mode shared with other blocks (atomics).
template <class C>
__device__ __forceinline__ void add_to_global_strip(float* strip, int n, const FragC (&d_s)[C::kBlockQ / 8], int key0,
                                                    int q0, int k0, bool first_row) {
  const int g = lane_id() / 4, t = lane_id() % 4;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int key = key0 + g + half * 8;
    if (k0 + key >= n) continue;
#pragma unroll
    for (int j = 0; j < C::kBlockQ / 8; ++j)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int q = q0 + j * 8 + 2 * t + e;
        if (q >= n) continue;
        float* cell = strip + i64(key) * n + q;
        const float value = d_s[j].c[2 * half + e];
        if (!C::kDeterministic) atomicAdd(cell, value);
        else *cell = first_row ? value : *cell + value;
      }
  }
}

// The transposed bias of a warp's 16 keys against a query block, in the accumulator layout
// of Sᵀ (rows keys, columns queries) and times `factor`: ldmatrix.trans of the stage's
// [query][key] tile hands each lane its pairs. Zero without a bias.
template <class C>
__device__ __forceinline__ void load_bias_fragments_t(FragC (&bias)[C::kBlockQ / 8], const typename C::BiasT* tile,
                                                      int key0, float factor) {
#pragma unroll
  for (int j = 0; j < C::kBlockQ / 16; ++j) {
    if constexpr (C::kHasBias) {
      FragA<typename C::BiasT> pairs;
      load_a_t(pairs, tile, QueryStage<C>::kLdBias, key0, j * 16);
      scaled_c_from_a(bias[2 * j], bias[2 * j + 1], pairs, factor);
    } else {
      bias[2 * j] = bias[2 * j + 1] = FragC{};
    }
  }
}

// A warp's 16 rows of K or V as A operands: held in registers for the whole row s where
// the head is narrow (D <= 32), read from the tile at each use where holding them would
// crowd the accumulators out of the registers.
template <class C>
struct KeyRows {
  using T = typename C::T;
  static constexpr bool kHeld = C::kHeadDim <= 32;
  FragA<T> held[kHeld ? C::kHeadDim / 16 : 1];
  const T* tile;
  int row0;

  __device__ __forceinline__ KeyRows(const T* key_tile, int first_row) : tile(key_tile), row0(first_row) {
    if constexpr (kHeld)
#pragma unroll
      for (int kk = 0; kk < C::kHeadDim / 16; ++kk) load_a(held[kk], tile, KeyStage<C>::kLdSeq, row0, kk * 16);
  }
  __device__ __forceinline__ FragA<T> at(int kk) const {
    if constexpr (kHeld) return held[kk];
    FragA<T> a;
    load_a(a, tile, KeyStage<C>::kLdSeq, row0, kk * 16);
    return a;
  }
};

// acc += A·Bᵀ for a warp's 16 key rows of A against the kBlockQ rows of b_tile.
template <class C>
__device__ __forceinline__ void product_rows_abt(FragC (&acc)[C::kBlockQ / 8], const KeyRows<C>& a,
                                                 const typename C::T* b_tile) {
  using T = typename C::T;
  constexpr int kLd = QueryStage<C>::kLdSeq;
#pragma unroll
  for (int kk = 0; kk < C::kHeadDim / 16; ++kk) {
    const FragA<T> a_frag = a.at(kk);
#pragma unroll
    for (int j = 0; j < C::kBlockQ / 8; j += 2) {
      FragB<T> b0, b1;
      load_b2(b0, b1, b_tile, kLd, j * 8, kk * 16);
      mma(acc[j], a_frag, b0);
      mma(acc[j + 1], a_frag, b1);
    }
  }
}

// acc += Aᵀ-side product: acc (16 keys × D) += M (16 keys × kBlockQ queries, fragments) ·
// X (kBlockQ × D, the stage's [query][d] tile): dV += Pᵀ·dO and dK += dSᵀ·Q.
template <class C>
__device__ __forceinline__ void accumulate_key_rows(FragC (&acc)[C::kHeadDim / 8], const FragC (&m)[C::kBlockQ / 8],
                                                    const typename C::T* x_tile) {
  using T = typename C::T;
  constexpr int kLd = QueryStage<C>::kLdSeq;
#pragma unroll
  for (int kk = 0; kk < C::kBlockQ / 16; ++kk) {
    const FragA<T> m_frag = a_from_c<T>(m[2 * kk], m[2 * kk + 1]);
#pragma unroll
    for (int j = 0; j < C::kHeadDim / 8; j += 2) {
      FragB<T> x0, x1;
      load_b_t2(x0, x1, x_tile, kLd, kk * 16, j * 8);
      mma(acc[j], m_frag, x0);
      mma(acc[j + 1], m_frag, x1);
    }
  }
}

// Shared memory of one query group of the keys kernel: its stage ring and, in fast mode,
// its dSᵀ tile; after the group's last query block of a row, its dK and dV partial sums.
template <class C>
struct KeysGroupRegion {
  static constexpr int kKeyWarps = C::kWarps / C::kGroups;
  static constexpr int kLdDs = C::kBlockQ + 8;
  static constexpr int kDsBytes = C::kDeterministic ? 0 : C::kBlockK * kLdDs * int(sizeof(typename C::T));
  static constexpr int kPipelineBytes = C::kStages * QueryStage<C>::kBytes + kDsBytes;
  static constexpr int kPartialBytes = 2 * C::kBlockK * C::kHeadDim * int(sizeof(float));
  static constexpr int kBytes = kPipelineBytes > kPartialBytes ? kPipelineBytes : kPartialBytes;
};

// Stores the block's kBlockK rows (keys from k0) of dK or dV: the sum of the query groups'
// partials (float [kBlockK][kHeadDim] at `offset` floats into each group's region), in
// group order, times `scale`. A thread takes 16 bytes of the result at a time, stored in
// one piece where the layout allows.
template <class C>
__device__ __forceinline__ void store_key_rows(const MfSeqTensor& x, const MfEvoParams& p,
                                               const unsigned char* regions, int offset, float scale, int b, int s,
                                               int h, int k0) {
  using T = typename C::T;
  constexpr int kD = C::kHeadDim, kPer = 16 / int(sizeof(T)), kPiecesPerRow = kD / kPer;
  if (x.data == nullptr) return;
  T* out = seq_slice<T>(x, b, s, h);
  const bool whole = x.vector_ok && p.head_dim == kD;
  for (int i = threadIdx.x; i < C::kBlockK * kPiecesPerRow; i += 32 * C::kWarps) {
    const int key = i / kPiecesPerRow, d0 = i % kPiecesPerRow * kPer;
    if (k0 + key >= p.seq_len) continue;
    float sum[kPer];
#pragma unroll
    for (int e = 0; e < kPer; ++e) sum[e] = 0.0f;
#pragma unroll
    for (int group = 0; group < C::kGroups; ++group) {
      const float* partial =
          reinterpret_cast<const float*>(regions + group * KeysGroupRegion<C>::kBytes) + offset + key * kD + d0;
#pragma unroll
      for (int e = 0; e < kPer; e += 4) {
        const float4 v = *reinterpret_cast<const float4*>(partial + e);
        sum[e] += v.x;
        sum[e + 1] += v.y;
        sum[e + 2] += v.z;
        sum[e + 3] += v.w;
      }
    }
    union {
      uint4 bits;
      T values[kPer];
    } piece;
#pragma unroll
    for (int e = 0; e < kPer; ++e) piece.values[e] = from_float<T>(sum[e] * scale);
    T* row = out + (k0 + key) * x.stride_n;
    if (whole) {
      *reinterpret_cast<uint4*>(row + d0) = piece.bits;
    } else {
#pragma unroll
      for (int e = 0; e < kPer; ++e)
        if (d0 + e < p.head_dim) row[(d0 + e) * x.stride_d] = piece.values[e];
    }
  }
}

// Keys kernel (kSharedStrip: the dBias strip in shared memory, or, for sequences whose
// strip does not fit, added straight into the partial sums in global memory; two entry
// points, so that neither carries the other's code in its loop).
// One block per (b, h, key block, group of rows s). Its kGroups query groups
// of warps share the key block's K and V (held as fragments by each warp for its 16 keys)
// and walk alternate query blocks, each with a pipeline of its own (named barriers). Per
// query block a warp forms xᵀ = K·Qᵀ + (biasᵀ + maskterm)/c and dPᵀ = V·dOᵀ, then
// Pᵀ = 2^(xᵀ·c·log2 e − LSE·log2 e) and dSᵀ = Pᵀ ⊙ (dPᵀ − Δ), and accumulates dV, dK in
// registers and dSᵀ in the dBias strip. Per row s the groups' dK and dV partial sums meet
// in shared memory and are added in a fixed order.
// The keys kernel's shared memory: the block's K and V tiles, then one region per query
// group; the dBias strip, where it is on chip, follows (the host adds its bytes).
template <class C>
struct KeysLayout {
  static constexpr int kKvBytes = 2 * C::kBlockK * QueryStage<C>::kLdSeq * int(sizeof(typename C::T));
  static constexpr int kBytes = kKvBytes + C::kGroups * KeysGroupRegion<C>::kBytes;
};

template <class C, bool kSharedStrip = true>
__device__ __forceinline__ void evo_attention_backward_keys(const MfEvoParams& p) {
  using T = typename C::T;
  using Stage = QueryStage<C>;
  using Region = KeysGroupRegion<C>;
  constexpr int kGroups = C::kGroups, kKeyWarps = Region::kKeyWarps;
  constexpr int kThreads = 32 * C::kWarps, kGroupThreads = 32 * kKeyWarps;
  constexpr int kD = C::kHeadDim, kBQ = C::kBlockQ, kBK = C::kBlockK;
  constexpr int kQueryTiles = kBQ / 8, kDimTiles = kD / 8;
  constexpr int kLdSeq = Stage::kLdSeq, kLdDs = Region::kLdDs;
  static_assert(C::kWarps % kGroups == 0 && kBK == 16 * kKeyWarps, "each warp of a group owns 16 keys");
  static_assert(kD % 16 == 0 && kBQ % 16 == 0, "tiles are multiples of the 16-wide product");

  extern __shared__ __align__(128) unsigned char smem[];
  T* k_tile = reinterpret_cast<T*>(smem);
  T* v_tile = k_tile + kBK * kLdSeq;
  const int group = threadIdx.x / kGroupThreads, thread = threadIdx.x % kGroupThreads;
  unsigned char* region = smem + KeysLayout<C>::kKvBytes + group * Region::kBytes;
  unsigned char* stages = region;
  T* ds_tile = reinterpret_cast<T*>(region + C::kStages * Stage::kBytes);  // dSᵀ [key][query] (fast mode)
  float* partials = reinterpret_cast<float*>(region);                      // [2][kBK][kD] after the loop
  unsigned char* strip_base = smem + KeysLayout<C>::kBytes;

  const int n = p.seq_len, key_blocks = (n + kBK - 1) / kBK, query_blocks = (n + kBQ - 1) / kBQ;
  int index = blockIdx.x;  // row groups vary fastest
  const int row_group = index % p.groups;
  index /= p.groups;
  const int k0 = (index % key_blocks) * kBK;
  index /= key_blocks;
  const int h = index % p.heads, b = index / p.heads;
  const int warp = (threadIdx.x / 32) % kKeyWarps, key0 = warp * 16, g = lane_id() / 4, t = lane_id() % 4;
  const int s_begin = row_group * p.rows_per_group;
  const int s_end = min(p.rows, s_begin + p.rows_per_group);
  // This group's query blocks: group, group + kGroups, ...
  const int my_blocks = query_blocks > group ? (query_blocks - group + kGroups - 1) / kGroups : 0;
  const float factor = 1.0f / p.scale;
  const QueryLoader<C, kGroupThreads> loader(thread);
  const TilePieces<T, kBK, kD, kThreads> key_pieces(threadIdx.x);

  constexpr bool kDBias = C::kHasBias && C::kWantDBias;
  float* partial = nullptr;  // this block's dBias partial sums [n keys][n queries]
  float* shared_strip = reinterpret_cast<float*>(strip_base);
  const int strip_ld = shared_strip_ld<C>(n);
  if constexpr (kDBias) {
    const int slot = p.partial_slots == 1 ? 0 : row_group;
    partial = p.dbias_partial + ((i64(slot) * p.batch + b) * p.heads + h) * i64(n) * n;
  }

  for (int s = s_begin; s < s_end; ++s) {
    const bool first_row = s == s_begin;
    for (int which = 0; which < 2; ++which) {
      const MfSeqTensor& src = which == 0 ? p.k : p.v;
      T* dst = which == 0 ? k_tile : v_tile;
      const T* slice = seq_slice<const T>(src, b, s, h) + k0 * src.stride_n;
      if (!src.vector_ok)
        copy_tile_elements<T, kBK, kD, kThreads>(dst, kLdSeq, slice, src.stride_n, src.stride_d, n - k0, p.head_dim,
                                                 threadIdx.x);
      else if (n - k0 >= kBK && p.head_dim == kD)
        key_pieces.copy(dst, kLdSeq, slice, src.stride_n);
      else
        key_pieces.copy_edge(dst, kLdSeq, slice, src.stride_n, n - k0, p.head_dim);
    }
    // The mask terms of the warp's two key rows, in x units; a row s whose keys are all
    // kept (and in range) skips them.
    float key_mask[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) key_mask[half] = mask_term<C>(p, b, s, k0 + key0 + g + half * 8) * factor;
#pragma unroll
    for (int i = 0; i < C::kStages - 1; ++i) {
      if (i < my_blocks)
        loader.load(Stage(stages + i * Stage::kBytes), p, b, s, h, (group + i * kGroups) * kBQ, k0);
      cp_async_commit();
    }
    // K and V (in the first commit) were copied by threads of every group.
    cp_async_wait<C::kStages - 2>();
    const bool masked = __syncthreads_or(key_mask[0] != 0.0f || key_mask[1] != 0.0f) != 0;
    const KeyRows<C> k_rows(k_tile, key0), v_rows(v_tile, key0);

    FragC d_k[kDimTiles], d_v[kDimTiles];
#pragma unroll
    for (int j = 0; j < kDimTiles; ++j) d_k[j] = d_v[j] = FragC{};

    for (int it = 0; it < my_blocks; ++it) {
      const int q0 = (group + it * kGroups) * kBQ;
      const int ahead = it + C::kStages - 1;
      if (ahead < my_blocks)
        loader.load(Stage(stages + (ahead % C::kStages) * Stage::kBytes), p, b, s, h, (group + ahead * kGroups) * kBQ,
                    k0);
      cp_async_commit();
      cp_async_wait<C::kStages - 1>();
      group_sync<kGroupThreads>(group);
      const Stage st(stages + (it % C::kStages) * Stage::kBytes);

      FragC prob[kQueryTiles], d_s[kQueryTiles];
      load_bias_fragments_t<C>(prob, st.bias, key0, factor);
      product_rows_abt<C>(prob, k_rows, st.q);  // xᵀ = biasᵀ/c + K·Qᵀ
#pragma unroll
      for (int j = 0; j < kQueryTiles; ++j) d_s[j] = FragC{};
      product_rows_abt<C>(d_s, v_rows, st.d_o);  // dPᵀ = V·dOᵀ
      // Pᵀ = 2^(xᵀ·c·log2 e − LSE·log2 e), dSᵀ = Pᵀ ⊙ (dPᵀ − Δ).
#pragma unroll
      for (int j = 0; j < kQueryTiles; ++j) {
        float lse[2], delta[2];
        read_two(st.lse + j * 8 + 2 * t, lse[0], lse[1]);
        read_two(st.delta + j * 8 + 2 * t, delta[0], delta[1]);
        const float offset[2] = {-lse[0] * kLog2e, -lse[1] * kLog2e};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float x = prob[j].c[e];
          if (masked) x += key_mask[e >> 1];
          prob[j].c[e] = exp2_approx(fmaf(x, p.scale_log2, offset[e & 1]));
          d_s[j].c[e] = prob[j].c[e] * (d_s[j].c[e] - delta[e & 1]);
        }
      }
      accumulate_key_rows<C>(d_v, prob, st.d_o);  // dV += Pᵀ·dO
      accumulate_key_rows<C>(d_k, d_s, st.q);     // dK += dSᵀ·Q (c applied at the end)
      if constexpr (kDBias && kSharedStrip) add_to_shared_strip<C>(shared_strip, strip_ld, d_s, key0, q0, first_row);
      if constexpr (kDBias && !kSharedStrip) add_to_global_strip<C>(partial + k0 * i64(n), n, d_s, key0, q0, k0, first_row);
      if constexpr (!C::kDeterministic) {
        if (p.d_q.data != nullptr) {
          // dQ += c·dS·K through the float accumulator: dSᵀ goes through shared memory to
          // become the A operand with queries as rows.
#pragma unroll
          for (int j = 0; j < kQueryTiles; ++j)
#pragma unroll
            for (int half = 0; half < 2; ++half)
              *reinterpret_cast<Pair<T>*>(ds_tile + (key0 + g + half * 8) * kLdDs + j * 8 + 2 * t) =
                  make_pair<T>(d_s[j].c[2 * half], d_s[j].c[2 * half + 1]);
          group_sync<kGroupThreads>(group);
          float* accum = p.dq_accum + row_index(p, b, s, h) * kD;
          for (int rb = warp; rb < kBQ / 16; rb += kKeyWarps) {
            FragC d_q[kDimTiles];
#pragma unroll
            for (int j = 0; j < kDimTiles; ++j) d_q[j] = FragC{};
#pragma unroll
            for (int kk = 0; kk < kBK / 16; ++kk) {
              FragA<T> ds_frag;
              load_a_t(ds_frag, ds_tile, kLdDs, rb * 16, kk * 16);
#pragma unroll
              for (int j = 0; j < kDimTiles; ++j) {
                FragB<T> k_b;
                load_b_t(k_b, k_tile, kLdSeq, kk * 16, j * 8);
                mma(d_q[j], ds_frag, k_b);
              }
            }
#pragma unroll
            for (int half = 0; half < 2; ++half) {
              const int q = q0 + rb * 16 + g + half * 8;
              if (q >= n) continue;
#pragma unroll
              for (int j = 0; j < kDimTiles; ++j) {
                atomicAdd(accum + q * kD + j * 8 + 2 * t, d_q[j].c[2 * half] * p.scale);
                atomicAdd(accum + q * kD + j * 8 + 2 * t + 1, d_q[j].c[2 * half + 1] * p.scale);
              }
            }
          }
        }
      }
      group_sync<kGroupThreads>(group);  // the stage and the dS tile are refilled next
    }
    cp_async_wait<0>();

    // The group's partial dK and dV go to its region (its stages are no longer read) ...
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int key = key0 + g + half * 8;
#pragma unroll
      for (int j = 0; j < kDimTiles; ++j) {
        const int d = j * 8 + 2 * t;
        *reinterpret_cast<float2*>(partials + key * kD + d) = make_float2(d_k[j].c[2 * half], d_k[j].c[2 * half + 1]);
        *reinterpret_cast<float2*>(partials + (kBK + key) * kD + d) =
            make_float2(d_v[j].c[2 * half], d_v[j].c[2 * half + 1]);
      }
    }
    __syncthreads();
    // ... and the block adds the groups' sums in group order and stores dK and dV.
    const unsigned char* regions = reinterpret_cast<const unsigned char*>(v_tile + kBK * kLdSeq);
    store_key_rows<C>(p.d_k, p, regions, 0, p.scale, b, s, h, k0);
    store_key_rows<C>(p.d_v, p, regions, kBK * kD, 1.0f, b, s, h, k0);
    __syncthreads();  // K, V and the regions are refilled for the next row
  }
  if constexpr (kDBias && kSharedStrip) flush_dbias_strip<C>(p, shared_strip, partial, k0);
}

// ---- 3. queries (deterministic dQ) -----------------------------------------------------
// One block per query block of kRowsPerBlock rows s that share the bias (the forward's
// pipeline and layout): per key block it recomputes P and dP for each s and adds
// dQ += dS·K, then stores c·dQ. x = Q·Kᵀ + (bias + maskterm)/c, so P = 2^(x·c·log2 e − LSE·log2 e).
// The queries kernel's shared memory: each row's Q and dO tiles, then the stage ring of key
// blocks (the forward's).
template <class C>
struct QueriesLayout {
  static constexpr int kTileBytes = C::kRowsPerBlock * C::kBlockQ * KeyStage<C>::kLdSeq * int(sizeof(typename C::T));
  static constexpr int kBytes = 2 * kTileBytes + C::kStages * KeyStage<C>::kBytes;
};

template <class C>
__device__ __forceinline__ void evo_attention_backward_queries(const MfEvoParams& p) {
  using T = typename C::T;
  using Stage = KeyStage<C>;
  constexpr int kRows = C::kRowsPerBlock, kD = C::kHeadDim, kBQ = C::kBlockQ, kBK = C::kBlockK;
  constexpr int kThreads = 32 * C::kWarps, kLd = Stage::kLdSeq;
  constexpr int kKeyTiles = kBK / 8, kDimTiles = kD / 8;
  static_assert(kBQ == 16 * C::kWarps, "each warp owns 16 query rows");

  extern __shared__ __align__(128) unsigned char smem[];
  T* q_tiles = reinterpret_cast<T*>(smem);                                      // [kRows][kBQ][kLd]
  T* do_tiles = reinterpret_cast<T*>(smem + QueriesLayout<C>::kTileBytes);      // [kRows][kBQ][kLd]
  unsigned char* stages = smem + 2 * QueriesLayout<C>::kTileBytes;

  const RowBlock rb = row_block<C>(p);
  const int n = p.seq_len, key_blocks = (n + kBK - 1) / kBK;
  const int row0 = threadIdx.x / 32 * 16, g = lane_id() / 4;
  const float factor = 1.0f / p.scale;
  const KeyLoader<C> loader(p, rb);

#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    if (r >= rb.rows) break;
    const int s = rb.s0 + r;
    copy_tile<T, kBQ, kD, kThreads>(q_tiles + r * kBQ * kLd, kLd, seq_slice<const T>(p.q, rb.b, s, rb.h) + rb.q0 * p.q.stride_n,
                                    p.q.stride_n, p.q.stride_d, n - rb.q0, p.head_dim, p.q.vector_ok, threadIdx.x);
    copy_tile<T, kBQ, kD, kThreads>(do_tiles + r * kBQ * kLd, kLd,
                                    seq_slice<const T>(p.d_o, rb.b, s, rb.h) + rb.q0 * p.d_o.stride_n, p.d_o.stride_n,
                                    p.d_o.stride_d, n - rb.q0, p.head_dim, p.d_o.vector_ok, threadIdx.x);
  }
  unsigned masked_stages = 0;  // bit i: this thread wrote a mask term other than 0 into stage i
#pragma unroll
  for (int i = 0; i + 1 < C::kStages; ++i) {
    if (i < key_blocks) {
      const Stage st(stages + i * Stage::kBytes);
      loader.load(st, p, rb, i * kBK);
      MaskFetch<C> mask;
      mask.fetch(p, rb, i * kBK);
      if (mask.store(st, factor)) masked_stages |= 1u << i;
    }
    cp_async_commit();
  }
  // LSE (base 2) and Δ of the lane's two rows of each s; +inf past the end gives P = 0.
  float lse_log2[kRows][2], delta[kRows][2];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int q = rb.q0 + row0 + g + half * 8;
      const bool exists = r < rb.rows && q < n;
      const i64 at = row_index(p, rb.b, min(rb.s0 + r, p.rows - 1), rb.h) + q;
      lse_log2[r][half] = exists ? p.lse[at] * kLog2e : pos_inf();
      delta[r][half] = exists ? p.delta[at] : 0.0f;
    }

  FragC d_q[kRows][kDimTiles];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int j = 0; j < kDimTiles; ++j) d_q[r][j] = FragC{};

  for (int kb = 0; kb < key_blocks; ++kb) {
    const int ahead = kb + C::kStages - 1, slot = kb % C::kStages;
    const Stage next(stages + (ahead % C::kStages) * Stage::kBytes);
    MaskFetch<C> next_mask;
    if (ahead < key_blocks) {
      loader.load(next, p, rb, ahead * kBK);
      next_mask.fetch(p, rb, ahead * kBK);
    }
    cp_async_commit();
    cp_async_wait<C::kStages - 1>();
    const bool masked = __syncthreads_or((masked_stages >> slot) & 1u) != 0;
    masked_stages &= ~(1u << slot);
    const Stage st(stages + slot * Stage::kBytes);

    FragC bias[kKeyTiles], zero[kKeyTiles];
    load_bias_fragments<C>(bias, st, row0, factor);
#pragma unroll
    for (int j = 0; j < kKeyTiles; ++j) zero[j] = FragC{};
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r >= rb.rows) break;
      FragC prob[kKeyTiles], d_s[kKeyTiles];
      key_block_logits<C>(prob, bias, q_tiles + r * kBQ * kLd, st.k(r), st.mask(r), row0, masked);
      product_abt<C>(d_s, zero, do_tiles + r * kBQ * kLd, st.v(r), row0);  // dP = dO·Vᵀ
      // P = 2^(x·c·log2 e − LSE·log2 e), dS = P ⊙ (dP − Δ).
#pragma unroll
      for (int j = 0; j < kKeyTiles; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          prob[j].c[e] = exp2_approx(fmaf(prob[j].c[e], p.scale_log2, -lse_log2[r][e >> 1]));
          d_s[j].c[e] = prob[j].c[e] * (d_s[j].c[e] - delta[r][e >> 1]);
        }
      // dQ += dS·K.
#pragma unroll
      for (int kk = 0; kk < kBK / 16; ++kk) {
        const FragA<T> ds_frag = a_from_c<T>(d_s[2 * kk], d_s[2 * kk + 1]);
#pragma unroll
        for (int j = 0; j < kDimTiles; j += 2) {
          FragB<T> k0, k1;
          load_b_t2(k0, k1, st.k(r), kLd, kk * 16, j * 8);
          mma(d_q[r][j], ds_frag, k0);
          mma(d_q[r][j + 1], ds_frag, k1);
        }
      }
    }
    if (ahead < key_blocks && next_mask.store(next, factor)) masked_stages |= 1u << (ahead % C::kStages);
    __syncthreads();  // the stage is refilled next
  }
  cp_async_wait<0>();

#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    if (r >= rb.rows) break;
    // c·dQ through the warp's own rows of the Q tile, nothing reads any more.
    const float scale[2] = {p.scale, p.scale};
    store_rows<C>(p.d_q, p, d_q[r], scale, PaddedStaging<T, kLd>{q_tiles + (r * kBQ + row0) * kLd}, rb.b, rb.s0 + r, rb.h, rb.q0 + row0);
  }
}

// ---- 4. finalize ---------------------------------------------------------------------
// dBias over one 32 x 32 (query, key) tile of one output (b, s, h) slice: the sum over the
// partial groups and over B and H where dBias has extent 1 there, read along queries
// (the partials are key-major) and written along keys through a shared transpose.
template <class C>
__device__ __forceinline__ void evo_attention_dbias_finalize(const MfEvoParams& p) {
  using BiasT = typename C::BiasT;
  __shared__ float tile[32][33];
  const int out_batch = p.d_bias.batch, out_rows = p.d_bias.rows, out_heads = p.d_bias.heads;
  const int n = p.seq_len, tiles = (n + 31) / 32;
  int index = blockIdx.x;
  const int k0 = (index % tiles) * 32;
  index /= tiles;
  const int q0 = (index % tiles) * 32;
  index /= tiles;
  const int h_out = index % out_heads;
  index /= out_heads;
  const int s_out = index % out_rows, b_out = index / out_rows;
  const int slots = p.partial_slots;
  // A dBias extent of 1 where the operator's is larger means: sum over that dimension.
  const bool sum_b = out_batch == 1, sum_h = out_heads == 1;
  const bool by_row = out_rows != 1;  // dBias per s: partial slot = s (one row per group)
  const int q = q0 + threadIdx.x;
  for (int r = threadIdx.y; r < 32; r += blockDim.y) {
    const int k = k0 + r;
    float sum = 0.0f;
    if (q < n && k < n) {
      for (int slot = by_row ? s_out : 0; slot < (by_row ? s_out + 1 : slots); ++slot)
        for (int b = sum_b ? 0 : b_out; b < (sum_b ? p.batch : b_out + 1); ++b)
          for (int h = sum_h ? 0 : h_out; h < (sum_h ? p.heads : h_out + 1); ++h)
            sum += p.dbias_partial[(((i64(slot) * p.batch + b) * p.heads + h) * n + k) * n + q];
    }
    tile[r][threadIdx.x] = sum;
  }
  __syncthreads();
  const int k = k0 + threadIdx.x;
  for (int r = threadIdx.y; r < 32; r += blockDim.y) {
    const int qq = q0 + r;
    if (qq < n && k < n)
      pair_slice<BiasT>(p.d_bias, b_out, s_out, h_out)[qq * p.d_bias.stride_q + k * p.d_bias.stride_k] =
          from_float<BiasT>(tile[threadIdx.x][r]);
  }
}

// Fast mode: dQ from its float accumulator [b, s, h, q, D].
template <class C>
__device__ __forceinline__ void evo_attention_dq_convert(const MfEvoParams& p) {
  using T = typename C::T;
  const i64 total = i64(p.batch) * p.rows * p.heads * p.seq_len * p.head_dim;
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += i64(gridDim.x) * blockDim.x) {
    i64 index = i;
    const int d = int(index % p.head_dim);
    index /= p.head_dim;
    const int q = int(index % p.seq_len);
    index /= p.seq_len;
    const int h = int(index % p.heads);
    index /= p.heads;
    const int s = int(index % p.rows), b = int(index / p.rows);
    const float value = p.dq_accum[((i64(b) * p.rows + s) * p.heads + h) * p.seq_len * C::kHeadDim +
                                   q * C::kHeadDim + d];
    seq_slice<T>(p.d_q, b, s, h)[q * p.d_q.stride_n + d * p.d_q.stride_d] = from_float<T>(value);
  }
}

}  // namespace mf
