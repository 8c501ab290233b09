// The templates as HIP C++ without an AMD GPU: every operator's kernels compile with hipRTC
// for gfx90a (MI250) — the default configuration of each problem below and each distinct
// module of every configuration of one problem per operator and direction — and the
// generated instantiations for an AMD target match golden files. (gfx942, which hipRTC 5.2
// cannot compile for, goes through the MLIR generator: tests/mlir/gpu_program_test.cpp.)
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "compiler/compile_sample.h"
#include "mf/compiler/evo_attention_generator.h"
#include "mf/compiler/hiprtc.h"
#include "mf/compiler/layer_norm_linear_generator.h"
#include "mf/compiler/transition_generator.h"
#include "mf/ir/error.h"
#include "mf/ir/problem.h"

namespace mf::compiler {
namespace {

using ir::DType;

// MI250X's graphics compute die: 110 compute units, 64 KiB of LDS a workgroup.
const Target kMi250{"gfx90a", 110, 64 * 1024};

struct Case {
  std::string name;
  ir::Problem problem;
};

ir::EvoAttention triangle(DType dtype, int head_dim, ir::DBiasMode mode = ir::DBiasMode::kDeterministic) {
  ir::EvoLayoutOptions options;
  options.dtype = dtype;
  ir::EvoAttention op = ir::with_gradients(ir::triangle_attention_starting(1, 384, 4, head_dim, options),
                                           ir::EvoAttention::kAllGradients);
  op.dbias_mode = mode;
  return op;
}

ir::LayerNormLinear linear(DType dtype, std::int64_t k, std::int64_t n) {
  ir::LinearOptions options;
  options.dtype = dtype;
  options.torch_weight = true;
  return ir::layer_norm_linear(4096, k, n, options);
}

ir::Transition transition(DType dtype, std::int64_t d, std::int64_t e) {
  ir::TransitionOptions options;
  options.dtype = dtype;
  options.torch_weights = true;
  return ir::transition(4096, d, e, options);
}

// The forward problem and its backward with every gradient.
template <class Op>
std::vector<Case> both_directions(const std::string& name, const Op& forward) {
  return {{name + "_forward", {forward, ir::Direction::forward()}},
          {name + "_backward",
           {ir::with_gradients(forward, forward.all_gradients()), ir::Direction::backward(forward.all_gradients())}}};
}

// Every operator and dtype, both EvoAttention dBias modes.
std::vector<Case> cases() {
  std::vector<Case> all;
  for (const auto& [name, op] : std::vector<std::pair<std::string, ir::EvoAttention>>{
           {"triangle_bf16_d32", triangle(DType::kBF16, 32)},
           {"triangle_f16_d64", triangle(DType::kF16, 64)},
           {"triangle_f32_d32", triangle(DType::kF32, 32)},
           {"triangle_bf16_d32_fast", triangle(DType::kBF16, 32, ir::DBiasMode::kFast)}})
    for (auto& c : both_directions(name, op)) all.push_back(std::move(c));
  for (auto& c : both_directions("layer_norm_linear_bf16_k128_n256", linear(DType::kBF16, 128, 256))) all.push_back(c);
  for (auto& c : both_directions("layer_norm_linear_f32_k64_n64", linear(DType::kF32, 64, 64))) all.push_back(c);
  for (auto& c : both_directions("transition_bf16_d128_e4", transition(DType::kBF16, 128, 4))) all.push_back(c);
  for (auto& c : both_directions("transition_f16_d64_e2", transition(DType::kF16, 64, 2))) all.push_back(c);
  return all;
}

// Calls `on(Generator{}, op, direction)` with the template generator of the problem's operator.
template <class On>
decltype(auto) with_generator(const ir::Problem& problem, On&& on) {
  if (const auto* op = std::get_if<ir::EvoAttention>(&problem.op)) return on(EvoAttentionGenerator{}, *op, problem.direction);
  if (const auto* op = std::get_if<ir::LayerNormLinear>(&problem.op))
    return on(LayerNormLinearGenerator{}, *op, problem.direction);
  return on(TransitionGenerator{}, std::get<ir::Transition>(problem.op), problem.direction);
}

std::vector<GeneratedSource> default_modules(const ir::Problem& problem) {
  return with_generator(problem, [](auto generator, const auto& op, const ir::Direction& direction) {
    return generator.generate(op, direction, generator.default_config(op, direction, kMi250));
  });
}

// Each distinct module of every configuration of the problem's space on MI250.
std::vector<GeneratedSource> every_module(const ir::Problem& problem) {
  return with_generator(problem, [](auto generator, const auto& op, const ir::Direction& direction) {
    std::vector<GeneratedSource> modules;
    std::set<std::string> seen;
    for (const auto& config : generator.space(op, direction, kMi250).configs())
      for (auto& module : generator.generate(op, direction, config))
        if (seen.insert(module.instantiation).second) modules.push_back(std::move(module));
    return modules;
  });
}

// Compiles every module for gfx90a on all cores with hipRTC's options plus `options`; one
// line per failure.
std::vector<std::string> compile_for_mi250(const std::vector<std::pair<std::string, GeneratedSource>>& modules,
                                           const std::vector<std::string>& options = {}) {
  std::vector<std::string> failures;
  std::mutex mutex;
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < modules.size(); i = next++) {
      const auto& [label, module] = modules[i];
      try {
        HipRtc::instance().compile(module.text, module.name, kMi250.arch, options);
      } catch (const std::exception& error) {
        const std::lock_guard lock(mutex);
        failures.push_back(fmt::format("{} {}: {}", label, module.instantiation.substr(0, 200), error.what()));
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < std::max(1u, std::thread::hardware_concurrency()); ++t) threads.emplace_back(worker);
  for (auto& thread : threads) thread.join();
  return failures;
}

const std::vector<std::string> kTooLargeForMi250 = {"transition_bf16_d128_e4_backward"};

class HipTemplatesCompile : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(HipRtc::instance().available()) << HipRtc::instance().unavailable_reason(); }
};

// Problems whose every template configuration needs more than AMD's 64 KiB of LDS: the hip
// backend serves them with the MLIR generator (docs/hip.md).
bool fits_mi250(const ir::Problem& problem) {
  try {
    default_modules(problem);
    return true;
  } catch (const ir::Error& error) {
    EXPECT_EQ(error.kind(), ir::ErrorKind::kUnsupported) << error.what();
    EXPECT_THAT(error.what(), ::testing::HasSubstr("65536 bytes of shared memory"));
    return false;
  }
}

TEST_F(HipTemplatesCompile, DefaultConfigurationsOfEveryOperatorCompileForMi250) {
  std::vector<std::pair<std::string, GeneratedSource>> modules;
  std::vector<std::string> too_large;
  for (const Case& c : cases()) {
    if (!fits_mi250(c.problem)) {
      too_large.push_back(c.name);
      continue;
    }
    for (auto& module : default_modules(c.problem)) modules.emplace_back(c.name, std::move(module));
  }
  EXPECT_EQ(too_large, kTooLargeForMi250);
  std::printf("compiling %zu modules\n", modules.size());
  std::fflush(stdout);
  const auto failures = compile_for_mi250(modules);
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << modules.size() << " failed, first: " << failures.front();
}

TEST_F(HipTemplatesCompile, EveryConfigurationCompilesForMi250) {
  std::vector<std::pair<std::string, GeneratedSource>> modules;
  for (const Case& c : cases()) {
    // One problem per operator and direction: dtypes and modes change instantiations, not
    // the configurations' code paths, which the default configurations above cover.
    if (c.name.find("bf16") == std::string::npos || c.name.find("fast") != std::string::npos) continue;
    if (std::find(kTooLargeForMi250.begin(), kTooLargeForMi250.end(), c.name) != kTooLargeForMi250.end()) continue;
    for (auto& module : every_module(c.problem)) modules.emplace_back(c.name, std::move(module));
  }
  const std::size_t all = modules.size();
  modules = compile_sample(std::move(modules));
  std::printf("compiling %s modules\n", compile_sample_note(modules.size(), all).c_str());
  std::fflush(stdout);
  // Without optimisation: what a configuration can break (templates that do not
  // instantiate, sizes that do not fit) fails in the front end, and -O3 on 315 modules
  // would take CI 7 minutes; the default configurations above compile with -O3.
  const auto failures = compile_for_mi250(modules, {"-O0"});
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << modules.size() << " failed, first: " << failures.front();
}

// ---- golden instantiations --------------------------------------------------------------
std::string golden_path(const std::string& name) { return std::string(MF_GOLDEN_DIR) + "/hip_" + name + ".cu"; }

TEST(HipTemplatesSource, MatchesGoldenFiles) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    if (std::find(kTooLargeForMi250.begin(), kTooLargeForMi250.end(), c.name) != kTooLargeForMi250.end()) continue;
    std::string instantiations;
    for (const auto& module : default_modules(c.problem)) instantiations += module.instantiation;
    if (std::getenv("MF_UPDATE_GOLDEN") != nullptr) std::ofstream(golden_path(c.name)) << instantiations;
    std::ifstream file(golden_path(c.name));
    ASSERT_TRUE(file) << "missing golden file " << golden_path(c.name) << " (MF_UPDATE_GOLDEN=1 writes it)";
    std::stringstream expected;
    expected << file.rdbuf();
    EXPECT_EQ(instantiations, expected.str());
  }
}

}  // namespace
}  // namespace mf::compiler
