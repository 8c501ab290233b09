// Hopper's warpgroup products (templates/cuda/wgmma.cuh) against a float64 reference on an
// sm_90a GPU: one warpgroup writes random tiles into the swizzled layouts of every row
// width (32, 64, 128 bytes), then computes
//   A·Bᵀ  with mma_ss, A [64 x D] and B [N x D] K-major (how EvoAttention v4 forms Q·Kᵀ),
//   P·V   with mma_rs, P [64 x N] as m16n8k16 A fragments loaded by ldmatrix (the mma.sync
//         path's loads) and V [N x D] read MN-major (how v4 forms P·V),
// for N = 16 … 128. Values have few significant bits, so every sum is exact: a wrong
// swizzle, descriptor stride or fragment order fails on equality, not on a tolerance.
// Skips without a GPU or on one older than sm_90a.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gpu/device_memory.h"
#include "gpu/raw_kernels.h"
#include "mf/compiler/nvrtc.h"
#include "mf/templates/templates.h"

namespace mf::gpu {
namespace {

constexpr const char* kKernels = R"(
namespace test {
template <int kRowBytes, int kN>
__device__ void run(const mf::bf16* a_g, const mf::bf16* b_g, const mf::bf16* p_g, const mf::bf16* v_g,
                    float* ab, float* pv) {
  using Rows = mf::wgmma::SwizzledRows<kRowBytes>;
  constexpr int kD = kRowBytes / 2, kLdP = kN + 8;
  extern __shared__ __align__(16) unsigned char raw[];
  unsigned char* a = reinterpret_cast<unsigned char*>((reinterpret_cast<unsigned long long>(raw) + 1023) / 1024 * 1024);
  unsigned char* b = a + 64 * kRowBytes;
  unsigned char* v = b + kN * kRowBytes;
  mf::bf16* p = reinterpret_cast<mf::bf16*>(v + kN * kRowBytes);
  auto put = [](unsigned char* tile, int r, int c, mf::bf16 x) {
    *reinterpret_cast<mf::bf16*>(tile + Rows::offset(r, c / 8) + c % 8 * 2) = x;
  };
  const int t = threadIdx.x;
  for (int i = t; i < 64 * kD; i += 128) put(a, i / kD, i % kD, a_g[i]);
  for (int i = t; i < kN * kD; i += 128) {
    put(b, i / kD, i % kD, b_g[i]);
    put(v, i / kD, i % kD, v_g[i]);
  }
  for (int i = t; i < 64 * kN; i += 128) p[i / kN * kLdP + i % kN] = p_g[i];
  mf::wgmma::fence_shared_for_products();
  __syncthreads();
  const int warp = t / 32, g = t % 32 / 4, q = t % 4;

  mf::FragC c[kN / 8];
  for (int j = 0; j < kN / 8; ++j) c[j] = mf::FragC{};
  mf::wgmma::fence();
  for (int kk = 0; kk < kD / 16; ++kk)  // the first step overwrites: scale-d = 0
    mf::wgmma::mma_ss<mf::bf16, kN>(c, mf::wgmma::k_major<mf::bf16, kRowBytes>(a, kk),
                                    mf::wgmma::k_major<mf::bf16, kRowBytes>(b, kk), kk > 0);
  mf::wgmma::commit();
  mf::wgmma::wait<0>();
  mf::wgmma::hold(c);
  for (int j = 0; j < kN / 8; ++j)
    for (int e = 0; e < 4; ++e) ab[(warp * 16 + g + e / 2 * 8) * kN + 8 * j + 2 * q + e % 2] = c[j].c[e];

  mf::FragC o[kD / 8];
  for (int j = 0; j < kD / 8; ++j) o[j] = mf::FragC{};
  mf::FragA<mf::bf16> pa[kN / 16];
  for (int kk = 0; kk < kN / 16; ++kk) mf::load_a(pa[kk], p, kLdP, warp * 16, kk * 16);
  mf::wgmma::fence();
  for (int kk = 0; kk < kN / 16; ++kk)
    mf::wgmma::mma_rs<mf::bf16, kD>(o, pa[kk], mf::wgmma::mn_major<mf::bf16, kRowBytes>(v, kk), 1);
  mf::wgmma::commit();
  mf::wgmma::wait<0>();
  mf::wgmma::hold(o);
  for (int j = 0; j < kD / 8; ++j)
    for (int e = 0; e < 4; ++e) pv[(warp * 16 + g + e / 2 * 8) * kD + 8 * j + 2 * q + e % 2] = o[j].c[e];
}
}  // namespace test
#define MF_WGMMA_TEST(W, N)                                                                                      \
  extern "C" __global__ void __launch_bounds__(128) wgmma_##W##_##N(const mf::bf16* a, const mf::bf16* b,       \
                                                                    const mf::bf16* p, const mf::bf16* v,       \
                                                                    float* ab, float* pv) {                     \
    test::run<W, N>(a, b, p, v, ab, pv);                                                                         \
  }
MF_WGMMA_TEST(32, 16) MF_WGMMA_TEST(32, 32) MF_WGMMA_TEST(32, 64) MF_WGMMA_TEST(32, 128)
MF_WGMMA_TEST(64, 16) MF_WGMMA_TEST(64, 32) MF_WGMMA_TEST(64, 64) MF_WGMMA_TEST(64, 128)
MF_WGMMA_TEST(128, 16) MF_WGMMA_TEST(128, 32) MF_WGMMA_TEST(128, 64) MF_WGMMA_TEST(128, 128)
)";

std::string source() {
  std::string text;
  for (const auto& file : templates::sources())
    if (file.path == "cuda/vendor.cuh" || file.path == "cuda/tile.cuh" || file.path == "cuda/wgmma.cuh" ||
        file.path == "cuda/wgmma_products.cuh")
      text += std::string(file.text) + "\n";
  return text + kKernels;
}

std::vector<float> random_values(std::mt19937& rng, std::size_t count) {
  std::uniform_int_distribution<int> value(-32, 32);
  std::vector<float> values(count);
  for (float& x : values) x = float(value(rng)) / 16.0f;
  return values;
}

// (row width in bytes, N)
class WgmmaGpu : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(WgmmaGpu, SwizzledProductsMatchTheReference) {
  std::unique_ptr<DeviceMemory> memory;
  Driver d{};
  try {
    d = driver();
    memory = std::make_unique<DeviceMemory>();
  } catch (const std::exception& error) {
    GTEST_SKIP() << "no CUDA device: " << error.what();
  }
  const std::string arch = device_arch(d);
  if (arch != "sm_90a") GTEST_SKIP() << "wgmma needs sm_90a; the device is " << arch;
  const auto [row_bytes, n] = GetParam();
  const int dim = row_bytes / 2;
  const auto binary = compiler::Nvrtc::instance().compile(source(), "wgmma.cu", arch);
  CUmodule module = nullptr;
  check(d.load(&module, binary.cubin.data()), "cuModuleLoadData");
  CUfunction kernel = nullptr;
  check(d.function(&kernel, module, fmt::format("wgmma_{}_{}", row_bytes, n).c_str()), "cuModuleGetFunction");
  const int shared = 1024 + (64 + 2 * n) * row_bytes + 64 * (n + 8) * 2;
  check(d.set_attribute(kernel, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, shared), "cuFuncSetAttribute");

  std::mt19937 rng(row_bytes * 1000 + n);
  const std::vector<float> a = random_values(rng, 64 * dim), b = random_values(rng, n * dim);
  const std::vector<float> p = random_values(rng, 64 * n), v = random_values(rng, n * dim);
  auto upload = [&](const std::vector<float>& values) {
    const std::vector<char> bytes = encode(values, "bf16");
    DeviceBuffer buffer = memory->allocate(bytes.size());
    memory->upload(buffer, bytes.data(), bytes.size());
    return buffer;
  };
  DeviceBuffer a_d = upload(a), b_d = upload(b), p_d = upload(p), v_d = upload(v);
  DeviceBuffer ab_d = memory->allocate(64 * n * 4), pv_d = memory->allocate(64 * dim * 4);
  memory->poison(ab_d, 64 * n * 4);
  memory->poison(pv_d, 64 * dim * 4);
  void* args[] = {&a_d.address, &b_d.address, &p_d.address, &v_d.address, &ab_d.address, &pv_d.address};
  check(d.launch(kernel, 1, 1, 1, 128, 1, 1, shared, nullptr, args, nullptr), "cuLaunchKernel");
  memory->synchronize();
  std::vector<float> ab(64 * n), pv(64 * dim);
  memory->download(ab.data(), ab_d, ab.size() * 4);
  memory->download(pv.data(), pv_d, pv.size() * 4);

  int wrong = 0;
  for (int r = 0; r < 64; ++r)
    for (int c = 0; c < n; ++c) {
      double expected = 0;
      for (int k = 0; k < dim; ++k) expected += double(a[r * dim + k]) * double(b[c * dim + k]);
      if (ab[r * n + c] != float(expected) && ++wrong <= 5)
        ADD_FAILURE() << "A·Bᵀ row " << r << " col " << c << ": " << ab[r * n + c] << " != " << expected;
    }
  for (int r = 0; r < 64; ++r)
    for (int c = 0; c < dim; ++c) {
      double expected = 0;
      for (int k = 0; k < n; ++k) expected += double(p[r * n + k]) * double(v[k * dim + c]);
      if (pv[r * dim + c] != float(expected) && ++wrong <= 10)
        ADD_FAILURE() << "P·V row " << r << " col " << c << ": " << pv[r * dim + c] << " != " << expected;
    }
  EXPECT_EQ(wrong, 0);
}

INSTANTIATE_TEST_SUITE_P(EverySwizzleAndWidth, WgmmaGpu,
                         ::testing::Combine(::testing::Values(32, 64, 128), ::testing::Values(16, 32, 64, 128)),
                         [](const ::testing::TestParamInfo<std::tuple<int, int>>& param) {
                           return fmt::format("rows{}_n{}", std::get<0>(param.param), std::get<1>(param.param));
                         });

}  // namespace
}  // namespace mf::gpu
