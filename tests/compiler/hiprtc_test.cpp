// hipRTC without an AMD GPU: it loads, compiles a kernel into an AMDGPU code object for
// gfx90a (MI250) in a child process, reports a compile error with its log, and turns the
// crash of the distribution's hipRTC 5.2 on gfx942 (MI300) into a CompileError while the
// test process lives on.
#include "mf/compiler/hiprtc.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <link.h>
#include <sys/wait.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mf/compiler/compile_error.h"

namespace mf::compiler {
namespace {

using ::testing::HasSubstr;

constexpr const char* kKernel = "extern \"C\" __global__ void scale(float* x, float f) { x[threadIdx.x] *= f; }";

std::uint16_t elf_half(const std::vector<char>& binary, std::size_t offset) {
  std::uint16_t value = 0;
  std::memcpy(&value, binary.data() + offset, sizeof value);
  return value;
}

class HipRtcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // tools/setup.sh installs the distribution's HIP (libamdhip64-5): a CI machine without
    // it is a broken setup, not a reason to skip.
    ASSERT_TRUE(HipRtc::instance().available()) << HipRtc::instance().unavailable_reason();
  }
};

TEST_F(HipRtcTest, ReportsItsVersion) { EXPECT_THAT(HipRtc::instance().version(), ::testing::MatchesRegex("[0-9]+\\.[0-9]+")); }

TEST_F(HipRtcTest, CompilesAKernelIntoAnAmdgpuCodeObjectForMi250) {
  const CompiledCodeObject object = HipRtc::instance().compile(kKernel, "scale.hip", "gfx90a");
  ASSERT_GE(object.code.size(), 64u);
  EXPECT_EQ(std::memcmp(object.code.data(), "\x7f" "ELF", 4), 0);
  EXPECT_EQ(elf_half(object.code, 18), 224);  // EM_AMDGPU
  // The kernel's name is in the symbol table, unmangled (extern "C").
  EXPECT_NE(std::string(object.code.begin(), object.code.end()).find("scale"), std::string::npos);
}

TEST_F(HipRtcTest, ACompileErrorNamesTheSourceAndQuotesTheLog) {
  try {
    HipRtc::instance().compile("extern \"C\" __global__ void broken(float* x) { x[0] = undeclared_name; }",
                               "broken.hip", "gfx90a");
    FAIL() << "compiled a kernel with an undeclared name";
  } catch (const CompileError& error) {
    EXPECT_EQ(error.kind(), CompileError::Kind::kRejected);
    EXPECT_THAT(error.what(), HasSubstr("broken.hip"));
    EXPECT_THAT(error.what(), HasSubstr("gfx90a"));
    EXPECT_THAT(error.what(), HasSubstr("undeclared_name"));
  }
}

TEST_F(HipRtcTest, ACompilerCrashOnMi300IsACompileErrorNotACrash) {
  // Debian 12's HIP 5.2 (what tools/setup.sh installs) aborts on gfx942 every time.
  try {
    HipRtc::instance().compile(kKernel, "scale.hip", "gfx942");
    FAIL() << "hipRTC 5.2 compiled for gfx942";
  } catch (const CompileError& error) {
    EXPECT_EQ(error.kind(), CompileError::Kind::kRejected);
    // "crashed with signal 6 (SIGABRT)"; under AddressSanitizer the child reports the heap
    // corruption and exits instead.
    EXPECT_THAT(error.what(), HasSubstr("this hipRTC cannot compile for gfx942"));
  }
  // The process goes on compiling.
  EXPECT_FALSE(HipRtc::instance().compile(kKernel, "scale.hip", "gfx90a").code.empty());
}

// The CI hang of 2026-12-07 (a compile that never returned): compiles used to run in a
// fork of the caller, and a child forked while another thread holds one of the process's
// locks finds it held for ever. Here another thread holds the dynamic loader's list lock
// (dl_iterate_phdr holds it around its callback), which hipRTC's first dlopen in a forked
// child waits for. A compile in a fresh worker process does not care. A watchdog turns a
// hang into a failure.
TEST_F(HipRtcTest, CompilesWhileAnotherThreadHoldsTheLoadersLock) {
  std::atomic<bool> done{false};
  std::thread watchdog([&done] {
    for (int second = 0; second < 240 && !done; ++second) std::this_thread::sleep_for(std::chrono::seconds(1));
    if (!done) {
      std::fprintf(stderr, "FAILED: a hipRTC compile hangs while another thread holds the loader's lock\n");
      std::_Exit(1);
    }
  });
  struct Holder {
    std::mutex mutex;
    std::condition_variable changed;
    bool holding = false, release = false;
  } holder;
  std::thread holding_thread([&holder] {
    dl_iterate_phdr(
        [](dl_phdr_info*, std::size_t, void* data) {
          auto& h = *static_cast<Holder*>(data);
          std::unique_lock lock(h.mutex);
          h.holding = true;
          h.changed.notify_all();
          h.changed.wait(lock, [&h] { return h.release; });
          return 1;  // one object is enough
        },
        &holder);
  });
  {
    std::unique_lock lock(holder.mutex);
    holder.changed.wait(lock, [&holder] { return holder.holding; });
  }
  std::vector<char> code;
  try {
    code = HipRtc::instance().compile(kKernel, "scale.hip", "gfx90a").code;
  } catch (const CompileError& error) {
    ADD_FAILURE() << error.what();
  }
  done = true;
  {
    const std::lock_guard lock(holder.mutex);
    holder.release = true;
  }
  holder.changed.notify_all();
  holding_thread.join();
  watchdog.join();
  EXPECT_FALSE(code.empty());
}

// This process's open descriptors.
std::size_t open_descriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

// Compiles from several threads at once each get their own answer, and leave no
// descriptor open and no child unreaped.
TEST_F(HipRtcTest, ThreadsCompileAtOnce) {
  const std::size_t descriptors = open_descriptors();
  std::vector<std::string> errors(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < errors.size(); ++i)
    threads.emplace_back([i, &errors] {
      const std::string kernel = "extern \"C\" __global__ void kernel_" + std::to_string(i) + "(float* x) { x[0] = 1; }";
      try {
        const CompiledCodeObject object = HipRtc::instance().compile(kernel, "k.hip", "gfx90a");
        if (std::string(object.code.begin(), object.code.end()).find("kernel_" + std::to_string(i)) == std::string::npos)
          errors[i] = "the code object lacks its kernel";
      } catch (const CompileError& error) {
        errors[i] = error.what();
      }
    });
  for (auto& thread : threads) thread.join();
  for (const std::string& error : errors) EXPECT_EQ(error, "");
  EXPECT_EQ(open_descriptors(), descriptors);
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD) << "a worker was left unreaped";
}

TEST_F(HipRtcTest, KnowsWhichTargetsItCompilesFor) {
  EXPECT_TRUE(HipRtc::instance().compiles_for("gfx90a"));
  EXPECT_FALSE(HipRtc::instance().compiles_for("gfx_no_such_target"));
  EXPECT_FALSE(HipRtc::instance().compiles_for("gfx942"));  // HIP 5.2 crashes on it
}

}  // namespace
}  // namespace mf::compiler
