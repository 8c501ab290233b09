// parse_ptxas_report against logs that NVRTC 13.0 wrote (copied verbatim unless a comment
// says otherwise), so the parser is checked against the real format where NVRTC is missing.
#include <gtest/gtest.h>

#include <string>

#include "mf/compiler/nvrtc.h"

namespace mf::compiler {
namespace {

// Three entry functions for sm_80, one of them with static shared memory.
constexpr const char* kThreeKernels =
    R"(ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_Z4tmplILi3EEvPf' for 'sm_80'
ptxas info    : Function properties for _Z4tmplILi3EEvPf
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 8 registers, used 0 barriers, 360 bytes cmem[0]
ptxas info    : Compile time = 2.087 ms
ptxas info    : Compiling entry function '_Z3shmPf' for 'sm_80'
ptxas info    : Function properties for _Z3shmPf
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 9 registers, used 1 barriers, 1024 bytes smem, 360 bytes cmem[0]
ptxas info    : Compile time = 1.192 ms
ptxas info    : Compiling entry function 'axpy' for 'sm_80'
ptxas info    : Function properties for axpy
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 10 registers, used 0 barriers, 380 bytes cmem[0]
ptxas info    : Compile time = 0.963 ms
)";

// --maxrregcount=16 on a kernel that needs far more registers: a warning, then spills.
constexpr const char* kSpilling =
    R"(ptxas warning : For profile sm_80 adjusting per thread register count of 16 to lower bound of 24
ptxas info    : Overriding maximum register limit 256 for '_Z8pressurePf' with  24 of maxrregcount option
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_Z8pressurePf' for 'sm_80'
ptxas info    : Function properties for _Z8pressurePf
ptxas         .     7784 bytes stack frame, 9736 bytes spill stores, 11228 bytes spill loads
ptxas info    : Used 24 registers, used 0 barriers, 7784 bytes cumulative stack size, 360 bytes cmem[0]
ptxas info    : Compile time = 838.923 ms
)";

// A __noinline__ device function: its properties block comes before the entries (sm_90a)
// or after them (sm_80) and belongs to no entry.
constexpr const char* kDeviceFunctionFirst =
    R"(ptxas info    : 16 bytes gmem
ptxas info    : Function properties for _Z6helperPfi
ptxas         .     128 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Compile time = 2.347 ms
ptxas info    : Compiling entry function '_Z6callerPfi' for 'sm_90a'
ptxas info    : Function properties for _Z6callerPfi
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 24 registers, used 0 barriers, 128 bytes cumulative stack size
ptxas info    : Compile time = 0.953 ms
ptxas info    : Compiling entry function '_Z5emptyv' for 'sm_90a'
ptxas info    : Function properties for _Z5emptyv
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 4 registers, used 0 barriers
ptxas info    : Compile time = 0.322 ms
)";

constexpr const char* kDeviceFunctionLast =
    R"(ptxas info    : 16 bytes gmem, 8 bytes cmem[4]
ptxas info    : Compiling entry function '_Z6callerPfi' for 'sm_80'
ptxas info    : Function properties for _Z6callerPfi
ptxas         .     128 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 32 registers, used 0 barriers, 128 bytes cumulative stack size, 364 bytes cmem[0]
ptxas info    : Compile time = 3.357 ms
ptxas info    : Function properties for _Z6helperPfi
ptxas         .     8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads
)";  // the last line's numbers were zeros: made distinct so that misattribution shows

// The front end's warnings come before the report.
constexpr const char* kWarningFirst =
    R"(w.cu(1): warning #177-D: variable "unused" was declared but never referenced
  __global__ void warn(){ int unused; }
                              ^

Remark: The warnings can be suppressed with "-diag-suppress <warning-number>"

ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_Z4warnv' for 'sm_80'
ptxas info    : Function properties for _Z4warnv
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 4 registers, used 0 barriers, 352 bytes cmem[0]
ptxas info    : Compile time = 0.884 ms
)";

void expect_kernel(const KernelResources& kernel, const std::string& function, int registers, int spill_stores,
                   int spill_loads, int stack_frame, int shared) {
  SCOPED_TRACE(function);
  EXPECT_EQ(kernel.function, function);
  EXPECT_EQ(kernel.registers, registers);
  EXPECT_EQ(kernel.spill_store_bytes, spill_stores);
  EXPECT_EQ(kernel.spill_load_bytes, spill_loads);
  EXPECT_EQ(kernel.stack_frame_bytes, stack_frame);
  EXPECT_EQ(kernel.shared_bytes, shared);
}

TEST(PtxasReport, EveryEntryFunctionInCompileOrder) {
  const auto kernels = parse_ptxas_report(kThreeKernels);
  ASSERT_EQ(kernels.size(), 3u);
  expect_kernel(kernels[0], "_Z4tmplILi3EEvPf", 8, 0, 0, 0, 0);
  expect_kernel(kernels[1], "_Z3shmPf", 9, 0, 0, 0, 1024);
  expect_kernel(kernels[2], "axpy", 10, 0, 0, 0, 0);
}

TEST(PtxasReport, Spills) {
  const auto kernels = parse_ptxas_report(kSpilling);
  ASSERT_EQ(kernels.size(), 1u);
  expect_kernel(kernels[0], "_Z8pressurePf", 24, 9736, 11228, 7784, 0);
}

TEST(PtxasReport, DeviceFunctionsBelongToNoEntry) {
  auto kernels = parse_ptxas_report(kDeviceFunctionFirst);
  ASSERT_EQ(kernels.size(), 2u);
  expect_kernel(kernels[0], "_Z6callerPfi", 24, 0, 0, 0, 0);
  expect_kernel(kernels[1], "_Z5emptyv", 4, 0, 0, 0, 0);

  kernels = parse_ptxas_report(kDeviceFunctionLast);
  ASSERT_EQ(kernels.size(), 1u);
  expect_kernel(kernels[0], "_Z6callerPfi", 32, 0, 0, 128, 0);
}

TEST(PtxasReport, FrontEndWarningsBeforeTheReport) {
  const auto kernels = parse_ptxas_report(kWarningFirst);
  ASSERT_EQ(kernels.size(), 1u);
  expect_kernel(kernels[0], "_Z4warnv", 4, 0, 0, 0, 0);
}

TEST(PtxasReport, NoReport) {
  EXPECT_TRUE(parse_ptxas_report("").empty());
  EXPECT_TRUE(parse_ptxas_report("bad.cu(1): error: expected a \";\"\n").empty());
}

TEST(PtxasReport, WindowsLineEndings) {
  std::string log;
  for (const char* c = kSpilling; *c != '\0'; ++c) {
    if (*c == '\n') log += '\r';
    log += *c;
  }
  const auto kernels = parse_ptxas_report(log);
  ASSERT_EQ(kernels.size(), 1u);
  expect_kernel(kernels[0], "_Z8pressurePf", 24, 9736, 11228, 7784, 0);
}

}  // namespace
}  // namespace mf::compiler
