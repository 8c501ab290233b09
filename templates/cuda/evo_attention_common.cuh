// What the EvoAttention kernels share: element addressing of the strided tensors, the key
// mask and bias terms of the logits, and the shared-memory stage that holds one key block.
//
// A kernel configuration C provides: T (Q/K/V/O element), BiasT, MaskT (u8 for boolean,
// a float type for additive), kHeadDim (D padded to a multiple of 16), kBlockQ, kBlockK,
// kWarps, kStages, kHasBias, kMaskKind (0 none, 1 boolean, 2 additive).
#pragma once

namespace mf {

typedef unsigned char u8;

// The first element of the [N, D] slice of a sequence tensor at (b, s, h).
template <class T>
__device__ __forceinline__ T* seq_slice(const MfSeqTensor& x, int b, int s, int h) {
  return static_cast<T*>(x.data) + b * x.stride_b + s * x.stride_s + h * x.stride_h;
}

template <class T>
__device__ __forceinline__ T* pair_slice(const MfPairTensor& x, int b, int s, int h) {
  return static_cast<T*>(x.data) + b * x.stride_b + s * x.stride_s + h * x.stride_h;
}

// Two neighbouring elements of a shared-memory row, as floats.
__device__ __forceinline__ void read_two(const float* p, float& a, float& b) {
  const float2 v = *reinterpret_cast<const float2*>(p);
  a = v.x;
  b = v.y;
}
__device__ __forceinline__ void read_two(const bf16* p, float& a, float& b) {
  const u32 w = *reinterpret_cast<const u32*>(p);
  a = __uint_as_float(w << 16);
  b = __uint_as_float(w & 0xffff0000u);
}
__device__ __forceinline__ void read_two(const f16* p, float& a, float& b) {
  a = to_float(p[0]);
  b = to_float(p[1]);
}

// The mask term of key k in base 2: 0 for kept keys, −inf for dropped ones and for keys
// past the end of the sequence, the additive value · log2(e) otherwise.
template <class C>
__device__ __forceinline__ float mask_term_log2(const MfEvoParams& p, int b, int s, int k) {
  if (k >= p.seq_len) return neg_inf();
  if constexpr (C::kMaskKind == 0) {
    return 0.0f;
  } else {
    const i64 offset = b * p.mask_stride_b + s * p.mask_stride_s + k * p.mask_stride_k;
    const typename C::MaskT m = static_cast<const typename C::MaskT*>(p.mask)[offset];
    if constexpr (C::kMaskKind == 1) return m != 0 ? 0.0f : neg_inf();
    else return to_float(m) * kLog2e;
  }
}

// Element strides of one stage (K, V, bias, key mask) and its size in bytes.
template <class C>
struct KeyStage {
  using T = typename C::T;
  using BiasT = typename C::BiasT;
  static constexpr int kLdSeq = C::kHeadDim + 8;  // padding puts ldmatrix rows in distinct banks
  static constexpr int kLdBias = C::kBlockK + 8;
  static constexpr int kSeqBytes = C::kBlockK * kLdSeq * int(sizeof(T));
  static constexpr int kBiasBytes = C::kHasBias ? C::kBlockQ * kLdBias * int(sizeof(BiasT)) : 0;
  static constexpr int kMaskBytes = C::kBlockK * int(sizeof(float));
  static constexpr int kBytes = 2 * kSeqBytes + kBiasBytes + kMaskBytes;

  T* k;
  T* v;
  BiasT* bias;
  float* mask;

  __device__ __forceinline__ KeyStage(unsigned char* base)
      : k(reinterpret_cast<T*>(base)),
        v(reinterpret_cast<T*>(base + kSeqBytes)),
        bias(reinterpret_cast<BiasT*>(base + 2 * kSeqBytes)),
        mask(reinterpret_cast<float*>(base + 2 * kSeqBytes + kBiasBytes)) {}
};

// Starts the asynchronous copies of key block k0 (K, V and the bias rows q0.. of this block)
// into a stage; element by element where the host did not allow vector copies.
template <class C>
__device__ __forceinline__ void load_key_tiles(const KeyStage<C>& st, const MfEvoParams& p, int b, int s, int h,
                                               int q0, int k0) {
  using T = typename C::T;
  constexpr int kThreads = 32 * C::kWarps;
  const int n = p.seq_len, thread = threadIdx.x;
  copy_tile<T, C::kBlockK, C::kHeadDim, kThreads>(st.k, KeyStage<C>::kLdSeq,
                                                  seq_slice<const T>(p.k, b, s, h) + k0 * p.k.stride_n,
                                                  p.k.stride_n, p.k.stride_d, n - k0, p.head_dim, p.k.vector_ok,
                                                  thread);
  copy_tile<T, C::kBlockK, C::kHeadDim, kThreads>(st.v, KeyStage<C>::kLdSeq,
                                                  seq_slice<const T>(p.v, b, s, h) + k0 * p.v.stride_n,
                                                  p.v.stride_n, p.v.stride_d, n - k0, p.head_dim, p.v.vector_ok,
                                                  thread);
  if constexpr (C::kHasBias) {
    using BiasT = typename C::BiasT;
    const BiasT* bias = pair_slice<const BiasT>(p.bias, b, s, h) + q0 * p.bias.stride_q + k0 * p.bias.stride_k;
    copy_tile<BiasT, C::kBlockQ, C::kBlockK, kThreads>(st.bias, KeyStage<C>::kLdBias, bias, p.bias.stride_q,
                                                       p.bias.stride_k, n - q0, n - k0, p.bias.vector_ok, thread);
  }
}

// The mask terms of one key block travel through registers: fetched when the block's tiles
// are requested, written to the stage one compute step later. A load used at once would
// stall every warp at the next barrier for a full memory latency per key block.
template <class C>
struct MaskFetch {
  static constexpr int kThreads = 32 * C::kWarps;
  static constexpr int kPerThread = (C::kBlockK + kThreads - 1) / kThreads;
  typename C::MaskT raw[kPerThread];
  unsigned valid = 0;  // bit i: key threadIdx.x + i·kThreads of the block exists

  __device__ __forceinline__ void fetch(const MfEvoParams& p, int b, int s, int k0) {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int k = threadIdx.x + i * kThreads;
      if (k >= C::kBlockK || k0 + k >= p.seq_len) continue;
      valid |= 1u << i;
      if constexpr (C::kMaskKind != 0)
        raw[i] = static_cast<const typename C::MaskT*>(
            p.mask)[b * p.mask_stride_b + s * p.mask_stride_s + (k0 + k) * p.mask_stride_k];
    }
  }
  __device__ __forceinline__ void store(float* mask) const {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int k = threadIdx.x + i * kThreads;
      if (k >= C::kBlockK) continue;
      float term = neg_inf();
      if ((valid >> i) & 1u) {
        if constexpr (C::kMaskKind == 0) term = 0.0f;
        else if constexpr (C::kMaskKind == 1) term = raw[i] != 0 ? 0.0f : neg_inf();
        else term = to_float(raw[i]) * kLog2e;
      }
      mask[k] = term;
    }
  }
};

// Key block k0 into a stage at once (the pipeline's prologue).
template <class C>
__device__ __forceinline__ void load_key_stage(const KeyStage<C>& st, const MfEvoParams& p, int b, int s, int h,
                                               int q0, int k0) {
  load_key_tiles<C>(st, p, b, s, h, q0, k0);
  MaskFetch<C> mask;
  mask.fetch(p, b, s, k0);
  mask.store(st.mask);
}

}  // namespace mf
