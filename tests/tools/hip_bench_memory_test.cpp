// The tuner's bench memory on the hip backend, against the fake HIP runtime
// (tests/runtime/fake_hip): copies round-trip, poison reads 0xFF, timing comes from events
// on the default stream, and the cache flush covers the device's last-level cache — MI300's
// 256 MiB Infinity Cache, which HIP does not report, not only its 4 MiB L2. Runs only as the
// ctest entry tools.fake_hip_bench.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "mf/tuner/capi_bench.h"
#include "mfjit/mfjit.h"

namespace mf::tuner {
namespace {

using ::testing::HasSubstr;

class FakeHipBench : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("MF_FAKE_HIP_DEVICES") == nullptr) GTEST_SKIP() << "runs only as the ctest entry tools.fake_hip_bench";
  }
  void TearDown() override { mf_context_destroy(context_); }

  std::unique_ptr<BenchMemory> memory_on(int device) {
    mf_context_options options;
    mf_context_options_init(&options);
    options.backend = MF_BACKEND_HIP;
    options.device = device;
    if (mf_context_create(&options, &context_) != MF_SUCCESS) throw std::runtime_error(mf_last_error());
    return bench_memory_for(context_, device);
  }

  static std::string journal() {
    void* library = dlopen(std::getenv("MFJIT_HIP_RUNTIME"), RTLD_NOW | RTLD_NOLOAD);
    if (library == nullptr) throw std::runtime_error("the fake HIP runtime is not loaded");
    const auto read = reinterpret_cast<const char* (*)()>(dlsym(library, "mf_fake_hip_journal"));
    dlclose(library);
    return read();
  }

  mf_context context_ = nullptr;
};

TEST_F(FakeHipBench, CopiesPoisonAndTimesThroughHip) {
  const auto memory = memory_on(0);
  std::vector<float> values(1000);
  std::iota(values.begin(), values.end(), 0.5f);
  void* buffer = memory->allocate(values.size() * sizeof(float));
  memory->upload(buffer, values.data(), values.size() * sizeof(float));
  std::vector<float> back(values.size());
  memory->download(back.data(), buffer, back.size() * sizeof(float));
  EXPECT_EQ(back, values);
  memory->poison(buffer, values.size() * sizeof(float));
  std::vector<unsigned char> bytes(values.size() * sizeof(float));
  memory->download(bytes.data(), buffer, bytes.size());
  EXPECT_EQ(bytes, std::vector<unsigned char>(bytes.size(), 0xFF));
  int runs = 0;
  EXPECT_DOUBLE_EQ(memory->time_us([&] { ++runs; }), 250.0);
  EXPECT_EQ(runs, 1);
  EXPECT_THAT(journal(), HasSubstr("event device=0 stream=(nil)\nevent device=0 stream=(nil)\n"));
  memory->release(buffer);
}

// Twice the last-level cache: gfx90a's 8 MiB L2; gfx942's 256 MiB Infinity Cache.
TEST_F(FakeHipBench, TheCacheFlushCoversTheLastLevelCache) {
  memory_on(0)->flush_caches();
  EXPECT_THAT(journal(), HasSubstr("memset8 device=0 value=1 bytes=" + std::to_string(16 << 20) + "\n"));
  mf_context_destroy(context_);
  context_ = nullptr;
  memory_on(1)->flush_caches();
  EXPECT_THAT(journal(), HasSubstr("memset8 device=1 value=1 bytes=" + std::to_string(512 << 20) + "\n"));
}

}  // namespace
}  // namespace mf::tuner
