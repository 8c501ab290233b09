// The cuda device layer against a missing driver and the fake one (fake_cuda/fake_cuda.c).
// The runtime loads the driver once per process, so each suite is one scenario that ctest
// runs in a process of its own with the environment it needs (tests/CMakeLists.txt); in any
// other run the suites skip.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mf/ir/evo_attention.h"
#include "mf/ir/layer_norm_linear.h"
#include "mf/ir/transition.h"
#include "mf/runtime/tuning_identity.h"
#include "runtime/capi_helpers.h"

namespace mf::capi_test {
namespace {

class FakeDriverScenario : public ::testing::Test {
 protected:
  explicit FakeDriverScenario(std::string scenario) : scenario_(std::move(scenario)) {}

  void SetUp() override {
    const char* active = std::getenv("MF_FAKE_CUDA_SCENARIO");
    if (active == nullptr || scenario_ != active)
      GTEST_SKIP() << "runs only as the ctest entry runtime." << scenario_;
  }

  static mf_status create(mf_backend backend, int32_t device, mf_context* context) {
    mf_context_options options;
    mf_context_options_init(&options);
    options.backend = backend;
    options.device = device;
    options.cpu_threads = 1;
    return mf_context_create(&options, context);
  }

  static mf_backend backend_of(mf_context context) {
    mf_backend backend = MF_BACKEND_AUTO;
    expect_success(mf_context_backend(context, &backend));
    return backend;
  }

  // MF_BACKEND_AUTO makes a cpu context without error; naming cuda fails with `reason`.
  static void expect_cpu_fallback(std::string_view reason) {
    for (int32_t device : {0, 1}) {
      mf_context context = nullptr;
      expect_success(create(MF_BACKEND_AUTO, device, &context));
      EXPECT_STREQ(mf_last_error(), "");
      const Context owned(context);
      EXPECT_EQ(backend_of(context), MF_BACKEND_CPU);
    }
    mf_context context = nullptr;
    expect_success(mf_context_create(nullptr, &context));
    const Context owned(context);
    EXPECT_EQ(backend_of(context), MF_BACKEND_CPU);

    mf_context cuda = nullptr;
    expect_status(create(MF_BACKEND_CUDA, 0, &cuda), MF_ERROR_BACKEND_UNAVAILABLE, reason);
    EXPECT_EQ(cuda, nullptr);
    int32_t count = -1;
    expect_success(mf_device_count(MF_BACKEND_CUDA, &count));
    EXPECT_EQ(count, 0);
    mf_device_info info{};
    expect_status(mf_device_get_info(MF_BACKEND_CUDA, 0, &info), MF_ERROR_BACKEND_UNAVAILABLE, reason);
  }

 private:
  std::string scenario_;
};

// ---- (a) no driver -----------------------------------------------------------------------

class FakeDriverNoDriver : public FakeDriverScenario {
 protected:
  FakeDriverNoDriver() : FakeDriverScenario("no_driver") {}
};

TEST_F(FakeDriverNoDriver, FallsBackToCpuAndReportsTheMissingDriver) {
  expect_cpu_fallback("cannot load the CUDA driver /nonexistent/libcuda.so");
}

// ---- a library that is not a CUDA driver ----------------------------------------------

class FakeDriverMissingSymbols : public FakeDriverScenario {
 protected:
  FakeDriverMissingSymbols() : FakeDriverScenario("missing_symbols") {}
};

TEST_F(FakeDriverMissingSymbols, FallsBackToCpuAndNamesTheMissingSymbol) {
  expect_cpu_fallback("the CUDA driver lacks cuInit");
}

// ---- (b) cuInit fails --------------------------------------------------------------------

class FakeDriverInitFails : public FakeDriverScenario {
 protected:
  FakeDriverInitFails() : FakeDriverScenario("init_fails") {}
};

TEST_F(FakeDriverInitFails, FallsBackToCpuAndNamesCuInit) {
  expect_cpu_fallback("cuInit failed with CUresult 100 (no CUDA-capable device is detected)");
}

// ---- (c) two devices ---------------------------------------------------------------------

class FakeDriverTwoDevices : public FakeDriverScenario {
 protected:
  FakeDriverTwoDevices() : FakeDriverScenario("two_devices") {}

  static void expect_fake_h200(const mf_device_info& info) {
    EXPECT_STREQ(info.name, "Fake H200");
    EXPECT_STREQ(info.arch, "sm_90");
    EXPECT_EQ(info.multiprocessors, 132);
    EXPECT_EQ(info.l2_cache_bytes, std::int64_t{50} << 20);
    EXPECT_EQ(info.memory_bytes, std::int64_t{141} << 30);
    EXPECT_EQ(info.driver_version, 13000);
  }
};

TEST_F(FakeDriverTwoDevices, CountsAndDescribesTheDevices) {
  int32_t count = -1;
  expect_success(mf_device_count(MF_BACKEND_CUDA, &count));
  EXPECT_EQ(count, 2);
  for (int32_t ordinal : {0, 1}) {
    SCOPED_TRACE(ordinal);
    mf_device_info info{};
    expect_success(mf_device_get_info(MF_BACKEND_CUDA, ordinal, &info));
    expect_fake_h200(info);
  }
  mf_device_info info{};
  expect_status(mf_device_get_info(MF_BACKEND_CUDA, 2, &info), MF_ERROR_BACKEND_UNAVAILABLE,
                "CUDA device 2 requested, but the driver reports 2 device(s)");
  expect_status(mf_device_get_info(MF_BACKEND_CUDA, -1, &info), MF_ERROR_BACKEND_UNAVAILABLE, "CUDA device -1");
}

TEST_F(FakeDriverTwoDevices, AutoPicksCuda) {
  for (int32_t device : {0, 1}) {
    mf_context context = nullptr;
    expect_success(create(MF_BACKEND_AUTO, device, &context));
    const Context owned(context);
    EXPECT_EQ(backend_of(context), MF_BACKEND_CUDA);
    mf_device_info info{};
    expect_success(mf_context_device_info(context, &info));
    expect_fake_h200(info);
  }
  // A device ordinal the driver lacks: auto falls back to the cpu, naming cuda fails.
  mf_context context = nullptr;
  expect_success(create(MF_BACKEND_AUTO, 2, &context));
  const Context owned(context);
  EXPECT_EQ(backend_of(context), MF_BACKEND_CPU);
  mf_context cuda = nullptr;
  expect_status(create(MF_BACKEND_CUDA, 2, &cuda), MF_ERROR_BACKEND_UNAVAILABLE, "CUDA device 2 requested");
  EXPECT_EQ(cuda, nullptr);
}

ir::TransitionOptions f64_transition() {
  ir::TransitionOptions options;
  options.dtype = ir::DType::kF64;
  return options;
}

// EvoAttention, LayerNormLinear and the Transition compile (NVRTC runs here) but the fake
// driver cannot load modules; f64 has no cuda kernels.
TEST_F(FakeDriverTwoDevices, PlansOnCudaNeedAKernelDriver) {
  mf_context context = nullptr;
  expect_success(create(MF_BACKEND_CUDA, 1, &context));
  const Context owned(context);
  mf_plan plan = nullptr;
  for (const ir::Problem& compiles : {ir::Problem{ir::msa_row_attention(1, 2, 16, 4, 32), ir::Direction::forward()},
                                      ir::Problem{ir::layer_norm_linear(64, 128, 32), ir::Direction::forward()},
                                      backward_problem(ir::layer_norm_linear(64, 128, 32)),
                                      ir::Problem{ir::transition(64, 128, 4), ir::Direction::forward()},
                                      backward_problem(ir::transition(64, 128, 4))}) {
    expect_status(plan_create(context, compiles, &plan), MF_ERROR_BACKEND_UNAVAILABLE,
                  "cuda backend cannot run kernels: the CUDA driver lacks");
    EXPECT_EQ(plan, nullptr);
  }
  const std::vector<std::pair<std::string, ir::Problem>> problems = {
      {"f64", ir::Problem{ir::transition(64, 128, 4, f64_transition()), ir::Direction::forward()}},
  };
  for (const auto& [message, problem] : problems) {
    SCOPED_TRACE(message);
    expect_status(plan_create(context, problem, &plan), MF_ERROR_UNSUPPORTED, message);
    EXPECT_EQ(plan, nullptr);
  }
  // Descriptors are still validated first.
  ir::EvoAttention bad = ir::msa_row_attention(1, 2, 16, 4, 32);
  bad.k.shape[2] = 15;
  expect_status(plan_create(context, {bad, ir::Direction::forward()}, &plan), MF_ERROR_SHAPE_MISMATCH, "k: has shape");
}

// $MFJIT_TILE_CONFIG replaces default parameters before the generator checks them: a value
// outside the space or a malformed entry fails plan creation and names the rule.
TEST_F(FakeDriverTwoDevices, TileConfigOverrideIsChecked) {
  struct Override {
    explicit Override(const char* text) { setenv("MFJIT_TILE_CONFIG", text, 1); }
    ~Override() { unsetenv("MFJIT_TILE_CONFIG"); }
  };
  mf_context context = nullptr;
  expect_success(create(MF_BACKEND_CUDA, 0, &context));
  const Context owned(context);
  const ir::Problem forward{ir::msa_row_attention(1, 2, 16, 4, 32), ir::Direction::forward()};
  mf_plan plan = nullptr;
  {
    const Override outside("warps=3");
    expect_status(plan_create(context, forward, &plan), MF_ERROR_INVALID_ARGUMENT, "warps");
  }
  {
    const Override malformed("warps");
    expect_status(plan_create(context, forward, &plan), MF_ERROR_INVALID_ARGUMENT,
                  "MFJIT_TILE_CONFIG: 'warps' is not name=integer");
  }
  {
    // Parameters the plan's space lacks are ignored: the forward has no key_warps.
    const Override other("key_warps=2");
    expect_status(plan_create(context, forward, &plan), MF_ERROR_BACKEND_UNAVAILABLE,
                  "cuda backend cannot run kernels");
  }
  EXPECT_EQ(plan, nullptr);
}

// MFJIT_CUDA_GENERATOR=mlir: the MLIR generator's kernels, compiled (PTX, nvJitLink) up to
// the driver's module loader; f64 and unknown values are refused with the variable named.
TEST_F(FakeDriverTwoDevices, MlirGeneratorOnRequest) {
  struct Generator {
    explicit Generator(const char* name) { setenv("MFJIT_CUDA_GENERATOR", name, 1); }
    ~Generator() { unsetenv("MFJIT_CUDA_GENERATOR"); }
  };
  {
    const Generator unknown("triton");
    mf_context context = nullptr;
    expect_status(create(MF_BACKEND_CUDA, 0, &context), MF_ERROR_INVALID_ARGUMENT,
                  "MFJIT_CUDA_GENERATOR: 'triton' is neither template nor mlir (unset: both)");
    EXPECT_EQ(context, nullptr);
  }
  const Generator mlir("mlir");
  mf_context context = nullptr;
  expect_success(create(MF_BACKEND_CUDA, 0, &context));
  const Context owned(context);
  mf_plan plan = nullptr;
#if MF_HAVE_MLIR
  expect_status(plan_create(context, {ir::transition(64, 16, 2), ir::Direction::forward()}, &plan),
                MF_ERROR_BACKEND_UNAVAILABLE, "cuda backend cannot run kernels: the CUDA driver lacks");
  expect_status(plan_create(context, {ir::transition(64, 128, 4, f64_transition()), ir::Direction::forward()}, &plan),
                MF_ERROR_UNSUPPORTED, "MFJIT_CUDA_GENERATOR=mlir: the MLIR generator's GPU kernels compute in f32");
#else
  expect_status(plan_create(context, {ir::transition(64, 16, 2), ir::Direction::forward()}, &plan),
                MF_ERROR_UNSUPPORTED, "built without the MLIR generator");
#endif
  EXPECT_EQ(plan, nullptr);
}

// What the cuda backend offers the tuner: both generators where MLIR is built in (the
// template generator first, the MLIR one as "mlir" with one empty configuration) and a hash
// over both; MFJIT_CUDA_GENERATOR narrows the offer to one, which then comes first.
TEST_F(FakeDriverTwoDevices, TheTunerIsOfferedEveryGenerator) {
  struct Generator {
    explicit Generator(const char* name) { setenv("MFJIT_CUDA_GENERATOR", name, 1); }
    ~Generator() { unsetenv("MFJIT_CUDA_GENERATOR"); }
  };
  const ir::Problem problem{ir::transition(64, 16, 2), ir::Direction::forward()};
  auto offer = [&](const char* requested) {
    std::optional<Generator> setting;
    if (requested != nullptr) setting.emplace(requested);
    mf_context context = nullptr;
    expect_success(create(MF_BACKEND_CUDA, 0, &context));
    const Context owned(context);
    std::vector<std::string> names;
    for (const auto& space : runtime::tuning_spaces(context, problem))
      names.push_back(space.generator.empty() ? runtime::tuning_generator(context, problem) : space.generator);
    return std::pair{names, runtime::tuning_generator_hash(context, problem)};
  };
  const auto [both, both_hash] = offer(nullptr);
  const auto [templates, template_hash] = offer("template");
  EXPECT_EQ(templates, std::vector<std::string>{"template"});
  EXPECT_EQ(template_hash.find("mlir-gpu/"), std::string::npos);
#if MF_HAVE_MLIR
  EXPECT_EQ(both, (std::vector<std::string>{"template", "mlir"}));
  EXPECT_EQ(both_hash, template_hash + " + " + offer("mlir").second);
  EXPECT_EQ(offer("mlir").first, std::vector<std::string>{"mlir"});
#else
  EXPECT_EQ(both, std::vector<std::string>{"template"});
  EXPECT_EQ(both_hash, template_hash);
#endif
  // f64 is the template generator's alone to refuse: the error names its rule.
  mf_context context = nullptr;
  expect_success(create(MF_BACKEND_CUDA, 0, &context));
  const Context owned(context);
  const ir::Problem f64{ir::transition(64, 128, 4, f64_transition()), ir::Direction::forward()};
  EXPECT_TRUE(runtime::tuning_unsupported(context, f64));
}

// A problem the template generator takes but none of whose configurations fits (D = 16 is
// narrower than its smallest output tile) goes to the MLIR kernels where they are offered,
// instead of failing: the plan gets as far as the fake driver's missing module loader.
TEST_F(FakeDriverTwoDevices, UntunedPlansFallBackToTheMlirKernelsWhereNoTemplateConfigurationFits) {
  mf_context context = nullptr;
  expect_success(create(MF_BACKEND_CUDA, 0, &context));
  const Context owned(context);
  mf_plan plan = nullptr;
  const ir::Problem narrow{ir::transition(64, 16, 2), ir::Direction::forward()};
#if MF_HAVE_MLIR
  expect_status(plan_create(context, narrow, &plan), MF_ERROR_BACKEND_UNAVAILABLE,
                "cuda backend cannot run kernels: the CUDA driver lacks");
#else
  expect_status(plan_create(context, narrow, &plan), MF_ERROR_UNSUPPORTED,
                "no configuration of the template generator fits D = 16");
#endif
  EXPECT_EQ(plan, nullptr);
}

// A driver call that fails is MF_ERROR_DEVICE naming the call.
TEST_F(FakeDriverTwoDevices, DriverErrorsNameTheCall) {
  struct FailingCall {
    explicit FailingCall(const char* name) { setenv("MF_FAKE_CUDA_FAIL", name, 1); }
    ~FailingCall() { unsetenv("MF_FAKE_CUDA_FAIL"); }
  };
  for (const char* call : {"cuDeviceGet", "cuDeviceGetName", "cuDeviceGetAttribute", "cuDriverGetVersion"}) {
    SCOPED_TRACE(call);
    const FailingCall failing(call);
    mf_device_info info{};
    expect_status(mf_device_get_info(MF_BACKEND_CUDA, 0, &info), MF_ERROR_DEVICE,
                  std::string(call) + " failed with CUresult 999 (unknown error)");
    mf_context context = nullptr;
    expect_status(create(MF_BACKEND_CUDA, 0, &context), MF_ERROR_DEVICE, call);
    EXPECT_EQ(context, nullptr);
  }
}

}  // namespace
}  // namespace mf::capi_test
