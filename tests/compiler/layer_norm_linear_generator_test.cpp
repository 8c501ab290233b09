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
#include "compiler/compile_sample.h"
#include "compiler/config_round_trip.h"
#include "mf/compiler/layer_norm_linear_config.h"
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
  // Version 2's wgmma modules exist for sm_90a alone; the forward's of the first problem
  // stand for the rest (dtype and layout change a type and one copy, not the register
  // budget); the backward's are a few per problem (its modules depend on warps or
  // weight_block_n alone), all compiled.
  std::vector<std::pair<std::string, GeneratedSource>> hopper_modules;
  for (const auto& [label, forward] : covered)
    for (const auto& [op, direction] : both_directions(forward))
      for (const auto& config : LayerNormLinearGenerator::space(op, direction, kHopper).configs()) {
        const bool v2 = config.get("version") == 2;
        if (v2 && direction.pass == ir::Pass::kForward && label != covered.front().first) continue;
        for (auto& module : LayerNormLinearGenerator::generate(op, direction, config))
          if (seen.insert(module.text).second)
            (v2 ? hopper_modules : modules).emplace_back(label + " [" + ir::to_string(config) + "]", std::move(module));
      }
  ASSERT_GT(modules.size(), 50u);
  ASSERT_GE(hopper_modules.size(), 8u);
  // Version 2's modules all compile: they check the register model below.
  const std::size_t all = modules.size();
  modules = compile_sample(std::move(modules));
  std::printf("compiling %s modules for both targets, %zu for sm_90a\n", compile_sample_note(modules.size(), all).c_str(),
              hopper_modules.size());
  auto failures = compile_all(modules, {"sm_80", "sm_90a"}, nullptr);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
  // The space's register model admits only version 2 configurations that do not spill.
  std::vector<Compiled> compiled;
  failures = compile_all(hopper_modules, {"sm_90a"}, &compiled);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
  for (const auto& c : compiled)
    for (const auto& kernel : c.resources)
      EXPECT_EQ(kernel.spill_store_bytes + kernel.spill_load_bytes, 0) << c.label << " spills";
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
    // The wgmma kernels keep their products asynchronous.
    EXPECT_FALSE(c.serialized_products) << c.label << ": ptxas serialises the wgmma products";
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
      EXPECT_THAT(module.text, HasSubstr("templates/cuda/layer_norm_linear_params.h"));
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
  config.set("warps", 8).set("block_n", 64).set("stages", 2).set("min_blocks", 1).set("version", 1);
  const auto plan = LayerNormLinearGenerator::launch_plan(op, ir::Direction::forward(), config, kHopper);
  ASSERT_EQ(plan.kernels.size(), 1u);
  EXPECT_EQ(plan.kernels[0].entry, "mf_lnl_forward");
  EXPECT_EQ(plan.kernels[0].blocks, 147456 / 128);
  EXPECT_EQ(plan.kernels[0].threads_x, 256);
  // x tile, γ and β, two [N, K] weight stages, the output stage.
  EXPECT_EQ(plan.kernels[0].shared_bytes, 128 * 136 * 2 + 2 * 128 * 4 + 2 * 64 * 136 * 2 + 128 * 72 * 2);
}

// Version 2: persistent blocks, a whole number per column slice, min_blocks a multiprocessor
// at most; the shared memory of the resident slice and each warpgroup's stages.
TEST(LayerNormLinearGeneratorLaunch, Version2IsPersistentWithWholeSlices) {
  const LayerNormLinear op = linear(DType::kBF16, 128, 640, true);
  ir::TileConfig config;
  config.set("warps", 8).set("block_n", 128).set("stages", 2).set("min_blocks", 1).set("version", 2);
  auto plan = LayerNormLinearGenerator::launch_plan(op, ir::Direction::forward(), config, kHopper);
  ASSERT_EQ(plan.kernels.size(), 1u);
  EXPECT_EQ(plan.kernels[0].entry, "mf_lnl_forward");
  EXPECT_EQ(plan.kernels[0].threads_x, 256);
  EXPECT_EQ(plan.kernels[0].blocks, 5 * (132 / 5));  // 5 slices of 128 columns
  // Two 128-byte panels of 128 columns, γ β b, then per warpgroup two x stages and the output.
  EXPECT_EQ(plan.kernels[0].shared_bytes, 2 * 128 * 128 + (2 * 128 + 128) * 4 + 2 * (2 * 64 * 136 * 2 + 64 * 136 * 2));
  config.set("warps", 4).set("min_blocks", 2).set("block_n", 128);
  plan = LayerNormLinearGenerator::launch_plan(op, ir::Direction::forward(), config, kHopper);
  EXPECT_EQ(plan.kernels[0].blocks, 5 * (2 * 132 / 5));
  config.set("min_blocks", 1).set("block_n", 256);
  plan = LayerNormLinearGenerator::launch_plan(op, ir::Direction::forward(), config, kHopper);
  EXPECT_EQ(plan.kernels[0].blocks, 3 * (132 / 3));
  // Few rows: no more blocks a slice than it has row blocks for.
  const LayerNormLinear small = ir::layer_norm_linear(100, 128, 640, {});
  plan = LayerNormLinearGenerator::launch_plan(small, ir::Direction::forward(), config, kHopper);
  EXPECT_EQ(plan.kernels[0].blocks, 3 * 2);
}

// Version 2 is Hopper's, 16-bit, K a multiple of 16, whole warpgroups, two x stages, and
// no more blocks a multiprocessor than its shared memory holds.
TEST(LayerNormLinearGeneratorSpace, Version2RefusesWhatItCannotRun) {
  const LayerNormLinear op = linear(DType::kBF16, 128, 640, true);
  ir::TileConfig v2;
  v2.set("warps", 8).set("block_n", 128).set("stages", 2).set("min_blocks", 1).set("version", 2);
  EXPECT_NO_THROW(LayerNormLinearGenerator::space(op, ir::Direction::forward(), kHopper).check(v2));
  auto refusal = [](const LayerNormLinear& problem, const ir::TileConfig& config, const Target& target) {
    try {
      LayerNormLinearGenerator::space(problem, ir::Direction::forward(), target).check(config);
    } catch (const ir::Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_THAT(refusal(op, v2, Target{"sm_80", 108, 163 * 1024}), HasSubstr("version = 2 is not one of"));
  EXPECT_THAT(refusal(linear(DType::kF32, 128, 640, true), v2, kHopper), HasSubstr("version 2 takes bf16 and f16"));
  EXPECT_THAT(refusal(linear(DType::kBF16, 100, 640, true), v2, kHopper), HasSubstr("K a multiple of 16, not 100"));
  ir::TileConfig changed = v2;
  EXPECT_THAT(refusal(op, changed.set("warps", 2), kHopper), HasSubstr("warps = 4 or 8, not 2"));
  changed = v2;
  EXPECT_THAT(refusal(op, changed.set("stages", 1), kHopper), HasSubstr("stages = 2, not 1"));
  changed = v2;
  // Two blocks of a warpgroup with a 256-column slice: 133 KiB each.
  EXPECT_THAT(refusal(op, changed.set("warps", 4).set("block_n", 256).set("min_blocks", 2), kHopper),
              HasSubstr("do not fit a multiprocessor"));
  changed = v2;
  EXPECT_THAT(refusal(op, changed.set("version", 1).set("block_n", 256), kHopper), HasSubstr("at most 128 columns"));
}

TEST(LayerNormLinearGeneratorSpace, BackwardVersion2RefusesWhatItCannotRun) {
  const std::uint32_t all = linear(DType::kBF16, 128, 640, true).all_gradients();
  auto refusal = [all](const LayerNormLinear& problem, const ir::TileConfig& config, const Target& target,
                       std::uint32_t gradients = 0) {
    if (gradients == 0) gradients = all;
    try {
      LayerNormLinearGenerator::space(ir::with_gradients(problem, gradients), ir::Direction::backward(gradients), target)
          .check(config);
    } catch (const ir::Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const LayerNormLinear op = linear(DType::kBF16, 128, 640, true);
  ir::TileConfig v2;
  v2.set("warps", 8).set("block_n", 64).set("weight_block_n", 256).set("version", 2);
  EXPECT_EQ(refusal(op, v2, kHopper), "accepted");
  EXPECT_EQ(refusal(linear(DType::kF16, 64, 1, false), v2, kHopper), "accepted");
  EXPECT_EQ(refusal(op, v2, kHopper, LayerNormLinear::kGradX), "accepted");
  EXPECT_EQ(refusal(op, v2, kHopper, LayerNormLinear::kGradGamma), "accepted");
  EXPECT_THAT(refusal(op, v2, Target{"sm_80", 108, 163 * 1024}), HasSubstr("version = 2 is not one of"));
  EXPECT_THAT(refusal(linear(DType::kF32, 128, 640, true), v2, kHopper), HasSubstr("bf16 and f16"));
  EXPECT_THAT(refusal(linear(DType::kBF16, 96, 640, true), v2, kHopper), HasSubstr("K = 64 or 128, not 96"));
  ir::TileConfig changed = v2;
  EXPECT_THAT(refusal(op, changed.set("weight_block_n", 32), kHopper), HasSubstr("not a multiple of 64"));
  changed = v2;
  EXPECT_THAT(refusal(op, changed.set("block_n", 32), kHopper), HasSubstr("block_n = 64, not 32"));
  changed = v2;
  EXPECT_THAT(refusal(op, changed.set("version", 1), kHopper), HasSubstr("at most 128 columns a block"));
}

// The backward's default on sm_90a is version 2 wherever it runs.
TEST(LayerNormLinearGeneratorSpace, BackwardDefaultIsVersion2OnHopper) {
  auto default_of = [](const LayerNormLinear& forward, const Target& target, std::uint32_t gradients = 0) {
    if (gradients == 0) gradients = forward.all_gradients();
    return LayerNormLinearGenerator::default_config(ir::with_gradients(forward, gradients),
                                                    ir::Direction::backward(gradients), target);
  };
  ir::TileConfig config = default_of(linear(DType::kBF16, 128, 640, true), kHopper);
  EXPECT_EQ(config.at("version"), 2);
  EXPECT_EQ(config.at("weight_block_n"), 128);
  EXPECT_EQ(config.at("warps"), 8);
  EXPECT_EQ(default_of(linear(DType::kBF16, 128, 16, true), kHopper).at("weight_block_n"), 64);
  EXPECT_EQ(default_of(linear(DType::kBF16, 128, 640, true), kHopper, LayerNormLinear::kGradX).at("version"), 2);
  EXPECT_EQ(default_of(linear(DType::kBF16, 384, 640, true), kHopper).at("version"), 1);
  EXPECT_EQ(default_of(linear(DType::kF32, 128, 640, true), kHopper).at("version"), 1);
  EXPECT_EQ(default_of(linear(DType::kBF16, 128, 640, true), Target{"sm_80", 108, 163 * 1024}).at("version"), 1);
}

// The forward's default is version 2 where it was measured faster (sm_90a, 16-bit, K a
// multiple of 16, N >= 128), with 256-column slices where N is a whole number of them and
// K leaves the registers; version 1 elsewhere.
TEST(LayerNormLinearGeneratorSpace, DefaultIsVersion2WhereMeasuredFaster) {
  auto default_of = [](const LayerNormLinear& op, const Target& target) {
    return LayerNormLinearGenerator::default_config(op, ir::Direction::forward(), target);
  };
  ir::TileConfig config = default_of(linear(DType::kBF16, 128, 640, true), kHopper);
  EXPECT_EQ(config.at("version"), 2);
  EXPECT_EQ(config.at("block_n"), 128);
  EXPECT_EQ(config.at("warps"), 8);
  EXPECT_EQ(default_of(linear(DType::kBF16, 128, 1024, true), kHopper).at("block_n"), 256);
  // K = 256: 256 columns leave too few registers; K = 384: any width (its normalised rows
  // alone take 192 registers while the LayerNorm runs).
  EXPECT_EQ(default_of(linear(DType::kBF16, 256, 1024, true), kHopper).at("block_n"), 128);
  EXPECT_EQ(default_of(linear(DType::kBF16, 384, 1536, true), kHopper).at("version"), 1);
  EXPECT_EQ(default_of(linear(DType::kF16, 64, 128, false), kHopper).at("version"), 2);
  EXPECT_EQ(default_of(linear(DType::kBF16, 128, 16, true), kHopper).at("version"), 1);
  EXPECT_EQ(default_of(linear(DType::kF32, 128, 640, true), kHopper).at("version"), 1);
  EXPECT_EQ(default_of(linear(DType::kBF16, 100, 640, true), kHopper).at("version"), 1);
  EXPECT_EQ(default_of(linear(DType::kBF16, 128, 640, true), Target{"sm_80", 108, 163 * 1024}).at("version"), 1);
}

// The typed configurations read and write exactly the keys the spaces (and so the tuning
// databases) hold: every configuration of both directions' spaces round-trips, and a
// missing key or a value past an int is a kInvalidArgument that names it.
TEST(LayerNormLinearConfig, ConfigurationsOfTheSpacesRoundTrip) {
  const LayerNormLinear op = linear(DType::kBF16, 128, 640, true);
  const ir::Direction backward = ir::Direction::backward(op.all_gradients());
  EXPECT_GT(
      expect_round_trips<LinearForwardConfig>(LayerNormLinearGenerator::space(op, ir::Direction::forward(), kHopper)) +
          expect_round_trips<LinearBackwardConfig>(
              LayerNormLinearGenerator::space(ir::with_gradients(op, op.all_gradients()), backward, kHopper)),
      20u);
  ir::TileConfig missing = LinearBackwardConfig{.version = 2, .warps = 8, .block_n = 64, .weight_block_n = 128}.tile();
  missing.params.erase("weight_block_n");
  try {
    LinearBackwardConfig::from(missing);
    FAIL() << "read a configuration without weight_block_n";
  } catch (const ir::Error& error) {
    EXPECT_EQ(error.kind(), ir::ErrorKind::kInvalidArgument);
    EXPECT_THAT(error.what(), HasSubstr("weight_block_n"));
  }
  ir::TileConfig huge = LinearForwardConfig{.version = 1, .warps = 4, .block_n = 64, .stages = 2, .min_blocks = 1}.tile();
  huge.set("block_n", std::int64_t{1} << 40);
  try {
    LinearForwardConfig::from(huge);
    FAIL() << "read block_n = 2^40 into an int";
  } catch (const ir::Error& error) {
    EXPECT_EQ(error.kind(), ir::ErrorKind::kInvalidArgument);
    EXPECT_THAT(error.what(), HasSubstr("block_n = 1099511627776"));
  }
}

// A version 2 module carries the wgmma templates and asserts the shared memory the launch
// plan allocates; version 1's instantiation does not name the version.
TEST(LayerNormLinearGeneratorSource, Version2ModuleAssertsTheHostsSharedMemory) {
  const LayerNormLinear op = linear(DType::kBF16, 128, 640, true);
  ir::TileConfig config;
  config.set("warps", 4).set("block_n", 128).set("stages", 2).set("min_blocks", 2).set("version", 2);
  const auto modules = LayerNormLinearGenerator::generate(op, ir::Direction::forward(), config);
  ASSERT_EQ(modules.size(), 1u);
  const int bytes = LayerNormLinearGenerator::launch_plan(op, ir::Direction::forward(), config, kHopper)
                        .kernels[0]
                        .shared_bytes;
  EXPECT_THAT(modules[0].instantiation, HasSubstr(fmt::format("LinearV2Layout<MfLinear>::kBytes == {}", bytes)));
  EXPECT_THAT(modules[0].instantiation, HasSubstr("layer_norm_linear_forward_v2<MfLinear>"));
  EXPECT_THAT(modules[0].text, HasSubstr("templates/cuda/wgmma.cuh"));
  config.set("version", 1).set("warps", 8);
  const auto v1 = LayerNormLinearGenerator::generate(op, ir::Direction::forward(), config);
  EXPECT_THAT(v1[0].instantiation, Not(HasSubstr("version")));
  EXPECT_THAT(v1[0].text, Not(HasSubstr("templates/cuda/wgmma.cuh")));
}

// The backward: rows, weights and finalize kernels, with the workspace of exactly the
// partial sums the wanted gradients need.
TEST(LayerNormLinearGeneratorLaunch, BackwardKernelsAndWorkspaceFollowTheGradients) {
  const LayerNormLinear forward = linear(DType::kBF16, 128, 640, true);
  const LayerNormLinear op = ir::with_gradients(forward, forward.all_gradients());
  ir::TileConfig config;
  config.set("warps", 8).set("block_n", 64).set("weight_block_n", 64).set("version", 1);
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

// Version 2's backward: the rows kernel a block per 64 rows a warpgroup; the weights kernel
// one wave of blocks, the column slices sharing the multiprocessors evenly, groups of whole
// 64-row chunks covering M, a warpgroup per 64 rows of x̂ᵀ·dy; the finalize a block per
// row of dW and one for db; no dγ/dβ partial sums.
TEST(LayerNormLinearGeneratorLaunch, BackwardVersion2IsRowsBlocksThenOneWaveOfWeights) {
  const LayerNormLinear forward = linear(DType::kBF16, 128, 640, true);
  const LayerNormLinear op = ir::with_gradients(forward, forward.all_gradients());
  ir::TileConfig config;
  config.set("warps", 8).set("block_n", 64).set("weight_block_n", 128).set("version", 2);
  const auto plan =
      LayerNormLinearGenerator::launch_plan(op, ir::Direction::backward(forward.all_gradients()), config, kHopper);
  ASSERT_EQ(plan.kernels.size(), 3u);
  EXPECT_EQ(plan.kernels[0].entry, "mf_lnl_backward_rows");
  EXPECT_EQ(plan.kernels[0].threads_x, 256);
  EXPECT_EQ(plan.kernels[0].blocks, 147456 / 128);
  // 3 stages of 128 rows of dy and 64 rows of W (16 KiB each), then γ.
  EXPECT_EQ(plan.kernels[0].shared_bytes, 3 * (16384 + 16384) + 128 * 4);
  const auto& weights = plan.kernels[1];
  EXPECT_EQ(weights.entry, "mf_lnl_backward_weights");
  EXPECT_EQ(weights.threads_x, 256);
  EXPECT_EQ(plan.groups, 132 / 5);
  EXPECT_EQ(weights.blocks, 5 * plan.groups);
  EXPECT_EQ(plan.rows_per_group % 64, 0);
  EXPECT_GE(std::int64_t(plan.groups) * plan.rows_per_group, 147456);
  EXPECT_LT(std::int64_t(plan.groups - 1) * plan.rows_per_group, 147456);  // no empty group
  // 4 stages of 64 rows of dy (16 KiB), x (17 KiB) and statistics, then db's four parts.
  EXPECT_EQ(weights.shared_bytes, 4 * (16384 + 64 * 136 * 2 + 512) + 4 * 128 * 4);
  EXPECT_EQ(plan.kernels[2].entry, "mf_lnl_backward_finalize");
  EXPECT_EQ(plan.kernels[2].blocks, 129);
  EXPECT_EQ(plan.weight_partial_bytes, std::size_t(plan.groups) * 128 * 640 * 4);
  EXPECT_EQ(plan.bias_partial_bytes, std::size_t(plan.groups) * 640 * 4);
  EXPECT_EQ(plan.gamma_partial_bytes, 0u);
  // dx alone: the rows kernel, no workspace; dγ alone: the weights kernel and the finalize.
  auto only = [&](std::uint32_t gradient) {
    return LayerNormLinearGenerator::launch_plan(ir::with_gradients(forward, gradient),
                                                 ir::Direction::backward(gradient), config, kHopper);
  };
  EXPECT_EQ(only(LayerNormLinear::kGradX).kernels.size(), 1u);
  EXPECT_EQ(only(LayerNormLinear::kGradX).workspace_bytes, 0u);
  ASSERT_EQ(only(LayerNormLinear::kGradGamma).kernels.size(), 2u);
  EXPECT_EQ(only(LayerNormLinear::kGradGamma).kernels[0].entry, "mf_lnl_backward_weights");
  // K = 64: one warpgroup in the weights kernel; a tiny M: one group.
  ir::LinearOptions options;
  options.torch_weight = true;
  const LayerNormLinear narrow = ir::layer_norm_linear(7, 64, 8, options);
  const auto small = LayerNormLinearGenerator::launch_plan(ir::with_gradients(narrow, narrow.all_gradients()),
                                                           ir::Direction::backward(narrow.all_gradients()),
                                                           config.set("weight_block_n", 64), kHopper);
  EXPECT_EQ(small.kernels[0].blocks, 1);
  EXPECT_EQ(small.kernels[1].threads_x, 128);
  EXPECT_EQ(small.groups, 1);
  EXPECT_EQ(small.kernels[1].blocks, 1);
}

}  // namespace
}  // namespace mf::compiler
