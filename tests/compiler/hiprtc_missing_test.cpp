// hipRTC that cannot be used, or whose worker fails: its library does not load, its worker
// program is missing, hangs or is another program, its timeout is not a number. HipRtc
// loads once per process, so each of these tests runs only as its own ctest entry
// (compiler.hiprtc_missing, compiler.hiprtc_worker_*: tests/CMakeLists.txt), in a process
// whose environment sets the fault up; in any other run it skips.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cerrno>
#include <chrono>
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

bool environment_is(const char* name, const std::string& value) {
  const char* set = std::getenv(name);
  return set != nullptr && value == set;
}
bool environment_ends_with(const char* name, const std::string& suffix) {
  const char* set = std::getenv(name);
  const std::string value = set != nullptr ? set : "";
  return value.size() >= suffix.size() && value.compare(value.size() - suffix.size(), suffix.size(), suffix) == 0;
}

constexpr const char* kKernel = "extern \"C\" __global__ void k(float* x) { x[0] = 1; }";

// compiler.hiprtc_worker_hangs: a worker that never answers is killed at the deadline
// ($MFJIT_HIPRTC_TIMEOUT=2), reaped, and the compile is a rejection that says so.
TEST(HipRtcWorkerFault, AHangingWorkerIsKilledAtTheDeadline) {
  if (!environment_ends_with("MFJIT_HIPRTC_WORKER", "/hanging_worker.sh") || !environment_is("MFJIT_HIPRTC_TIMEOUT", "2"))
    GTEST_SKIP() << "runs only as the ctest entry compiler.hiprtc_worker_hangs";
  ASSERT_TRUE(HipRtc::instance().available()) << HipRtc::instance().unavailable_reason();
  const auto start = std::chrono::steady_clock::now();
  try {
    HipRtc::instance().compile(kKernel, "k.hip", "gfx90a");
    FAIL() << "a worker that never answers compiled";
  } catch (const CompileError& error) {
    EXPECT_EQ(error.kind(), CompileError::Kind::kRejected);
    EXPECT_THAT(error.what(), HasSubstr("did not compile k.hip for gfx90a within 2 s ($MFJIT_HIPRTC_TIMEOUT)"));
    EXPECT_THAT(error.what(), HasSubstr("hanging_worker.sh was killed"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD) << "the killed worker was left unreaped";
}

// compiler.hiprtc_worker_foreign: a program that is not a worker (cat echoes the request)
// is a rejection that says its answer is not a worker's.
TEST(HipRtcWorkerFault, AnotherProgramIsNotAWorker) {
  if (!environment_is("MFJIT_HIPRTC_WORKER", "/bin/cat"))
    GTEST_SKIP() << "runs only as the ctest entry compiler.hiprtc_worker_foreign";
  ASSERT_TRUE(HipRtc::instance().available()) << HipRtc::instance().unavailable_reason();
  try {
    HipRtc::instance().compile(kKernel, "k.hip", "gfx90a");
    FAIL() << "cat compiled";
  } catch (const CompileError& error) {
    EXPECT_EQ(error.kind(), CompileError::Kind::kRejected);
    EXPECT_THAT(error.what(), HasSubstr("its worker /bin/cat exited with status 0 after"));
    EXPECT_THAT(error.what(), HasSubstr("bytes that are not a worker's answer"));
  }
}

// compiler.hiprtc_bad_timeout: a timeout that is not a number of seconds makes hipRTC
// unavailable, with the reason.
TEST(HipRtcWorkerFault, ATimeoutThatIsNotANumberIsRefused) {
  if (!environment_is("MFJIT_HIPRTC_TIMEOUT", "soon"))
    GTEST_SKIP() << "runs only as the ctest entry compiler.hiprtc_bad_timeout";
  EXPECT_FALSE(HipRtc::instance().available());
  EXPECT_THAT(HipRtc::instance().unavailable_reason(),
              HasSubstr("$MFJIT_HIPRTC_TIMEOUT=soon is not a whole number of seconds from 1 to 86400"));
}

}  // namespace
}  // namespace mf::compiler
