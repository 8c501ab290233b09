// The per-lane tile primitives (tile.cuh's namespace lanes, what HIP compiles) against the
// tensor-core ones on an NVIDIA GPU: one warp loads the same shared tiles both ways — the
// fragments must be bit-for-bit equal — and multiplies them both ways; both products must
// match a float64 reference. This is how the AMD path's fragment logic is checked without
// an AMD GPU.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpu/device_memory.h"
#include "gpu/raw_kernels.h"
#include "mf/compiler/nvrtc.h"
#include "mf/templates/templates.h"

namespace mf::gpu {
namespace {

// One warp, 16x16 tiles a and b in shared memory (leading dimension 24). Per lane, words
// [0, 32) of `frags` are the tensor-core fragments and [32, 64) the per-lane ones: A and
// Aᵀ (8 words each), B from X[n][k] and from X[k][n] for columns 0..7 and 8..15 (4 each).
// Per lane, `out` holds C = A·B for columns 0..7 and 8..15, tensor cores then lanes.
constexpr const char* kKernels = R"(
namespace test {
template <class T> __device__ void words(const mf::Pair<T>& w, unsigned* out) { out[0] = w.r; out[1] = 0; }
template <> __device__ void words<float>(const mf::Pair<float>& w, unsigned* out) {
  out[0] = __float_as_uint(w.x);
  out[1] = __float_as_uint(w.y);
}
template <class T, int N> __device__ void store(const mf::Pair<T> (&p)[N], unsigned*& out) {
  for (int i = 0; i < N; ++i, out += 2) words(p[i], out);
}
template <class T> __device__ void run(const T* a_g, const T* b_g, float* out, unsigned* frags) {
  constexpr int kLd = 24;
  __shared__ T a[16 * kLd], b[16 * kLd];
  const int l = threadIdx.x;
  for (int i = l; i < 256; i += 32) {
    a[i / 16 * kLd + i % 16] = a_g[i];
    b[i / 16 * kLd + i % 16] = b_g[i];
  }
  __syncthreads();
  mf::FragA<T> a_native, a_lanes, at_native, at_lanes;
  mf::FragB<T> b_native[2], b_lanes[2], bt_native[2], bt_lanes[2];
  mf::load_a(a_native, a, kLd, 0, 0);
  mf::lanes::load_a(a_lanes, a, kLd, 0, 0);
  mf::load_a_t(at_native, a, kLd, 0, 0);
  mf::lanes::load_a_t(at_lanes, a, kLd, 0, 0);
  mf::load_b2(b_native[0], b_native[1], b, kLd, 0, 0);
  mf::load_b_t2(bt_native[0], bt_native[1], b, kLd, 0, 0);
  for (int j = 0; j < 2; ++j) {
    mf::lanes::load_b(b_lanes[j], b, kLd, 8 * j, 0);
    mf::lanes::load_b_t(bt_lanes[j], b, kLd, 0, 8 * j);
  }
  unsigned* w = frags + l * 64;
  store(a_native.p, w); store(at_native.p, w);
  for (int j = 0; j < 2; ++j) { store(b_native[j].p, w); store(bt_native[j].p, w); }
  store(a_lanes.p, w); store(at_lanes.p, w);
  for (int j = 0; j < 2; ++j) { store(b_lanes[j].p, w); store(bt_lanes[j].p, w); }
  for (int j = 0; j < 2; ++j) {
    mf::FragC native{}, lanes{};
    mf::mma(native, a_native, b_native[j]);
    mf::lanes::mma(lanes, a_lanes, b_lanes[j]);
    for (int e = 0; e < 4; ++e) {
      out[l * 16 + j * 4 + e] = native.c[e];
      out[l * 16 + 8 + j * 4 + e] = lanes.c[e];
    }
  }
}
}  // namespace test
extern "C" __global__ void tile_bf16(const mf::bf16* a, const mf::bf16* b, float* out, unsigned* f) { test::run(a, b, out, f); }
extern "C" __global__ void tile_f16(const mf::f16* a, const mf::f16* b, float* out, unsigned* f) { test::run(a, b, out, f); }
extern "C" __global__ void tile_f32(const float* a, const float* b, float* out, unsigned* f) { test::run(a, b, out, f); }
)";

std::string source() {
  std::string text;
  for (const auto& file : templates::sources())
    if (file.path == "cuda/vendor.cuh" || file.path == "cuda/tile.cuh") text += std::string(file.text) + "\n";
  return text + kKernels;
}

// Values with few significant bits (exact in bf16 and f16, and in the products' sums).
std::vector<float> random_tile(std::mt19937& rng) {
  std::uniform_int_distribution<int> value(-32, 32);
  std::vector<float> tile(256);
  for (float& x : tile) x = float(value(rng)) / 16.0f;
  return tile;
}

class TileLanesGpu : public ::testing::TestWithParam<std::string> {};

TEST_P(TileLanesGpu, FragmentsAndProductsMatchTheTensorCores) {
  std::unique_ptr<DeviceMemory> memory;
  Driver d{};
  try {
    d = driver();
    memory = std::make_unique<DeviceMemory>();
  } catch (const std::exception& error) {
    GTEST_SKIP() << "no CUDA device: " << error.what();
  }
  const auto binary = compiler::Nvrtc::instance().compile(source(), "tile_lanes.cu", device_arch(d));
  CUmodule module = nullptr;
  check(d.load(&module, binary.cubin.data()), "cuModuleLoadData");
  const std::string type = GetParam();
  CUfunction kernel = nullptr;
  check(d.function(&kernel, module, ("tile_" + type).c_str()), "cuModuleGetFunction");

  std::mt19937 rng(7);
  const std::vector<float> a = random_tile(rng), b = random_tile(rng);
  const std::vector<char> a_bytes = encode(a, type), b_bytes = encode(b, type);
  DeviceBuffer a_d = memory->allocate(a_bytes.size()), b_d = memory->allocate(b_bytes.size());
  DeviceBuffer out_d = memory->allocate(32 * 16 * 4), frags_d = memory->allocate(32 * 64 * 4);
  memory->upload(a_d, a_bytes.data(), a_bytes.size());
  memory->upload(b_d, b_bytes.data(), b_bytes.size());
  memory->poison(out_d, 32 * 16 * 4);
  memory->poison(frags_d, 32 * 64 * 4);
  void* args[] = {&a_d.address, &b_d.address, &out_d.address, &frags_d.address};
  check(d.launch(kernel, 1, 1, 1, 32, 1, 1, 0, nullptr, args, nullptr), "cuLaunchKernel");
  memory->synchronize();
  std::vector<float> out(32 * 16);
  std::vector<std::uint32_t> frags(32 * 64);
  memory->download(out.data(), out_d, out.size() * 4);
  memory->download(frags.data(), frags_d, frags.size() * 4);

  for (int lane = 0; lane < 32; ++lane) {
    for (int word = 0; word < 32; ++word)
      EXPECT_EQ(frags[lane * 64 + word], frags[lane * 64 + 32 + word]) << "lane " << lane << " word " << word;
    const int g = lane / 4, t = lane % 4;
    for (int j = 0; j < 2; ++j)
      for (int e = 0; e < 4; ++e) {
        // C element e of fragment j: row g (+8 for e >= 2), column 8j + 2t + e % 2; B(k, n) = b[n][k].
        const int row = g + (e / 2) * 8, col = 8 * j + 2 * t + e % 2;
        double expected = 0;
        for (int k = 0; k < 16; ++k) expected += double(a[row * 16 + k]) * double(b[col * 16 + k]);
        EXPECT_EQ(out[lane * 16 + j * 4 + e], float(expected)) << "tensor cores, row " << row << " col " << col;
        EXPECT_EQ(out[lane * 16 + 8 + j * 4 + e], float(expected)) << "lanes, row " << row << " col " << col;
      }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryElementType, TileLanesGpu, ::testing::Values("bf16", "f16", "f32"),
                         [](const ::testing::TestParamInfo<std::string>& param) { return param.param; });

}  // namespace
}  // namespace mf::gpu
