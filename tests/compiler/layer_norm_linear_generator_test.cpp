// The LayerNormLinear template generator without a GPU: every configuration of its space
// compiles with NVRTC for sm_80 and sm_90a, default configurations compile without
// register spills, generated instantiations match golden files, and what it refuses.
#include "mf/compiler/layer_norm_linear_generator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "compiler/compile_all.h"
#include "mf/compiler/nvrtc.h"
#include "mf/ir/error.h"

namespace mf::compiler {
namespace {

using ir::DType;
using ir::LayerNormLinear;
using ::testing::HasSubstr;

const Target kHopper{"sm_90a", 132, 227 * 1024};

LayerNormLinear linear(DType dtype, std::int64_t k, std::int64_t n, bool torch_weight, bool optional_params = true,
                       std::optional<DType> params = std::nullopt) {
  ir::LinearOptions options;
  options.dtype = dtype;
  options.param_dtype = params;
  options.with_beta = optional_params;
  options.with_bias = optional_params;
  options.torch_weight = torch_weight;
  return ir::layer_norm_linear(147456, k, n, options);
}

// The problems the compile tests cover: every dtype, both weight layouts, with and without
// the optional parameters, and each AF3 K.
std::vector<std::pair<std::string, LayerNormLinear>> problems() {
  return {
      {"bf16 K=128 torch", linear(DType::kBF16, 128, 640, true)},
      {"bf16 K=128 [K,N] no beta/bias", linear(DType::kBF16, 128, 16, false, false)},
      {"f16 K=64 torch f32 params", linear(DType::kF16, 64, 128, true, true, DType::kF32)},
      {"bf16 K=384", linear(DType::kBF16, 384, 1536, false)},
      {"f32 K=100", linear(DType::kF32, 100, 37, true)},
  };
}

// The forward problem, and its backward with every gradient.
std::vector<std::pair<LayerNormLinear, ir::Direction>> both_directions(const LayerNormLinear& forward) {
  return {{forward, ir::Direction::forward()},
          {ir::with_gradients(forward, forward.all_gradients()), ir::Direction::backward(forward.all_gradients())}};
}

class LayerNormLinearGeneratorCompile : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Nvrtc::instance().available()) GTEST_SKIP() << "NVRTC unavailable: " << Nvrtc::instance().unavailable_reason();
  }
};

TEST_F(LayerNormLinearGeneratorCompile, EveryConfigurationCompilesForAmpereAndHopper) {
  std::vector<std::pair<std::string, GeneratedSource>> modules;
  std::set<std::string> seen;
  // Each dtype and both weight layouts; K and the optional parameters change no code path
  // that the defaults' compile (below) does not cover.
  const std::vector<std::pair<std::string, LayerNormLinear>> covered = {
      {"bf16 K=128 torch", linear(DType::kBF16, 128, 640, true)},
      {"f16 K=64 [K,N] f32 params, no beta/bias", linear(DType::kF16, 64, 128, false, false, DType::kF32)},
      {"f32 K=100 torch", linear(DType::kF32, 100, 37, true)},
  };
  for (const auto& [label, forward] : covered)
    for (const auto& [op, direction] : both_directions(forward))
      for (const auto& config : LayerNormLinearGenerator::space(op, direction, kHopper).configs())
        for (auto& module : LayerNormLinearGenerator::generate(op, direction, config))
          if (seen.insert(module.text).second) modules.emplace_back(label, std::move(module));
  std::printf("compiling %zu modules\n", modules.size());
  ASSERT_GT(modules.size(), 50u);
  const auto failures = compile_all(modules, {"sm_80", "sm_90a"}, nullptr);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
}

TEST_F(LayerNormLinearGeneratorCompile, DefaultConfigurationsDoNotSpill) {
  std::vector<std::pair<std::string, GeneratedSource>> modules;
  for (const auto& [label, forward] : problems())
    for (const auto& [op, direction] : both_directions(forward)) {
      const auto config = LayerNormLinearGenerator::default_config(op, direction, kHopper);
      for (auto& module : LayerNormLinearGenerator::generate(op, direction, config))
        modules.emplace_back(label + " [" + ir::to_string(config) + "]", std::move(module));
    }
  std::vector<Compiled> compiled;
  const auto failures = compile_all(modules, {"sm_90a"}, &compiled);
  ASSERT_TRUE(failures.empty()) << failures.front();
  for (const auto& c : compiled) {
    ASSERT_FALSE(c.resources.empty()) << c.label;
    for (const auto& kernel : c.resources) {
      EXPECT_EQ(kernel.spill_store_bytes, 0) << c.label << " " << kernel.function << " spills";
      EXPECT_EQ(kernel.spill_load_bytes, 0) << c.label << " " << kernel.function << " spills";
    }
  }
}

std::string golden_path(const std::string& name) { return std::string(MF_GOLDEN_DIR) + "/" + name + ".cu"; }

TEST(LayerNormLinearGeneratorSource, MatchesGoldenFiles) {
  const std::vector<std::pair<std::string, LayerNormLinear>> samples = {
      {"layer_norm_linear_bf16_k128_n640_torch_forward", linear(DType::kBF16, 128, 640, true)},
      {"layer_norm_linear_f32_k100_n37_no_beta_bias_forward", linear(DType::kF32, 100, 37, false, false)},
      {"layer_norm_linear_bf16_k384_n1536_backward", linear(DType::kBF16, 384, 1536, false)},
  };
  for (const auto& [name, forward] : samples) {
    SCOPED_TRACE(name);
    const auto [op, direction] = both_directions(forward)[name.find("backward") != std::string::npos ? 1 : 0];
    const auto config = LayerNormLinearGenerator::default_config(op, direction, kHopper);
    std::string instantiations;
    for (const auto& module : LayerNormLinearGenerator::generate(op, direction, config)) {
      instantiations += module.instantiation;
      EXPECT_THAT(module.text, HasSubstr("templates/cuda/layer_norm_linear_forward.cuh"));
      EXPECT_THAT(module.text, Not(HasSubstr("templates/cuda/evo_attention_forward.cuh")));
    }
    if (std::getenv("MF_UPDATE_GOLDEN") != nullptr) {
      std::ofstream(golden_path(name)) << instantiations;
      continue;
    }
    std::ifstream file(golden_path(name));
    ASSERT_TRUE(file) << "missing golden file " << golden_path(name) << " (MF_UPDATE_GOLDEN=1 writes it)";
    std::stringstream expected;
    expected << file.rdbuf();
    EXPECT_EQ(instantiations, expected.str()) << "generated source of " << name << " changed; review, then MF_UPDATE_GOLDEN=1";
  }
}

TEST(LayerNormLinearGeneratorSpace, RefusesWhatItCannotServe) {
  const LayerNormLinear op = linear(DType::kBF16, 128, 640, true);
  auto refuses = [](auto&& call, const char* why) {
    try {
      call();
      ADD_FAILURE() << "no error; expected: " << why;
    } catch (const ir::Error& e) {
      EXPECT_EQ(e.kind(), ir::ErrorKind::kUnsupported);
      EXPECT_THAT(e.what(), HasSubstr(why));
    }
  };
  refuses([&] { LayerNormLinearGenerator::space(linear(DType::kBF16, 2048, 64, true), ir::Direction::forward(), kHopper); },
          "K = 2048 is past");
  refuses([&] { LayerNormLinearGenerator::space(linear(DType::kF64, 64, 64, true), ir::Direction::forward(), kHopper); },
          "f64");
  // K = 1024 in f32 fits no row block in 48 KiB of shared memory.
  refuses([&] {
    LayerNormLinearGenerator::default_config(linear(DType::kF32, 1024, 64, true), ir::Direction::forward(),
                                             Target{"sm_80", 108, 48 * 1024});
  }, "no configuration");
  const auto space = LayerNormLinearGenerator::space(op, ir::Direction::forward(), kHopper);
  ir::TileConfig config = LayerNormLinearGenerator::default_config(op, ir::Direction::forward(), kHopper);
  EXPECT_NO_THROW(space.check(config));
  config.set("block_n", 48);
  EXPECT_THROW(space.check(config), ir::Error);
}

TEST(LayerNormLinearGeneratorLaunch, OneBlockPerRowBlock) {
  const LayerNormLinear op = linear(DType::kBF16, 128, 640, true);
  ir::TileConfig config;
  config.set("warps", 8).set("block_n", 64).set("stages", 2).set("min_blocks", 1);
  const auto plan = LayerNormLinearGenerator::launch_plan(op, ir::Direction::forward(), config, kHopper);
  ASSERT_EQ(plan.kernels.size(), 1u);
  EXPECT_EQ(plan.kernels[0].entry, "mf_lnl_forward");
  EXPECT_EQ(plan.kernels[0].blocks, 147456 / 128);
  EXPECT_EQ(plan.kernels[0].threads_x, 256);
  // x tile, γ and β, two [N, K] weight stages, the output stage.
  EXPECT_EQ(plan.kernels[0].shared_bytes, 128 * 136 * 2 + 2 * 128 * 4 + 2 * 64 * 136 * 2 + 128 * 72 * 2);
}

// The backward: rows, weights and finalize kernels, with the workspace of exactly the
// partial sums the wanted gradients need.
TEST(LayerNormLinearGeneratorLaunch, BackwardKernelsAndWorkspaceFollowTheGradients) {
  const LayerNormLinear forward = linear(DType::kBF16, 128, 640, true);
  const LayerNormLinear op = ir::with_gradients(forward, forward.all_gradients());
  ir::TileConfig config;
  config.set("warps", 8).set("block_n", 64).set("weight_block_n", 64);
  auto plan = LayerNormLinearGenerator::launch_plan(op, ir::Direction::backward(forward.all_gradients()), config, kHopper);
  ASSERT_EQ(plan.kernels.size(), 3u);
  EXPECT_EQ(plan.kernels[0].entry, "mf_lnl_backward_rows");
  EXPECT_EQ(plan.kernels[0].blocks, 147456 / 128);
  EXPECT_EQ(plan.kernels[1].entry, "mf_lnl_backward_weights");
  EXPECT_EQ(plan.kernels[1].blocks, 10 * plan.groups);  // 640 / 64 column tiles
  EXPECT_EQ(plan.kernels[2].entry, "mf_lnl_backward_finalize");
  EXPECT_EQ(plan.gamma_partial_bytes, std::size_t(1152) * 2 * 128 * 4);
  EXPECT_EQ(plan.weight_partial_bytes, std::size_t(plan.groups) * 128 * 640 * 4);
  EXPECT_GE(plan.groups * 10, 2 * 132);  // two blocks a multiprocessor
  EXPECT_GE(std::int64_t(plan.groups) * plan.rows_per_group, 147456);
  EXPECT_EQ(plan.rows_per_group % 64, 0);
  // dx alone: the rows kernel only, no workspace.
  plan = LayerNormLinearGenerator::launch_plan(ir::with_gradients(forward, LayerNormLinear::kGradX),
                                               ir::Direction::backward(LayerNormLinear::kGradX), config, kHopper);
  ASSERT_EQ(plan.kernels.size(), 1u);
  EXPECT_EQ(plan.workspace_bytes, 0u);
  // dW alone: weights and finalize.
  plan = LayerNormLinearGenerator::launch_plan(ir::with_gradients(forward, LayerNormLinear::kGradWeight),
                                               ir::Direction::backward(LayerNormLinear::kGradWeight), config, kHopper);
  ASSERT_EQ(plan.kernels.size(), 2u);
  EXPECT_EQ(plan.gamma_partial_bytes, 0u);
}

}  // namespace
}  // namespace mf::compiler
