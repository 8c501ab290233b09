// The hip backend against the fake HIP runtime (fake_hip/fake_hip.cpp, two devices: gfx90a
// and gfx942): device identity, and plans that compile for real (hipRTC for gfx90a, the MLIR
// generator for gfx942, which this hipRTC cannot target), load as AMDGPU code objects and
// launch on the caller's stream, with the caller's current device restored. Nothing runs:
// the fake journals each call. Runs only as the ctest entry runtime.fake_hip.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>

#include "hip_runtime.h"
#include "mf/ir/evo_attention.h"
#include "mf/ir/layer_norm_linear.h"
#include "mf/ir/tensor_list.h"
#include "runtime/capi_helpers.h"

namespace mf::capi_test {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;

// The kernels' parameter block, as the runner passes it.
#include "cuda/layer_norm_linear_params.h"

class FakeHip : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("MF_FAKE_HIP_DEVICES") == nullptr) GTEST_SKIP() << "runs only as the ctest entry runtime.fake_hip";
  }

  static Context hip_context(int32_t device) {
    mf_context_options options;
    mf_context_options_init(&options);
    options.backend = MF_BACKEND_HIP;
    options.device = device;
    mf_context context = nullptr;
    expect_success(mf_context_create(&options, &context));
    return Context(context);
  }

  // A function of the fake that the runtime loaded (the test does not link HIP).
  template <class Function>
  static Function fake(const char* symbol) {
    void* library = dlopen(std::getenv("MFJIT_HIP_RUNTIME"), RTLD_NOW | RTLD_NOLOAD);
    if (library == nullptr) throw std::runtime_error("the runtime has not loaded the fake HIP runtime");
    const auto function = reinterpret_cast<Function>(dlsym(library, symbol));
    dlclose(library);
    if (function == nullptr) throw std::runtime_error(std::string("the fake HIP runtime lacks ") + symbol);
    return function;
  }

  // What the fake recorded so far.
  static std::string journal() { return fake<const char* (*)()>("mf_fake_hip_journal")(); }
  static int current_device() {
    int device = -1;
    EXPECT_EQ(fake<hipError_t (*)(int*)>("hipGetDevice")(&device), hipSuccess);
    return device;
  }
  static void set_current_device(int device) {
    EXPECT_EQ(fake<hipError_t (*)(int)>("hipSetDevice")(device), hipSuccess);
  }

  static std::string describe(mf_plan plan) {
    std::string buffer(4096, '\0');
    size_t required = 0;
    expect_success(mf_plan_describe(plan, buffer.data(), buffer.size(), &required));
    buffer.resize(required - 1);
    return buffer;
  }
};

// Distinct, aligned device addresses for the problem's tensors (never dereferenced).
struct FakeAddresses {
  explicit FakeAddresses(const ir::Problem& problem) {
    std::uintptr_t next = std::uintptr_t{0x7f00} << 32;
    for (const auto& tensor : ir::tensor_list(problem)) {
      addresses[std::string(tensor.name)] = reinterpret_cast<void*>(next);
      next += std::uintptr_t{1} << 32;
    }
  }
  bridge::AnyPointer operator[](const std::string& name) {
    const auto found = addresses.find(name);
    return {found == addresses.end() ? nullptr : found->second};
  }
  std::map<std::string, void*> addresses;
};

void* const kStream = reinterpret_cast<void*>(0x5eed0);
void* const kWorkspace = reinterpret_cast<void*>(std::uintptr_t{0x7e00} << 32);

TEST_F(FakeHip, CountsAndDescribesTheDevices) {
  int32_t count = -1;
  expect_success(mf_device_count(MF_BACKEND_HIP, &count));
  EXPECT_EQ(count, 2);
  mf_device_info info{};
  expect_success(mf_device_get_info(MF_BACKEND_HIP, 1, &info));
  EXPECT_STREQ(info.name, "Fake gfx942");
  EXPECT_STREQ(info.arch, "gfx942");  // without the ":sramecc+:xnack-" features
  EXPECT_EQ(info.multiprocessors, 304);
  EXPECT_EQ(info.l2_cache_bytes, std::int64_t{4} << 20);
  EXPECT_EQ(info.memory_bytes, std::int64_t{64} << 30);
  EXPECT_EQ(info.driver_version, 50422803);
  const Context context = hip_context(0);
  expect_success(mf_context_device_info(context.get(), &info));
  EXPECT_STREQ(info.arch, "gfx90a");
  mf_backend backend = MF_BACKEND_AUTO;
  expect_success(mf_context_backend(context.get(), &backend));
  EXPECT_EQ(backend, MF_BACKEND_HIP);
  expect_status(mf_device_get_info(MF_BACKEND_HIP, 2, &info), MF_ERROR_BACKEND_UNAVAILABLE,
                "HIP device 2 requested, but the runtime reports 2 device(s)");
}

// Until mfjit has run on an AMD GPU, MF_BACKEND_AUTO does not pick one (docs/hip.md).
TEST_F(FakeHip, AutoDoesNotPickHip) {
  mf_context_options options;
  mf_context_options_init(&options);
  mf_context context = nullptr;
  expect_success(mf_context_create(&options, &context));
  const Context owned(context);
  mf_backend backend = MF_BACKEND_AUTO;
  expect_success(mf_context_backend(context, &backend));
  EXPECT_EQ(backend, MF_BACKEND_CPU);
}

// gfx90a: the template kernels through hipRTC, loaded on device 0 while the caller's current
// device is 1, launched on the caller's stream with the runner's parameter block.
TEST_F(FakeHip, TemplateKernelsLaunchOnTheCallersStreamForGfx90a) {
  const Context context = hip_context(0);
  const ir::Problem problem{ir::layer_norm_linear(64, 128, 32), ir::Direction::forward()};
  const Plan plan = make_plan(context.get(), problem);
  EXPECT_THAT(describe(plan.get()), HasSubstr("\"generator\":\"template\""));
  size_t workspace = 0;
  expect_success(mf_plan_workspace_size(plan.get(), &workspace));
  set_current_device(1);
  FakeAddresses addresses(problem);
  const std::size_t before = journal().size();
  expect_success(bridge::execute(context.get(), plan.get(), problem, addresses, kWorkspace, workspace, kStream));
  EXPECT_EQ(current_device(), 1);
  const std::string log = journal();
  EXPECT_THAT(log, HasSubstr("load device=0 arch=gfx90a"));
  const std::string params = std::to_string(sizeof(MfLinearParams));
  EXPECT_THAT(log.substr(before), ContainsRegex("^launch device=0 kernel=[A-Za-z_0-9]+ grid=[1-9][0-9]*,1,1 "
                                                "block=[0-9]+,[0-9]+,1 shared=[0-9]+ stream=0x5eed0 params=" + params));
}

// EvoAttention backward on AMD: one key group, so dQ is its own kernel and nothing needs
// zeroing; the plan's kernels launch in order on the caller's stream.
TEST_F(FakeHip, EvoAttentionBackwardLaunchesThePlanInOrder) {
  const Context context = hip_context(0);
  const ir::Problem problem = backward_problem(ir::msa_row_attention(1, 2, 16, 4, 32));
  const Plan plan = make_plan(context.get(), problem);
  size_t workspace = 0;
  expect_success(mf_plan_workspace_size(plan.get(), &workspace));
  FakeAddresses addresses(problem);
  const std::size_t before = journal().size();
  expect_success(bridge::execute(context.get(), plan.get(), problem, addresses, kWorkspace, workspace, kStream));
  const std::string log = journal().substr(before);
  EXPECT_THAT(log, ::testing::Not(HasSubstr("memset32")));
  EXPECT_THAT(log, ContainsRegex("^launch device=0 kernel=mf_evo_row_delta .* stream=0x5eed0 .*\n"
                                 "launch device=0 kernel=mf_evo_backward_keys .* stream=0x5eed0 .*\n"
                                 "launch device=0 kernel=mf_evo_backward_queries .* stream=0x5eed0 .*\n"
                                 "launch device=0 kernel=mf_evo_dbias_finalize .* stream=0x5eed0 "));
}

// gfx942: this hipRTC cannot compile for it (compiler/hiprtc.h), so the MLIR generator's
// kernels serve, compiled by LLVM's AMDGPU back end.
TEST_F(FakeHip, Gfx942RunsTheMlirKernels) {
  const Context context = hip_context(1);
  const ir::Problem problem{ir::layer_norm_linear(64, 128, 32), ir::Direction::forward()};
#if MF_HAVE_MLIR
  const Plan plan = make_plan(context.get(), problem);
  EXPECT_THAT(describe(plan.get()), HasSubstr("\"generator\":\"mlir\""));
  size_t workspace = 0;
  expect_success(mf_plan_workspace_size(plan.get(), &workspace));
  FakeAddresses addresses(problem);
  expect_success(bridge::execute(context.get(), plan.get(), problem, addresses, kWorkspace, workspace, kStream));
  const std::string log = journal();
  EXPECT_THAT(log, HasSubstr("load device=1 arch=gfx942"));
  EXPECT_THAT(log, ContainsRegex("launch device=1 kernel=[A-Za-z_0-9]+ .* stream=0x5eed0"));
#else
  mf_plan plan = nullptr;
  expect_status(plan_create(context.get(), problem, &plan), MF_ERROR_UNSUPPORTED, "cannot compile for gfx942");
#endif
}

}  // namespace
}  // namespace mf::capi_test
