// Hopper's warpgroup matrix products (wgmma, sm_90a): the shared-memory tile layout they
// read, the matrix descriptors that name such a tile, and the fences around them.
//
// A warpgroup is 4 consecutive warps starting at a warp index divisible by 4; together
// they compute a 64 x N product. Warp w of the group owns rows 16w .. 16w+15 of A and of
// the accumulators, in exactly the m16n8k16 layouts of tile.cuh: the accumulator of the
// n8 column block j is FragC j, and a register A operand is FragA. So fragments made for
// mma.sync (bias loads, P = a_from_c(...)) feed wgmma unchanged.
//
// Tiles in shared memory are rows of kRowBytes (32, 64 or 128: the swizzle mode of the
// same width) whose 16-byte chunks are permuted by the row's address bits, the layout the
// tensor cores read without bank conflicts and the one TMA's swizzle modes write. A tile
// starts on a 1024-byte boundary so that the permutation (a function of absolute address
// bits 7..9) starts at row 0.
#pragma once

namespace mf {
namespace wgmma {

typedef unsigned long long u64;

template <int kRowBytes>
struct SwizzledRows {
  static_assert(kRowBytes == 32 || kRowBytes == 64 || kRowBytes == 128, "a swizzle mode's width");
  static constexpr int kChunks = kRowBytes / 16;
  // The descriptor's layout field: 1 = 128-byte swizzle, 2 = 64-byte, 3 = 32-byte.
  static constexpr int kLayoutCode = kRowBytes == 128 ? 1 : kRowBytes == 64 ? 2 : 3;
  // Rows a group of 8 spans: the descriptors' stride between 8-row core groups.
  static constexpr int kGroupBytes = 8 * kRowBytes;

  // The byte offset of 16-byte chunk c of row r.
  __device__ __forceinline__ static int offset(int r, int c) {
    return r * kRowBytes + ((c ^ ((r * kRowBytes >> 7) & (kChunks - 1))) << 4);
  }
};

// A matrix descriptor (PTX ISA, "Matrix Descriptor Format" of wgmma), kept as its two
// words: the low one holds the start address and the leading byte offset, the high one the
// stride byte offset and the swizzle mode, both in 16-byte units. A tile's descriptor is
// made once and stepped by byte offsets: the step is one 32-bit add (shared addresses stay
// below 2^18, so the 14-bit address field never carries into the leading offset).
struct Descriptor {
  u32 lo, hi;
  __device__ __forceinline__ Descriptor(const void* start, int leading_bytes, int stride_bytes, int layout_code)
      : lo((shared_address(start) >> 4) + (u32(leading_bytes >> 4) << 16)),
        hi(u32(stride_bytes >> 4) | (u32(layout_code) << 30)) {}
  // The descriptor of the same layout starting `bytes` (a multiple of 16) further on.
  __device__ __forceinline__ u64 at(int bytes) const {
    return (static_cast<u64>(hi) << 32) | static_cast<u64>(lo + (static_cast<u32>(bytes) >> 4));
  }
};

// A K-major tile: rows are M (or N), the k step's 16 elements lie in one row, 32 bytes past
// the previous step's; the hardware applies the swizzle to the address it forms, so stepping
// the start address is enough.
template <class T, int kRowBytes>
struct KMajor {
  using Rows = SwizzledRows<kRowBytes>;
  Descriptor d;
  __device__ __forceinline__ explicit KMajor(const void* tile) : d(tile, 16, Rows::kGroupBytes, Rows::kLayoutCode) {}
  // k step kk of the tile that starts `bytes` past this one.
  __device__ __forceinline__ u64 step(int kk, int bytes = 0) const { return d.at(bytes + kk * 16 * int(sizeof(T))); }
};

// An MN-major tile: rows are K, each row holds kRowBytes of contiguous N elements; a k step
// is 16 rows, two 8-row groups. N wider than a row is a sequence of such panels,
// `panel_bytes` apart (the descriptor's leading offset; unused where N fits one row).
template <class T, int kRowBytes>
struct MnMajor {
  using Rows = SwizzledRows<kRowBytes>;
  Descriptor d;
  __device__ __forceinline__ explicit MnMajor(const void* tile, int panel_bytes = 2 * Rows::kGroupBytes)
      : d(tile, panel_bytes, Rows::kGroupBytes, Rows::kLayoutCode) {}
  __device__ __forceinline__ u64 step(int kk, int bytes = 0) const { return d.at(bytes + kk * 16 * kRowBytes); }
};

template <class T, int kRowBytes>
__device__ __forceinline__ u64 k_major(const unsigned char* tile, int kk) {
  return KMajor<T, kRowBytes>(tile).step(kk);
}
template <class T, int kRowBytes>
__device__ __forceinline__ u64 mn_major(const unsigned char* tile, int kk) {
  return MnMajor<T, kRowBytes>(tile).step(kk);
}

// Before the first product of a batch: orders the registers' prior writes (accumulators
// initialised or rescaled by ordinary instructions) before the products read them.
__device__ __forceinline__ void fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}
// After wait(): keeps the compiler from moving reads of the accumulators above it.
template <int kTiles>
__device__ __forceinline__ void hold(FragC (&d)[kTiles]) {
#pragma unroll
  for (int j = 0; j < kTiles; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(d[j].c[e])::"memory");
}

// Shared memory written by ordinary stores or cp.async is made visible to the tensor
// cores' (async proxy) reads: each writing thread, before the barrier that publishes it.
__device__ __forceinline__ void fence_shared_for_products() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// d (+)= A·B for one warpgroup, N = kN: A [64 x 16] and B [16 x kN] from descriptors.
template <class T, int kN>
__device__ void mma_ss(FragC (&d)[kN / 8], u64 a, u64 b, int accumulate);
// d (+)= A·B: A a K-major descriptor, B an MN-major one.
template <class T, int kN>
__device__ void mma_ss_mn(FragC (&d)[kN / 8], u64 a, u64 b, int accumulate);
// d (+)= A·B with A from each warp's registers and B an MN-major descriptor.
template <class T, int kN>
__device__ void mma_rs(FragC (&d)[kN / 8], const FragA<T>& a, u64 b, int accumulate);
// d (+)= A·B with A from each warp's registers and B a K-major descriptor.
template <class T, int kN>
__device__ void mma_rs_kb(FragC (&d)[kN / 8], const FragA<T>& a, u64 b, int accumulate);

}  // namespace wgmma
}  // namespace mf
