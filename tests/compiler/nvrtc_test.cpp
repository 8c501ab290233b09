// NVRTC through mf::compiler::Nvrtc: compiling needs the toolkit's libnvrtc, not a GPU. On a
// machine without NVRTC the suite skips and says why.
#include "mf/compiler/nvrtc.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "mf/compiler/compile_error.h"

namespace mf::compiler {
namespace {

using ::testing::HasSubstr;

constexpr const char* kAxpy = R"(
extern "C" __global__ void axpy(float a, const float* x, float* y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
})";

// wgmma exists only on sm_90a: compiling this proves the arch reaches ptxas.
constexpr const char* kWgmmaFence = R"(
extern "C" __global__ void fence() { asm volatile("wgmma.fence.sync.aligned;"); })";

// 48 live values per thread cannot fit in 24 registers.
constexpr const char* kPressure = R"(
extern "C" __global__ void pressure(float* y) {
  float r[48];
#pragma unroll
  for (int i = 0; i < 48; ++i) r[i] = y[i * blockDim.x + threadIdx.x];
  float acc = 0;
#pragma unroll
  for (int i = 0; i < 48; ++i)
    for (int j = 0; j < 48; ++j) acc += r[i] * r[j] * y[j];
#pragma unroll
  for (int i = 0; i < 48; ++i) y[i * blockDim.x + threadIdx.x] = r[i] + acc;
})";

class NvrtcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Nvrtc::instance().available()) GTEST_SKIP() << "NVRTC: " << Nvrtc::instance().unavailable_reason();
  }

  static CompiledBinary compile(const std::string& source, const std::string& arch,
                                const std::vector<std::string>& options = {}) {
    return Nvrtc::instance().compile(source, "test.cu", arch, options);
  }

  // The CompileError that compiling `source` throws.
  static CompileError failure(const std::string& source, const std::string& name, const std::string& arch,
                              const std::vector<std::string>& options = {}) {
    try {
      Nvrtc::instance().compile(source, name, arch, options);
    } catch (const CompileError& error) {
      return error;
    }
    ADD_FAILURE() << "compiling " << name << " for " << arch << " did not throw";
    return CompileError(CompileError::Kind::kCorruptBinary, "");
  }

  static void expect_cubin(const CompiledBinary& binary) {
    ASSERT_GE(binary.cubin.size(), 4u);
    EXPECT_EQ(std::memcmp(binary.cubin.data(), "\x7f" "ELF", 4), 0);
  }
};

TEST_F(NvrtcTest, ReportsItsVersion) {
  EXPECT_THAT(Nvrtc::instance().version(), ::testing::MatchesRegex("[0-9]+\\.[0-9]+"));
  EXPECT_EQ(Nvrtc::instance().unavailable_reason(), "");
}

TEST_F(NvrtcTest, CompilesForSm80WithAResourceReport) {
  const CompiledBinary binary = compile(kAxpy, "sm_80");
  expect_cubin(binary);
  EXPECT_THAT(binary.log, HasSubstr("Compiling entry function 'axpy' for 'sm_80'"));
  const auto kernels = parse_ptxas_report(binary.log);
  ASSERT_EQ(kernels.size(), 1u);
  EXPECT_EQ(kernels[0].function, "axpy");
  EXPECT_GT(kernels[0].registers, 0);
  EXPECT_LE(kernels[0].registers, 32);
  EXPECT_EQ(kernels[0].spill_store_bytes, 0);
  EXPECT_EQ(kernels[0].spill_load_bytes, 0);
}

TEST_F(NvrtcTest, Sm90aIsTheTarget) {
  const CompiledBinary binary = compile(kWgmmaFence, "sm_90a");
  expect_cubin(binary);
  EXPECT_THAT(binary.log, HasSubstr("for 'sm_90a'"));

  const CompileError error = failure(kWgmmaFence, "fence.cu", "sm_80");
  EXPECT_EQ(error.kind(), CompileError::Kind::kRejected);
  EXPECT_THAT(error.what(), HasSubstr("wgmma"));
  EXPECT_THAT(error.what(), HasSubstr("not supported on .target 'sm_80'"));
}

TEST_F(NvrtcTest, SyntaxErrorNamesTheSourceTheArchAndTheMessage) {
  const CompileError error = failure("__global__ void broken() { int x = ; }", "broken.cu", "sm_80");
  EXPECT_EQ(error.kind(), CompileError::Kind::kRejected);
  EXPECT_THAT(error.what(), HasSubstr("broken.cu"));
  EXPECT_THAT(error.what(), HasSubstr("sm_80"));
  EXPECT_THAT(error.what(), HasSubstr("error: expected an expression"));
}

TEST_F(NvrtcTest, LongLogsAreCutInTheMessage) {
  std::string source;
  for (int i = 0; i < 200; ++i) source += "__device__ int f" + std::to_string(i) + "() { return undeclared; }\n";
  const CompileError error = failure(source, "many.cu", "sm_80");
  EXPECT_EQ(error.kind(), CompileError::Kind::kRejected);
  EXPECT_THAT(error.what(), HasSubstr("more characters of log"));
  EXPECT_LT(std::strlen(error.what()), 4500u);
}

TEST_F(NvrtcTest, ForcedRegisterLimitSpills) {
  const CompiledBinary binary = compile(kPressure, "sm_80", {"--maxrregcount=24"});
  expect_cubin(binary);
  const auto kernels = parse_ptxas_report(binary.log);
  ASSERT_EQ(kernels.size(), 1u);
  EXPECT_EQ(kernels[0].function, "pressure");
  EXPECT_LE(kernels[0].registers, 24);
  EXPECT_GT(kernels[0].spill_store_bytes, 0);
  EXPECT_GT(kernels[0].spill_load_bytes, 0);
  EXPECT_GT(kernels[0].stack_frame_bytes, 0);
}

TEST_F(NvrtcTest, StaticSharedMemoryIsReported) {
  const CompiledBinary binary = compile(R"(
extern "C" __global__ void reverse(float* y) {
  __shared__ float s[256];
  s[threadIdx.x] = y[threadIdx.x];
  __syncthreads();
  y[threadIdx.x] = s[255 - threadIdx.x];
})",
                                        "sm_90a");
  const auto kernels = parse_ptxas_report(binary.log);
  ASSERT_EQ(kernels.size(), 1u);
  EXPECT_EQ(kernels[0].shared_bytes, 1024);
}

TEST_F(NvrtcTest, BadOptionsAndArchsAreRejected) {
  CompileError error = failure(kAxpy, "axpy.cu", "sm_80", {"--no-such-option"});
  EXPECT_EQ(error.kind(), CompileError::Kind::kRejected);
  EXPECT_THAT(error.what(), HasSubstr("axpy.cu"));

  error = failure(kAxpy, "axpy.cu", "sm_1");
  EXPECT_EQ(error.kind(), CompileError::Kind::kRejected);
  EXPECT_THAT(error.what(), HasSubstr("sm_1"));

  // A virtual arch gives PTX only.
  error = failure(kAxpy, "axpy.cu", "compute_80");
  EXPECT_EQ(error.kind(), CompileError::Kind::kRejected);
  EXPECT_THAT(error.what(), HasSubstr("no cubin"));
}

TEST_F(NvrtcTest, ConcurrentCompilations) {
  std::vector<CompiledBinary> binaries(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < binaries.size(); ++i)
    threads.emplace_back([&binaries, i] { binaries[i] = compile(kAxpy, i % 2 == 0 ? "sm_80" : "sm_90a"); });
  for (std::thread& thread : threads) thread.join();
  for (const CompiledBinary& binary : binaries) expect_cubin(binary);
  EXPECT_EQ(binaries[0].cubin, binaries[2].cubin);  // deterministic output: the cache relies on it
}

}  // namespace
}  // namespace mf::compiler
