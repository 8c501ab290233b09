// The Transition template generator without a GPU: every configuration of its space
// compiles with NVRTC for sm_80 and sm_90a, default configurations compile without
// register spills, generated instantiations match golden files, the launch geometry, and
// what it refuses.
#include "mf/compiler/transition_generator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "compiler/compile_all.h"
#include "compiler/compile_sample.h"
#include "compiler/config_round_trip.h"
#include "mf/compiler/transition_config.h"
#include "mf/ir/error.h"

namespace mf::compiler {
namespace {

using ir::DType;
using ir::Transition;
using ::testing::HasSubstr;
using ::testing::Not;

const Target kHopper{"sm_90a", 132, 227 * 1024};

Transition transition(DType dtype, std::int64_t m, std::int64_t d, std::int64_t e, bool torch_weights,
                      bool layer_norm = true, bool with_beta = true, std::optional<DType> params = std::nullopt) {
  ir::TransitionOptions options;
  options.dtype = dtype;
  options.param_dtype = params;
  options.layer_norm = layer_norm;
  options.with_beta = with_beta;
  options.torch_weights = torch_weights;
  return ir::transition(m, d, e, options);
}

// Every dtype, both weight layouts, with and without the LayerNorm, each AF3 D and E, and
// a D that is no multiple of 16.
std::vector<std::pair<std::string, Transition>> problems() {
  return {
      {"bf16 D=128 E=4 torch", transition(DType::kBF16, 147456, 128, 4, true)},
      {"bf16 D=128 E=2 [in,out]", transition(DType::kBF16, 4096, 128, 2, false)},
      {"bf16 D=384 E=4 torch", transition(DType::kBF16, 384, 384, 4, true)},
      {"f16 D=64 f32 params, no beta", transition(DType::kF16, 1000, 64, 4, false, true, false, DType::kF32)},
      {"f32 D=40 no LayerNorm torch", transition(DType::kF32, 7, 40, 2, true, false, false)},
  };
}

// The forward problem, and its backward with every gradient.
std::vector<std::pair<Transition, ir::Direction>> both_directions(const Transition& forward) {
  return {{forward, ir::Direction::forward()},
          {ir::with_gradients(forward, forward.all_gradients()), ir::Direction::backward(forward.all_gradients())}};
}

class TransitionGeneratorCompile : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Nvrtc::instance().available()) GTEST_SKIP() << "NVRTC unavailable: " << Nvrtc::instance().unavailable_reason();
  }
};

TEST_F(TransitionGeneratorCompile, EveryConfigurationCompilesForAmpereAndHopper) {
  std::vector<std::pair<std::string, GeneratedSource>> modules;
  std::set<std::string> seen;
  // Each dtype and both weight layouts, with and without the LayerNorm: the code paths of
  // the template. Other sizes change constants only (the defaults' compile covers them).
  const std::vector<std::pair<std::string, Transition>> covered = {
      {"bf16 D=128 E=4 torch", transition(DType::kBF16, 147456, 128, 4, true)},
      {"f16 D=64 [in,out] f32 params", transition(DType::kF16, 1000, 64, 4, false, true, true, DType::kF32)},
      {"f32 D=48 no LayerNorm torch", transition(DType::kF32, 7, 48, 2, true, false, false)},
  };
  for (const auto& [label, forward] : covered)
    for (const auto& [op, direction] : both_directions(forward))
      for (const auto& config : TransitionGenerator::space(op, direction, kHopper).configs())
        for (auto& module : TransitionGenerator::generate(op, direction, config))
          if (seen.insert(module.text).second) modules.emplace_back(label, std::move(module));
  ASSERT_GT(modules.size(), 40u);
  const std::size_t all = modules.size();
  modules = compile_sample(std::move(modules));
  std::printf("compiling %s modules\n", compile_sample_note(modules.size(), all).c_str());
  const auto failures = compile_all(modules, {"sm_80", "sm_90a"}, nullptr);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
}

TEST_F(TransitionGeneratorCompile, DefaultConfigurationsDoNotSpill) {
  std::vector<std::pair<std::string, GeneratedSource>> modules;
  for (const auto& [label, forward] : problems())
    for (const auto& [op, direction] : both_directions(forward)) {
      const auto config = TransitionGenerator::default_config(op, direction, kHopper);
      for (auto& module : TransitionGenerator::generate(op, direction, config))
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

TEST(TransitionGeneratorSource, MatchesGoldenFiles) {
  const std::vector<std::pair<std::string, Transition>> samples = {
      {"transition_bf16_d128_e4_torch_forward", transition(DType::kBF16, 147456, 128, 4, true)},
      {"transition_f32_d40_e2_no_layer_norm_forward", transition(DType::kF32, 7, 40, 2, false, false, false)},
      {"transition_bf16_d128_e4_torch_backward", transition(DType::kBF16, 147456, 128, 4, true)},
  };
  for (const auto& [name, forward] : samples) {
    SCOPED_TRACE(name);
    const auto [op, direction] = both_directions(forward)[name.find("backward") != std::string::npos ? 1 : 0];
    const auto config = TransitionGenerator::default_config(op, direction, kHopper);
    std::string instantiations;
    for (const auto& module : TransitionGenerator::generate(op, direction, config)) {
      instantiations += module.instantiation;
      EXPECT_THAT(module.text, HasSubstr("templates/cuda/transition_forward.cuh"));
      EXPECT_THAT(module.text, Not(HasSubstr("templates/cuda/layer_norm_linear_forward.cuh")));
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

// The typed configurations read and write exactly the keys the spaces (and so the tuning
// databases) hold: every configuration of both directions' spaces round-trips, and a
// missing key is a kInvalidArgument that names it.
TEST(TransitionConfig, ConfigurationsOfTheSpacesRoundTrip) {
  const Transition op = transition(DType::kBF16, 4096, 128, 4, true);
  const ir::Direction backward = ir::Direction::backward(op.all_gradients());
  EXPECT_GT(expect_round_trips<TransitionForwardConfig>(TransitionGenerator::space(op, ir::Direction::forward(), kHopper)) +
                expect_round_trips<TransitionBackwardConfig>(
                    TransitionGenerator::space(ir::with_gradients(op, op.all_gradients()), backward, kHopper)),
            20u);
  ir::TileConfig missing =
      TransitionForwardConfig{.warps = 4, .block_f = 32, .block_d = 128, .stages = 2, .occupancy = 8}.tile();
  missing.params.erase("occupancy");
  try {
    TransitionForwardConfig::from(missing);
    FAIL() << "read a configuration without occupancy";
  } catch (const ir::Error& error) {
    EXPECT_EQ(error.kind(), ir::ErrorKind::kInvalidArgument);
    EXPECT_THAT(error.what(), HasSubstr("occupancy"));
  }
}

TEST(TransitionGeneratorSpace, RefusesWhatItCannotServe) {
  auto refuses = [](auto&& call, const char* why) {
    try {
      call();
      ADD_FAILURE() << "no error; expected: " << why;
    } catch (const ir::Error& e) {
      EXPECT_EQ(e.kind(), ir::ErrorKind::kUnsupported);
      EXPECT_THAT(e.what(), HasSubstr(why));
    }
  };
  const Transition op = transition(DType::kBF16, 147456, 128, 4, true);
  refuses([&] { TransitionGenerator::space(transition(DType::kBF16, 8, 2048, 2, true), ir::Direction::forward(), kHopper); },
          "D = 2048 is past");
  refuses([&] { TransitionGenerator::space(transition(DType::kF64, 8, 64, 2, true), ir::Direction::forward(), kHopper); },
          "f64");
  // D = 1024 in f32 fits no row block in 48 KiB of shared memory.
  refuses([&] {
    TransitionGenerator::default_config(transition(DType::kF32, 8, 1024, 2, true), ir::Direction::forward(),
                                        Target{"sm_80", 108, 48 * 1024});
  }, "no configuration");

  const auto space = TransitionGenerator::space(op, ir::Direction::forward(), kHopper);
  ir::TileConfig config = TransitionGenerator::default_config(op, ir::Direction::forward(), kHopper);
  EXPECT_NO_THROW(space.check(config));
  EXPECT_THAT(*space.reject(ir::TileConfig(config).set("occupancy", 12).set("warps", 8)), HasSubstr("whole number"));
  EXPECT_THAT(*space.reject(ir::TileConfig(config).set("occupancy", 16).set("block_f", 64)), HasSubstr("registers"));
  const Transition narrow = transition(DType::kBF16, 64, 40, 2, true);
  EXPECT_THAT(*TransitionGenerator::space(narrow, ir::Direction::forward(), kHopper)
                   .reject(ir::TileConfig(config).set("block_d", 64)),
              HasSubstr("wider than D"));
}

TEST(TransitionGeneratorLaunch, RowBlocksTimesColumnBlocks) {
  ir::TileConfig config;
  config.set("warps", 4).set("block_f", 32).set("block_d", 128).set("stages", 2).set("occupancy", 8);
  auto plan = TransitionGenerator::launch_plan(transition(DType::kBF16, 147456, 128, 4, false), ir::Direction::forward(),
                                               config, kHopper);
  ASSERT_EQ(plan.kernels.size(), 1u);
  EXPECT_EQ(plan.kernels[0].entry, "mf_transition_forward");
  EXPECT_EQ(plan.row_blocks, 147456 / 64);
  EXPECT_EQ(plan.kernels[0].blocks, 147456 / 64);
  EXPECT_EQ(plan.kernels[0].threads_x, 128);
  // x tile, γ and β as float, two stages of W1 ([D, 2·block_f]) and W2 ([block_f, block_d]).
  EXPECT_EQ(plan.kernels[0].shared_bytes, 64 * 136 * 2 + 2 * 128 * 4 + 2 * (128 * 72 + 32 * 136) * 2);
  // D = 384 in column blocks of 128: three blocks a row block; M = 1000 in 16-row warps.
  plan = TransitionGenerator::launch_plan(transition(DType::kBF16, 1000, 384, 4, true), ir::Direction::forward(),
                                          config, kHopper);
  EXPECT_EQ(plan.row_blocks, 16);  // ceil(1000 / 64)
  EXPECT_EQ(plan.kernels[0].blocks, 16 * 3);
  // torch layouts: W1 as [2·block_f, D] rows, W2 as [block_d, block_f] rows.
  EXPECT_EQ(plan.kernels[0].shared_bytes, 64 * 392 * 2 + 2 * 384 * 4 + 2 * (64 * 392 + 128 * 40) * 2);
}

// The backward: rows, weights and finalize kernels, with the workspace of exactly the
// partial sums the wanted gradients need.
TEST(TransitionGeneratorLaunch, BackwardKernelsAndWorkspaceFollowTheGradients) {
  const Transition forward = transition(DType::kBF16, 147456, 128, 4, true);
  const Transition op = ir::with_gradients(forward, forward.all_gradients());
  ir::TileConfig config;
  config.set("warps", 4).set("block_f", 32).set("occupancy", 4).set("weight_warps", 8).set("weight_block_f", 32);
  auto plan = TransitionGenerator::launch_plan(op, ir::Direction::backward(forward.all_gradients()), config, kHopper);
  ASSERT_EQ(plan.kernels.size(), 3u);
  EXPECT_EQ(plan.kernels[0].entry, "mf_transition_backward_rows");
  EXPECT_EQ(plan.kernels[0].blocks, 147456 / 64);
  EXPECT_EQ(plan.kernels[1].entry, "mf_transition_backward_weights");
  EXPECT_EQ(plan.kernels[1].blocks, 16 * plan.groups);  // 512 / 32 hidden chunks
  EXPECT_EQ(plan.kernels[2].entry, "mf_transition_backward_finalize");
  EXPECT_EQ(plan.gamma_partial_bytes, std::size_t(2304) * 2 * 128 * 4);
  EXPECT_EQ(plan.w1_partial_bytes, std::size_t(plan.groups) * 128 * 1024 * 4);
  EXPECT_EQ(plan.w2_partial_bytes, std::size_t(plan.groups) * 512 * 128 * 4);
  EXPECT_GE(plan.groups * 16, 2 * 132);  // two blocks a multiprocessor
  EXPECT_GE(std::int64_t(plan.groups) * plan.rows_per_group, 147456);
  EXPECT_EQ(plan.rows_per_group % 128, 0);  // whole steps of the weights kernel's 8 warps
  // dx alone: the rows kernel only, no workspace.
  plan = TransitionGenerator::launch_plan(ir::with_gradients(forward, Transition::kGradX),
                                          ir::Direction::backward(Transition::kGradX), config, kHopper);
  ASSERT_EQ(plan.kernels.size(), 1u);
  EXPECT_EQ(plan.workspace_bytes, 0u);
  // dW2 alone: weights and finalize.
  plan = TransitionGenerator::launch_plan(ir::with_gradients(forward, Transition::kGradW2),
                                          ir::Direction::backward(Transition::kGradW2), config, kHopper);
  ASSERT_EQ(plan.kernels.size(), 2u);
  EXPECT_EQ(plan.gamma_partial_bytes, 0u);
  // Without the LayerNorm there is no dγ/dβ to sum.
  const Transition plain = transition(DType::kBF16, 4096, 128, 2, false, false, false);
  plan = TransitionGenerator::launch_plan(ir::with_gradients(plain, plain.all_gradients()),
                                          ir::Direction::backward(plain.all_gradients()), config, kHopper);
  EXPECT_EQ(plan.gamma_partial_bytes, 0u);
  EXPECT_EQ(plan.kernels.size(), 3u);
}

}  // namespace
}  // namespace mf::compiler
