// The tuner's bench memory on the cuda backend, against the fake CUDA driver with memory
// (tests/runtime/fake_cuda, mf_fake_cuda_memory): copies round-trip, poison reads 0xFF,
// timing comes from events on the default stream of the device's primary context, the cache
// flush covers twice the L2, and the bench reaches the driver through the runtime, which
// loaded and initialised it once. Runs only as the ctest entry tools.fake_cuda_bench.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cstdlib>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "mf/tuner/capi_bench.h"
#include "mfjit/mfjit.h"

namespace mf::tuner {
namespace {

using ::testing::HasSubstr;

class FakeCudaBench : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("MF_FAKE_CUDA_DEVICES") == nullptr) GTEST_SKIP() << "runs only as the ctest entry tools.fake_cuda_bench";
  }
  void TearDown() override { mf_context_destroy(context_); }

  std::unique_ptr<BenchMemory> memory_on(int device) {
    mf_context_destroy(context_);
    context_ = nullptr;
    mf_context_options options;
    mf_context_options_init(&options);
    options.backend = MF_BACKEND_CUDA;
    options.device = device;
    if (mf_context_create(&options, &context_) != MF_SUCCESS) throw std::runtime_error(mf_last_error());
    return bench_memory_for(context_, device);
  }

  static std::string journal() {
    void* library = dlopen(std::getenv("MFJIT_CUDA_DRIVER"), RTLD_NOW | RTLD_NOLOAD);
    if (library == nullptr) throw std::runtime_error("the fake CUDA driver is not loaded");
    const auto read = reinterpret_cast<const char* (*)()>(dlsym(library, "mf_fake_cuda_journal"));
    dlclose(library);
    return read();
  }

  static int count(const std::string& text, const std::string& line) {
    int found = 0;
    for (auto at = text.find(line); at != std::string::npos; at = text.find(line, at + line.size())) ++found;
    return found;
  }

  mf_context context_ = nullptr;
};

TEST_F(FakeCudaBench, CopiesPoisonAndTimesThroughTheDriver) {
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
  EXPECT_THAT(journal(), HasSubstr("retain device=0\ncurrent device=0\n"));
  EXPECT_THAT(journal(), HasSubstr("event device=0 stream=(nil)\nevent device=0 stream=(nil)\n"));
  memory->release(buffer);
  memory->synchronize();
}

// Twice the fake H200's 50 MiB L2, on the device the context was made for.
TEST_F(FakeCudaBench, TheCacheFlushCoversTwiceTheL2) {
  memory_on(1)->flush_caches();
  EXPECT_THAT(journal(), HasSubstr("memset8 device=1 value=1 bytes=" + std::to_string(100 << 20) + "\n"));
}

// The primary context retained for the memory is released with it.
TEST_F(FakeCudaBench, ReleasesThePrimaryContext) {
  const int before = count(journal(), "release device=1\n");
  memory_on(1).reset();
  EXPECT_EQ(count(journal(), "release device=1\n"), before + 1);
}

// One driver in the process: the bench's memory on both devices initialised nothing beyond
// what the runtime did when it loaded the driver.
TEST_F(FakeCudaBench, UsesTheDriverTheRuntimeLoaded) {
  memory_on(0).reset();
  memory_on(1).reset();
  EXPECT_EQ(count(journal(), "init\n"), 1);
}

}  // namespace
}  // namespace mf::tuner
