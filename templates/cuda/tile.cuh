// Tile primitives for warp-level tensor-core kernels: element types, register fragments
// of an m16n8k16 product, loads from shared memory into fragments, the product itself,
// and global-to-shared tile copies. Kernels are written with these only.
//
// No CUDA headers: NVRTC compiles this without an include path, so conversions and
// tensor-core operations are spelled in PTX.
#pragma once

// Tile primitives for warp-level tensor-core kernels: element types, register fragments
// of an m16n8k16 product, loads from shared memory into fragments, the product itself,
// and global-to-shared tile copies. Kernels are written with these only.
//
// On NVIDIA the products are tensor-core mma.sync and the loads ldmatrix, spelled in PTX
// (NVRTC compiles this without CUDA headers). namespace lanes holds the same operations
// written per lane with shuffles — what HIP compiles (see vendor.cuh), and what the GPU
// tests compare with the PTX on NVIDIA.
#pragma once

namespace mf {

struct bf16 { u16 bits; };
struct f16 { u16 bits; };

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(bf16 x) { return __uint_as_float(u32(x.bits) << 16); }
__device__ __forceinline__ float to_float(f16 x) { return f16_bits_to_float(x.bits); }
__device__ __forceinline__ float to_float(bool x) { return x ? 1.0f : 0.0f; }

template <class T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ bf16 from_float<bf16>(float x) { return {float_to_bf16_bits(x)}; }
template <> __device__ __forceinline__ f16 from_float<f16>(float x) { return {float_to_f16_bits(x)}; }

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
__device__ __forceinline__ float neg_inf() { return -__int_as_float(0x7f800000); }
__device__ __forceinline__ float pos_inf() { return __int_as_float(0x7f800000); }

// ---- Fragments ----------------------------------------------------------------------
// A warp's share of an m16n8k16 product. Lane l holds, with g = l / 4 and t = l % 4:
//   A (16 rows x 16 k): pair 0 = (g, 2t..2t+1), pair 1 = (g+8, 2t..), pair 2 = (g, 8+2t..),
//                       pair 3 = (g+8, 8+2t..)
//   B (16 k x 8 cols):  pair 0 = (k 2t..2t+1, col g), pair 1 = (k 8+2t.., col g)
//   C (16 rows x 8):    c[0..1] = (g, 2t..2t+1), c[2..3] = (g+8, 2t..2t+1)
// For 16-bit types a pair is one 32-bit register (the first element in the low half), the
// native layout of mma.sync. For float a pair is two registers and the product runs as
// two tf32 m16n8k8 halves whose k order is permuted (physical k t <-> logical 2t, t+4 <->
// 2t+1) so the same pairs serve.
template <class T> struct Pair { u32 r; };
template <> struct Pair<float> { float x, y; };

template <class T> struct FragA { Pair<T> p[4]; };
template <class T> struct FragB { Pair<T> p[2]; };
struct FragC { float c[4]; };

__device__ __forceinline__ int lane_id() { return threadIdx.x & 31; }

template <class T> __device__ __forceinline__ Pair<T> make_pair(float a, float b);
#if MF_HIP
template <> __device__ __forceinline__ Pair<bf16> make_pair<bf16>(float a, float b) {
  return {u32(float_to_bf16_bits(a)) | u32(float_to_bf16_bits(b)) << 16};
}
template <> __device__ __forceinline__ Pair<f16> make_pair<f16>(float a, float b) {
  return {u32(float_to_f16_bits(a)) | u32(float_to_f16_bits(b)) << 16};
}
#else
template <> __device__ __forceinline__ Pair<bf16> make_pair<bf16>(float a, float b) {
  Pair<bf16> r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r.r) : "f"(b), "f"(a));
  return r;
}
template <> __device__ __forceinline__ Pair<f16> make_pair<f16>(float a, float b) {
  Pair<f16> r;
  asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r.r) : "f"(b), "f"(a));
  return r;
}
#endif
template <> __device__ __forceinline__ Pair<float> make_pair<float>(float a, float b) { return {a, b}; }

// A pair's two elements, as floats.
__device__ __forceinline__ void unpack(const Pair<bf16>& w, float& a, float& b) {
  a = __uint_as_float(w.r << 16);
  b = __uint_as_float(w.r & 0xffff0000u);
}
__device__ __forceinline__ void unpack(const Pair<f16>& w, float& a, float& b) {
  a = f16_bits_to_float(u16(w.r));
  b = f16_bits_to_float(u16(w.r >> 16));
}
__device__ __forceinline__ void unpack(const Pair<float>& w, float& a, float& b) {
  a = w.x;
  b = w.y;
}

// The A operand made from two C tiles (columns 0..7 and 8..15 of a 16-wide k step): the
// register-only hand-over from one product's output to the next product's input.
template <class T>
__device__ __forceinline__ FragA<T> a_from_c(const FragC& lo, const FragC& hi) {
  FragA<T> a;
  a.p[0] = make_pair<T>(lo.c[0], lo.c[1]);
  a.p[1] = make_pair<T>(lo.c[2], lo.c[3]);
  a.p[2] = make_pair<T>(hi.c[0], hi.c[1]);
  a.p[3] = make_pair<T>(hi.c[2], hi.c[3]);
  return a;
}

// ---- Reductions across lanes ----------------------------------------------------------
// A quad (lanes 4g .. 4g+3) holds one row of a C fragment; a warp, 32 lanes of anything.
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, shuffle_xor(x, 1));
  return fmaxf(x, shuffle_xor(x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += shuffle_xor(x, 1);
  return x + shuffle_xor(x, 2);
}
__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) x += shuffle_xor(x, offset);
  return x;
}

// ---- Per-lane products and loads (namespace lanes) ------------------------------------
// The fragment operations without tensor cores or ldmatrix: each lane reads its own pairs
// from shared memory, and a product gathers the A row and B columns of a lane's four C
// elements from the lanes that hold them (16 shuffles per k half).
namespace lanes {

__device__ __forceinline__ Pair<float> shuffle_pair(const Pair<float>& w, int lane) {
  return {shuffle(w.x, lane), shuffle(w.y, lane)};
}
template <class T> __device__ __forceinline__ Pair<T> shuffle_pair(const Pair<T>& w, int lane) {
  return {shuffle(w.r, lane)};
}
__device__ __forceinline__ float dot_pairs(const Pair<float>& a, const Pair<float>& b) { return a.x * b.x + a.y * b.y; }
template <class T> __device__ __forceinline__ float dot_pairs(const Pair<T>& a, const Pair<T>& b) {
  float a0, a1, b0, b1;
  unpack(a, a0, a1);
  unpack(b, b0, b1);
  return fmaf(a1, b1, a0 * b0);
}

// d += a·b. Lane (g, t) needs A rows g and g+8 (on lanes 4g + s) and B columns 2t and 2t+1
// (on lanes 8t + s and 8t + 4 + s), s = 0..3 covering k pairs 2s and 8+2s.
template <class T> __device__ __forceinline__ void mma(FragC& d, const FragA<T>& a, const FragB<T>& b) {
  const int g = lane_id() / 4, t = lane_id() % 4;
#pragma unroll
  for (int s = 0; s < 4; ++s) {
    Pair<T> row[4], col0[2], col1[2];
#pragma unroll
    for (int i = 0; i < 4; ++i) row[i] = shuffle_pair(a.p[i], 4 * g + s);
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      col0[i] = shuffle_pair(b.p[i], 8 * t + s);
      col1[i] = shuffle_pair(b.p[i], 8 * t + 4 + s);
    }
    d.c[0] += dot_pairs(row[0], col0[0]) + dot_pairs(row[2], col0[1]);
    d.c[1] += dot_pairs(row[0], col1[0]) + dot_pairs(row[2], col1[1]);
    d.c[2] += dot_pairs(row[1], col0[0]) + dot_pairs(row[3], col0[1]);
    d.c[3] += dot_pairs(row[1], col1[0]) + dot_pairs(row[3], col1[1]);
  }
}

// The pair (first[0], first[step]).
__device__ __forceinline__ Pair<float> read_pair(const float* first, int step) { return {first[0], first[step]}; }
template <class T> __device__ __forceinline__ Pair<T> read_pair(const T* first, int step) {
  return {u32(first[0].bits) | u32(first[step].bits) << 16};
}

// A from X[row][k]: rows r0..r0+15, k k0..k0+15.
template <class T> __device__ __forceinline__ void load_a(FragA<T>& a, const T* x, int ld, int r0, int k0) {
  const int g = lane_id() / 4, t = lane_id() % 4;
#pragma unroll
  for (int i = 0; i < 4; ++i) a.p[i] = read_pair(x + (r0 + g + (i & 1) * 8) * ld + k0 + (i >> 1) * 8 + 2 * t, 1);
}
// A from X[k][row] (the operand stored transposed).
template <class T> __device__ __forceinline__ void load_a_t(FragA<T>& a, const T* x, int ld, int r0, int k0) {
  const int g = lane_id() / 4, t = lane_id() % 4;
#pragma unroll
  for (int i = 0; i < 4; ++i) a.p[i] = read_pair(x + (k0 + (i >> 1) * 8 + 2 * t) * ld + r0 + g + (i & 1) * 8, ld);
}
// B from X[n][k]: columns n0..n0+7, k k0..k0+15.
template <class T> __device__ __forceinline__ void load_b(FragB<T>& b, const T* x, int ld, int n0, int k0) {
  const int g = lane_id() / 4, t = lane_id() % 4;
#pragma unroll
  for (int i = 0; i < 2; ++i) b.p[i] = read_pair(x + (n0 + g) * ld + k0 + i * 8 + 2 * t, 1);
}
// B from X[k][n].
template <class T> __device__ __forceinline__ void load_b_t(FragB<T>& b, const T* x, int ld, int k0, int n0) {
  const int g = lane_id() / 4, t = lane_id() % 4;
#pragma unroll
  for (int i = 0; i < 2; ++i) b.p[i] = read_pair(x + (k0 + i * 8 + 2 * t) * ld + n0 + g, ld);
}

}  // namespace lanes

// ---- Products and shared memory -> fragments -----------------------------------------
#if MF_HIP || MF_TILE_LANES
// HIP: the per-lane operations (no matrix-core path yet: see docs/hip.md).
template <class T> __device__ __forceinline__ void mma(FragC& d, const FragA<T>& a, const FragB<T>& b) {
  lanes::mma(d, a, b);
}
// d = a·b + c with c kept.
template <class T>
__device__ __forceinline__ void mma(FragC& d, const FragA<T>& a, const FragB<T>& b, const FragC& c) {
  d = c;
  lanes::mma(d, a, b);
}
using lanes::load_a;
using lanes::load_a_t;
using lanes::load_b;
using lanes::load_b_t;
// Two B fragments at once: columns n0..n0+7 and n0+8..n0+15.
template <class T>
__device__ __forceinline__ void load_b2(FragB<T>& b0, FragB<T>& b1, const T* x, int ld, int n0, int k0) {
  load_b(b0, x, ld, n0, k0);
  load_b(b1, x, ld, n0 + 8, k0);
}
template <class T>
__device__ __forceinline__ void load_b_t2(FragB<T>& b0, FragB<T>& b1, const T* x, int ld, int k0, int n0) {
  load_b_t(b0, x, ld, k0, n0);
  load_b_t(b1, x, ld, k0, n0 + 8);
}
#else
__device__ __forceinline__ void mma(FragC& d, const FragA<bf16>& a, const FragB<bf16>& b) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(d.c[0]), "+f"(d.c[1]), "+f"(d.c[2]), "+f"(d.c[3])
      : "r"(a.p[0].r), "r"(a.p[1].r), "r"(a.p[2].r), "r"(a.p[3].r), "r"(b.p[0].r), "r"(b.p[1].r));
}
__device__ __forceinline__ void mma(FragC& d, const FragA<f16>& a, const FragB<f16>& b) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(d.c[0]), "+f"(d.c[1]), "+f"(d.c[2]), "+f"(d.c[3])
      : "r"(a.p[0].r), "r"(a.p[1].r), "r"(a.p[2].r), "r"(a.p[3].r), "r"(b.p[0].r), "r"(b.p[1].r));
}

__device__ __forceinline__ u32 to_tf32(float x) {
  u32 r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ void mma_tf32(FragC& d, const u32 (&a)[4], const u32 (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(d.c[0]), "+f"(d.c[1]), "+f"(d.c[2]), "+f"(d.c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
// float operands keep float accuracy through three tf32 products: a·b ≈ a_hi·b_hi +
// a_hi·b_lo + a_lo·b_hi, where x_lo = x − tf32(x) (the lo·lo term is below float rounding).
__device__ __forceinline__ void mma_3xtf32(FragC& d, const float (&a)[4], const float (&b)[2]) {
  u32 ah[4], al[4], bh[2], bl[2];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    ah[i] = to_tf32(a[i]);
    al[i] = to_tf32(a[i] - __uint_as_float(ah[i]));
  }
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    bh[i] = to_tf32(b[i]);
    bl[i] = to_tf32(b[i] - __uint_as_float(bh[i]));
  }
  mma_tf32(d, al, bh);
  mma_tf32(d, ah, bl);
  mma_tf32(d, ah, bh);
}
__device__ __forceinline__ void mma(FragC& d, const FragA<float>& a, const FragB<float>& b) {
  const float a0[4] = {a.p[0].x, a.p[1].x, a.p[0].y, a.p[1].y};
  const float b0[2] = {b.p[0].x, b.p[0].y};
  mma_3xtf32(d, a0, b0);
  const float a1[4] = {a.p[2].x, a.p[3].x, a.p[2].y, a.p[3].y};
  const float b1[2] = {b.p[1].x, b.p[1].y};
  mma_3xtf32(d, a1, b1);
}
// d = a·b + c with c kept: the first k step of a product whose accumulator starts from a
// tile that is used again (the bias), without copying it.
__device__ __forceinline__ void mma(FragC& d, const FragA<bf16>& a, const FragB<bf16>& b, const FragC& c) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};"
      : "=f"(d.c[0]), "=f"(d.c[1]), "=f"(d.c[2]), "=f"(d.c[3])
      : "r"(a.p[0].r), "r"(a.p[1].r), "r"(a.p[2].r), "r"(a.p[3].r), "r"(b.p[0].r), "r"(b.p[1].r), "f"(c.c[0]),
        "f"(c.c[1]), "f"(c.c[2]), "f"(c.c[3]));
}
__device__ __forceinline__ void mma(FragC& d, const FragA<f16>& a, const FragB<f16>& b, const FragC& c) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%10,%11,%12,%13};"
      : "=f"(d.c[0]), "=f"(d.c[1]), "=f"(d.c[2]), "=f"(d.c[3])
      : "r"(a.p[0].r), "r"(a.p[1].r), "r"(a.p[2].r), "r"(a.p[3].r), "r"(b.p[0].r), "r"(b.p[1].r), "f"(c.c[0]),
        "f"(c.c[1]), "f"(c.c[2]), "f"(c.c[3]));
}
__device__ __forceinline__ void mma(FragC& d, const FragA<float>& a, const FragB<float>& b, const FragC& c) {
  d = c;
  mma(d, a, b);
}

// Fragments from shared memory: tiles are row-major with a leading dimension `ld` (elements), padded so
// that the eight rows an ldmatrix reads fall in distinct banks.
// A from X[row][k]: rows r0..r0+15, k k0..k0+15.
template <class T>
__device__ __forceinline__ void load_a(FragA<T>& a, const T* x, int ld, int r0, int k0) {
  const int l = lane_id(), m = l / 8;
  const T* row = x + (r0 + (m & 1) * 8 + l % 8) * ld + k0 + (m >> 1) * 8;
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(a.p[0].r), "=r"(a.p[1].r), "=r"(a.p[2].r), "=r"(a.p[3].r)
               : "r"(shared_address(row)));
}
// A from X[k][row] (the operand stored transposed).
template <class T>
__device__ __forceinline__ void load_a_t(FragA<T>& a, const T* x, int ld, int r0, int k0) {
  const int l = lane_id(), m = l / 8;
  const T* row = x + (k0 + (m >> 1) * 8 + l % 8) * ld + r0 + (m & 1) * 8;
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(a.p[0].r), "=r"(a.p[1].r), "=r"(a.p[2].r), "=r"(a.p[3].r)
               : "r"(shared_address(row)));
}
// B from X[n][k]: columns n0..n0+7, k k0..k0+15.
template <class T>
__device__ __forceinline__ void load_b(FragB<T>& b, const T* x, int ld, int n0, int k0) {
  const int l = lane_id() % 16;
  const T* row = x + (n0 + l % 8) * ld + k0 + (l / 8) * 8;
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];"
               : "=r"(b.p[0].r), "=r"(b.p[1].r)
               : "r"(shared_address(row)));
}
// B from X[k][n].
template <class T>
__device__ __forceinline__ void load_b_t(FragB<T>& b, const T* x, int ld, int k0, int n0) {
  const int l = lane_id() % 16;
  const T* row = x + (k0 + l) * ld + n0;
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];"
               : "=r"(b.p[0].r), "=r"(b.p[1].r)
               : "r"(shared_address(row)));
}

// Two B fragments at once (columns n0..n0+7 and n0+8..n0+15): one ldmatrix.x4.
template <class T>
__device__ __forceinline__ void load_b2(FragB<T>& b0, FragB<T>& b1, const T* x, int ld, int n0, int k0) {
  const int l = lane_id();
  const T* row = x + (n0 + (l / 16) * 8 + l % 8) * ld + k0 + ((l / 8) & 1) * 8;
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(b0.p[0].r), "=r"(b0.p[1].r), "=r"(b1.p[0].r), "=r"(b1.p[1].r)
               : "r"(shared_address(row)));
}
template <class T>
__device__ __forceinline__ void load_b_t2(FragB<T>& b0, FragB<T>& b1, const T* x, int ld, int k0, int n0) {
  const int l = lane_id();
  const T* row = x + (k0 + l % 16) * ld + n0 + (l / 16) * 8;
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(b0.p[0].r), "=r"(b0.p[1].r), "=r"(b1.p[0].r), "=r"(b1.p[1].r)
               : "r"(shared_address(row)));
}

// float tiles: no ldmatrix for 32-bit elements, so lanes read their pairs directly.
template <>
__device__ __forceinline__ void load_a<float>(FragA<float>& a, const float* x, int ld, int r0, int k0) {
  lanes::load_a(a, x, ld, r0, k0);
}
template <>
__device__ __forceinline__ void load_a_t<float>(FragA<float>& a, const float* x, int ld, int r0, int k0) {
  lanes::load_a_t(a, x, ld, r0, k0);
}
template <>
__device__ __forceinline__ void load_b<float>(FragB<float>& b, const float* x, int ld, int n0, int k0) {
  lanes::load_b(b, x, ld, n0, k0);
}
template <>
__device__ __forceinline__ void load_b_t<float>(FragB<float>& b, const float* x, int ld, int k0, int n0) {
  lanes::load_b_t(b, x, ld, k0, n0);
}
template <>
__device__ __forceinline__ void load_b2<float>(FragB<float>& b0, FragB<float>& b1, const float* x, int ld, int n0,
                                               int k0) {
  load_b(b0, x, ld, n0, k0);
  load_b(b1, x, ld, n0 + 8, k0);
}
template <>
__device__ __forceinline__ void load_b_t2<float>(FragB<float>& b0, FragB<float>& b1, const float* x, int ld, int k0,
                                                 int n0) {
  load_b_t(b0, x, ld, k0, n0);
  load_b_t(b1, x, ld, k0, n0 + 8);
}

#endif

// ---- Global -> shared tile copies -------------------------------------------------------
// (cp_async_16/4 and their commit and wait are in vendor.cuh.)
template <class T> __device__ __forceinline__ T zero_value() { T v; v.bits = 0; return v; }
template <> __device__ __forceinline__ float zero_value<float>() { return 0.0f; }
template <class T> __device__ __forceinline__ T one_value() { return from_float<T>(1.0f); }
template <class T> __device__ __forceinline__ T negated(T x) { x.bits ^= 0x8000u; return x; }
template <> __device__ __forceinline__ float negated<float>(float x) { return -x; }

// The 16-byte pieces of a kRows x kCols tile that one of kThreads threads copies: pieces
// thread + i·kThreads (i < kCount) in row-major order. Their positions depend only on the
// thread, so a copy inside a loop costs an address add and a cp.async per piece.
template <class T, int kRows, int kCols, int kThreads>
struct TilePieces {
  static constexpr int kPerPiece = 16 / int(sizeof(T));
  static constexpr int kPiecesPerRow = kCols / kPerPiece;
  static constexpr int kPieces = kRows * kPiecesPerRow;
  static constexpr int kCount = (kPieces + kThreads - 1) / kThreads;
  static_assert(kCols % kPerPiece == 0, "tile rows are whole 16-byte pieces");
  int first;  // this thread's first piece

  __device__ __forceinline__ explicit TilePieces(int thread) : first(thread) {}
  __device__ __forceinline__ bool exists(int i) const { return kPieces % kThreads == 0 || first + i * kThreads < kPieces; }
  __device__ __forceinline__ int row(int i) const { return (first + i * kThreads) / kPiecesPerRow; }
  __device__ __forceinline__ int col(int i) const { return (first + i * kThreads) % kPiecesPerRow * kPerPiece; }

  // A tile inside the tensor: every piece whole. Where the threads cover whole rows, a
  // thread's pieces are a fixed number of rows apart: one per-thread address, and offsets
  // that are the same for every thread (no registers held per piece).
  __device__ __forceinline__ void copy(T* dst, int ld, const T* src, i64 row_stride) const {
    if constexpr (kThreads % kPiecesPerRow == 0) {
      constexpr int kRowStep = kThreads / kPiecesPerRow;
      T* to = dst + row(0) * ld + col(0);
      const T* from = src + row(0) * row_stride + col(0);
#pragma unroll
      for (int i = 0; i < kCount; ++i)
        if (exists(i)) cp_async_16(to + i * kRowStep * ld, from + i * kRowStep * row_stride, 16);
    } else {
#pragma unroll
      for (int i = 0; i < kCount; ++i)
        if (exists(i)) cp_async_16(dst + row(i) * ld + col(i), src + row(i) * row_stride + col(i), 16);
    }
  }
  // A tile at the tensor's edge: rows from valid_rows and columns from valid_cols on are
  // zero-filled (a zero-byte copy still needs a valid address: the tile's start).
  __device__ __forceinline__ void copy_edge(T* dst, int ld, const T* src, i64 row_stride, int valid_rows,
                                            int valid_cols) const {
    constexpr bool kWholeRows = kThreads % kPiecesPerRow == 0;
    constexpr int kRowStep = kWholeRows ? kThreads / kPiecesPerRow : 0;
    // Whole rows: the column is the same for every piece, so is the row's share of it.
    const int in_first = valid_cols - col(0);
    const int row_bytes = in_first <= 0 ? 0 : (in_first >= kPerPiece ? 16 : in_first * int(sizeof(T)));
    const T* from = src + row(0) * row_stride + col(0);
#pragma unroll
    for (int i = 0; i < kCount; ++i) {
      if (!exists(i)) continue;
      const int r = kWholeRows ? row(0) + i * kRowStep : row(i), c = kWholeRows ? col(0) : col(i);
      int bytes = row_bytes;
      const T* piece = kWholeRows ? from + i * kRowStep * row_stride : src + r * row_stride + c;
      if constexpr (!kWholeRows) {
        const int in_row = valid_cols - c;
        bytes = in_row <= 0 ? 0 : (in_row >= kPerPiece ? 16 : in_row * int(sizeof(T)));
      }
      if (r >= valid_rows) bytes = 0;
      cp_async_16(dst + r * ld + c, bytes > 0 ? piece : src, bytes);
    }
  }
};

// A tile at the tensor's edge in pieces (TilePieces::copy_edge), kept out of line: edges
// are one tile in many, and inlined their bounds arithmetic would be hoisted into the
// kernels' loops.
template <class T, int kRows, int kCols, int kThreads>
__device__ __noinline__ void copy_tile_edge(T* dst, int ld, const T* src, i64 row_stride, int valid_rows,
                                            int valid_cols, int thread) {
  TilePieces<T, kRows, kCols, kThreads>(thread).copy_edge(dst, ld, src, row_stride, valid_rows, valid_cols);
}

// Copies a kRows x kCols tile element by element: element (r, c) at src[r·row_stride +
// c·col_stride] into dst[r·ld + c], zero where r >= valid_rows or c >= valid_cols. The
// path of tensors that cannot be copied in 16-byte pieces; kept out of line so that the
// kernels' loops stay small.
template <class T, int kRows, int kCols, int kThreads>
__device__ __noinline__ void copy_tile_elements(T* dst, int ld, const T* src, i64 row_stride, i64 col_stride,
                                                int valid_rows, int valid_cols, int thread) {
  for (int i = thread; i < kRows * kCols; i += kThreads) {
    const int r = i / kCols, c = i % kCols;
    dst[r * ld + c] = r < valid_rows && c < valid_cols ? src[r * row_stride + c * col_stride] : zero_value<T>();
  }
}

// Copies a rows x cols tile (cols a multiple of 16 bytes of T) whose element (r, c) is at
// src[r·row_stride + c·col_stride] into dst[r·ld + c]; elements with r >= valid_rows or
// c >= valid_cols become zero. With `vector` (col_stride 1, 16-byte aligned rows) the copy
// is asynchronous in 16-byte pieces; otherwise element by element. The kThreads threads
// numbered `thread` = 0 .. kThreads-1 take part.
template <class T, int kRows, int kCols, int kThreads>
__device__ __forceinline__ void copy_tile(T* dst, int ld, const T* src, i64 row_stride, i64 col_stride,
                                          int valid_rows, int valid_cols, bool vector, int thread) {
  constexpr int kPerVector = 16 / sizeof(T);
  static_assert(kCols % kPerVector == 0, "tile width must be a multiple of 16 bytes");
  if (vector) {
    constexpr int kVectors = kRows * kCols / kPerVector;
#pragma unroll
    for (int i = thread; i < kVectors; i += kThreads) {
      const int r = i / (kCols / kPerVector), c = (i % (kCols / kPerVector)) * kPerVector;
      const int in_row = r < valid_rows ? valid_cols - c : 0;
      const int bytes = in_row <= 0 ? 0 : (in_row >= kPerVector ? 16 : in_row * int(sizeof(T)));
      // A zero-byte copy still needs a valid address: point it at the tile's start.
      const T* from = bytes > 0 ? src + r * row_stride + c : src;
      cp_async_16(dst + r * ld + c, from, bytes);
    }
  } else {
    copy_tile_elements<T, kRows, kCols, kThreads>(dst, ld, src, row_stride, col_stride, valid_rows, valid_cols,
                                                  thread);
  }
}

// ---- Shared -> global ------------------------------------------------------------------
// Rows first .. first+15 of a staged tile (ld elements a row, kCols wide) to the tensor at
// `dst` (tile element (r, c) at dst[r·row_stride + c·col_stride]), rows below valid_rows
// and columns below valid_cols only: in 16-byte pieces where `vector` allows (col_stride
// 1, 16-byte aligned rows), element by element otherwise. One warp.
template <class T, int kCols>
__device__ __forceinline__ void store_warp_rows(const T* stage, int ld, int first, T* dst, i64 row_stride,
                                                i64 col_stride, int valid_rows, int valid_cols, bool vector) {
  constexpr int kPerVector = 16 / int(sizeof(T));
  constexpr int kVectorsPerRow = kCols / kPerVector;
  static_assert(kCols % kPerVector == 0, "tile width must be a multiple of 16 bytes");
  for (int i = lane_id(); i < 16 * kVectorsPerRow; i += 32) {
    const int r = first + i / kVectorsPerRow, c = (i % kVectorsPerRow) * kPerVector;
    if (r >= valid_rows || c >= valid_cols) continue;
    const T* from = stage + r * ld + c;
    T* to = dst + r * row_stride + c * col_stride;
    if (vector && c + kPerVector <= valid_cols) {
      *reinterpret_cast<uint4*>(to) = *reinterpret_cast<const uint4*>(from);
    } else {
      for (int e = 0; e < kPerVector && c + e < valid_cols; ++e) to[e * col_stride] = from[e];
    }
  }
}

}  // namespace mf
