// The vendor layer: the few operations that CUDA (NVRTC) and HIP (hipRTC) spell
// differently — element conversions, fast math, lane shuffles, warp and group barriers,
// global-to-shared copies. Everything above it is written once for both.
//
// A warp is 32 lanes on both vendors: on AMD's 64-lane wavefronts a wavefront holds two
// of them, and shuffles stay within their 32-lane half (the width argument), so lane
// layouts of fragments and quad reductions are the same.
//
// No headers: NVRTC compiles this without an include path; hipRTC pre-includes its runtime.
#pragma once

#if defined(__HIPCC_RTC__) || defined(__HIP__)
#define MF_HIP 1
#define __grid_constant__
#else
#define MF_HIP 0
#endif
// MF_TILE_LANES (defined by the cuda backend under MFJIT_TILE_PRIMITIVES=lanes): NVIDIA
// builds with AMD's synchronous copies and per-lane products, so that the AMD path's logic
// runs through the GPU tests on the GPUs we have.
#ifndef MF_TILE_LANES
#define MF_TILE_LANES 0
#endif

namespace mf {

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef long long i64;

#if MF_HIP

__device__ __forceinline__ float f16_bits_to_float(u16 bits) { return float(__builtin_bit_cast(_Float16, bits)); }
__device__ __forceinline__ u16 float_to_f16_bits(float x) { return __builtin_bit_cast(u16, static_cast<_Float16>(x)); }
// Round to nearest even; NaN stays a (quiet) NaN.
__device__ __forceinline__ u16 float_to_bf16_bits(float x) {
  const u32 bits = __float_as_uint(x);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return u16((bits >> 16) | 0x40u);
  return u16((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}
__device__ __forceinline__ float exp2_approx(float x) { return __builtin_exp2f(x); }
__device__ __forceinline__ float reciprocal_approx(float x) { return __builtin_amdgcn_rcpf(x); }

__device__ __forceinline__ float shuffle_xor(float x, int mask) { return __shfl_xor(x, mask, 32); }
__device__ __forceinline__ u32 shuffle_xor(u32 x, int mask) { return u32(__shfl_xor(int(x), mask, 32)); }
__device__ __forceinline__ float shuffle(float x, int lane) { return __shfl(x, lane, 32); }
__device__ __forceinline__ u32 shuffle(u32 x, int lane) { return u32(__shfl(int(x), lane, 32)); }
// Whether `p` holds on any lane of this thread's 32-lane warp (its half of a wavefront).
__device__ __forceinline__ bool warp_any(bool p) {
  const unsigned long long votes = __ballot(p);
  return ((votes >> (__lane_id() & 32)) & 0xffffffffull) != 0;
}
// A wavefront's lanes run in lockstep: ordering its shared-memory accesses is enough.
__device__ __forceinline__ void warp_sync() {
  __builtin_amdgcn_fence(__ATOMIC_SEQ_CST, "workgroup");
  __builtin_amdgcn_wave_barrier();
}

// AMD has one barrier per workgroup: the generators give AMD targets one warp group per
// block, so a group's barrier is the block's.
template <int kThreads> __device__ __forceinline__ void group_sync(int) { __syncthreads(); }

#else  // CUDA

__device__ __forceinline__ float f16_bits_to_float(u16 bits) {
  float r;
  asm("cvt.f32.f16 %0, %1;" : "=f"(r) : "h"(bits));
  return r;
}
__device__ __forceinline__ u16 float_to_f16_bits(float x) {
  u16 r;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ u16 float_to_bf16_bits(float x) {
  u16 r;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ float exp2_approx(float x) {
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ float reciprocal_approx(float x) {
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}

__device__ __forceinline__ float shuffle_xor(float x, int mask) { return __shfl_xor_sync(0xffffffffu, x, mask); }
__device__ __forceinline__ u32 shuffle_xor(u32 x, int mask) { return __shfl_xor_sync(0xffffffffu, x, mask); }
__device__ __forceinline__ float shuffle(float x, int lane) { return __shfl_sync(0xffffffffu, x, lane); }
__device__ __forceinline__ u32 shuffle(u32 x, int lane) { return __shfl_sync(0xffffffffu, x, lane); }
__device__ __forceinline__ bool warp_any(bool p) { return __any_sync(0xffffffffu, p); }
__device__ __forceinline__ void warp_sync() { __syncwarp(); }

// A barrier among the kThreads threads of one warp group (named barrier 1 + group; 0 is
// __syncthreads), so that groups of a block run their pipelines independently.
template <int kThreads> __device__ __forceinline__ void group_sync(int group) {
  asm volatile("bar.sync %0, %1;" ::"r"(1 + group), "n"(kThreads) : "memory");
}

#endif

// ---- Global -> shared copies ----------------------------------------------------------
#if MF_HIP || MF_TILE_LANES
// AMD has no asynchronous global-to-shared copy that fills zeros: the copies are plain
// loads and stores, complete when they return, so commit and wait have nothing to do.
__device__ __forceinline__ void cp_async_16(void* dst, const void* src, int src_bytes) {
  if (src_bytes == 16) {
    *static_cast<uint4*>(dst) = *static_cast<const uint4*>(src);
    return;
  }
  u8* to = static_cast<u8*>(dst);
  const u8* from = static_cast<const u8*>(src);
  for (int i = 0; i < 16; ++i) to[i] = i < src_bytes ? from[i] : u8(0);
}
__device__ __forceinline__ void cp_async_4(void* dst, const void* src) {
  *static_cast<u32*>(dst) = *static_cast<const u32*>(src);
}
__device__ __forceinline__ void cp_async_commit() {}
template <int N> __device__ __forceinline__ void cp_async_wait() {}

#else
__device__ __forceinline__ u32 shared_address(const void* p) {
  return static_cast<u32>(__cvta_generic_to_shared(p));
}
// 16 bytes, of which the first src_bytes are copied and the rest zero-filled.
__device__ __forceinline__ void cp_async_16(void* dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(shared_address(dst)), "l"(src),
               "r"(src_bytes));
}
// A 4-byte copy (cached at all levels: rows of LSE and Δ are read by many blocks).
__device__ __forceinline__ void cp_async_4(void* dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(shared_address(dst)), "l"(src));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N));
}

#endif

}  // namespace mf
