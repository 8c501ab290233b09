// hipRTC that cannot be used: its library does not load, or its worker program is missing.
// HipRtc loads once per process, so these suites run only as the ctest entries
// compiler.hiprtc_missing and compiler.hiprtc_worker_missing, each in a process of its own
// with $MFJIT_HIPRTC or $MFJIT_HIPRTC_WORKER naming a file that does not exist
// (tests/CMakeLists.txt); in any other run they skip.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "mf/compiler/compile_error.h"
#include "mf/compiler/hiprtc.h"

namespace mf::compiler {
namespace {

using ::testing::HasSubstr;

constexpr const char* kMissingLibrary = "/nonexistent/libamdhip64.so.5";

class HipRtcMissing : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* library = std::getenv("MFJIT_HIPRTC");
    if (library == nullptr || std::string(library) != kMissingLibrary)
      GTEST_SKIP() << "runs only as the ctest entry compiler.hiprtc_missing";
  }
};

TEST_F(HipRtcMissing, UnavailableWithTheReason) {
  const HipRtc& hiprtc = HipRtc::instance();
  EXPECT_FALSE(hiprtc.available());
  EXPECT_THAT(hiprtc.unavailable_reason(), HasSubstr(std::string("dlopen(") + kMissingLibrary + ")"));
  EXPECT_EQ(hiprtc.version(), "");
  EXPECT_FALSE(hiprtc.compiles_for("gfx90a"));
  try {
    hiprtc.compile("extern \"C\" __global__ void k() {}", "k.hip", "gfx90a");
    FAIL() << "compiled without hipRTC";
  } catch (const CompileError& error) {
    EXPECT_EQ(error.kind(), CompileError::Kind::kToolchainUnavailable);
    EXPECT_THAT(error.what(), HasSubstr(kMissingLibrary));
  }
}

constexpr const char* kMissingWorker = "/nonexistent/mf-hiprtc-worker";

class HipRtcWorkerMissing : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* worker = std::getenv("MFJIT_HIPRTC_WORKER");
    if (worker == nullptr || std::string(worker) != kMissingWorker)
      GTEST_SKIP() << "runs only as the ctest entry compiler.hiprtc_worker_missing";
  }
};

TEST_F(HipRtcWorkerMissing, UnavailableAndSaysWhereItLooked) {
  const HipRtc& hiprtc = HipRtc::instance();
  EXPECT_FALSE(hiprtc.available());
  EXPECT_THAT(hiprtc.unavailable_reason(), HasSubstr(std::string("mf-hiprtc-worker (hipRTC's compiling process) is not at ") +
                                                     kMissingWorker + "; $MFJIT_HIPRTC_WORKER names it"));
  EXPECT_FALSE(hiprtc.compiles_for("gfx90a"));
  try {
    hiprtc.compile("extern \"C\" __global__ void k() {}", "k.hip", "gfx90a");
    FAIL() << "compiled without the worker";
  } catch (const CompileError& error) {
    EXPECT_EQ(error.kind(), CompileError::Kind::kToolchainUnavailable);
    EXPECT_THAT(error.what(), HasSubstr(kMissingWorker));
  }
}

}  // namespace
}  // namespace mf::compiler
