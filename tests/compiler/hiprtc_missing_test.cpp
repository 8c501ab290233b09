// hipRTC that cannot be loaded. HipRtc loads once per process, so this suite runs only as
// the ctest entry compiler.hiprtc_missing, in a process of its own with $MFJIT_HIPRTC naming
// a library that does not exist (tests/CMakeLists.txt); in any other run it skips.
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

}  // namespace
}  // namespace mf::compiler
