// NVRTC that cannot be loaded. Nvrtc loads once per process, so this suite runs only as the
// ctest entry compiler.nvrtc_missing, in a process of its own with $MFJIT_NVRTC naming a
// library that does not exist (tests/CMakeLists.txt); in any other run it skips.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "mf/compiler/compile_error.h"
#include "mf/compiler/nvrtc.h"

namespace mf::compiler {
namespace {

using ::testing::HasSubstr;

constexpr const char* kMissingLibrary = "/nonexistent/libnvrtc.so.13";

class NvrtcMissing : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* library = std::getenv("MFJIT_NVRTC");
    if (library == nullptr || std::string(library) != kMissingLibrary)
      GTEST_SKIP() << "runs only as the ctest entry compiler.nvrtc_missing";
  }
};

TEST_F(NvrtcMissing, UnavailableWithTheReason) {
  const Nvrtc& nvrtc = Nvrtc::instance();
  EXPECT_FALSE(nvrtc.available());
  EXPECT_THAT(nvrtc.unavailable_reason(), HasSubstr(std::string("dlopen(") + kMissingLibrary + "): "));
  // Only the named library is tried, not the usual candidates that would load here.
  EXPECT_THAT(nvrtc.unavailable_reason(), ::testing::Not(HasSubstr("libnvrtc.so)")));
  EXPECT_EQ(nvrtc.version(), "");
}

TEST_F(NvrtcMissing, CompileThrowsToolchainUnavailable) {
  try {
    Nvrtc::instance().compile("__global__ void k() {}", "k.cu", "sm_80");
    ADD_FAILURE() << "compile did not throw";
  } catch (const CompileError& error) {
    EXPECT_EQ(error.kind(), CompileError::Kind::kToolchainUnavailable);
    EXPECT_THAT(error.what(), HasSubstr(kMissingLibrary));
  }
}

}  // namespace
}  // namespace mf::compiler
