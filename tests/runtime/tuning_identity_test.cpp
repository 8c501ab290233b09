// The runtime's C++ surface for the tuning tools (mf/runtime/tuning_identity.h) on the cpu
// backend: what it reports, and what bad input gets.
#include "mf/runtime/tuning_identity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>
#include <vector>

#include "mf/ir/error.h"
#include "mf/ir/evo_attention.h"
#include "mf/ir/layer_norm_linear.h"

namespace mf::runtime {
namespace {

using ::testing::HasSubstr;

class TuningIdentity : public ::testing::Test {
 protected:
  void SetUp() override {
    mf_context_options options;
    mf_context_options_init(&options);
    options.backend = MF_BACKEND_CPU;
    ASSERT_EQ(mf_context_create(&options, &context_), MF_SUCCESS);
  }
  void TearDown() override { mf_context_destroy(context_); }
  mf_context context_ = nullptr;
  const ir::Problem problem_{ir::msa_row_attention(1, 2, 16, 2, 16), ir::Direction::forward()};
};

TEST_F(TuningIdentity, DescribesTheCpuBackend) {
  const auto device = tuning_device(context_);
  EXPECT_EQ(device.vendor, "cpu");
  EXPECT_GT(device.multiprocessors, 0);
  // Generated host code where the MLIR generator is built in, else the reference; the
  // reference is offered to the tuner beside the generated code, and the hash covers both.
  EXPECT_EQ(tuning_generator(context_, problem_), MF_HAVE_MLIR ? "mlir" : "reference");
  EXPECT_THAT(tuning_generator_hash(context_, problem_), HasSubstr("reference/1"));
  if (MF_HAVE_MLIR) {
    EXPECT_THAT(tuning_generator_hash(context_, problem_), HasSubstr("mlir-host/"));
  }
  EXPECT_FALSE(tuning_unsupported(context_, problem_));
  const auto spaces = tuning_spaces(context_, problem_);
  ASSERT_EQ(spaces.size(), MF_HAVE_MLIR ? 2u : 1u);
  for (const auto& space : spaces) EXPECT_EQ(space.configs().size(), 1u);  // one empty configuration each
  EXPECT_EQ(spaces[0].generator, "");
  if (MF_HAVE_MLIR) {
    EXPECT_EQ(spaces[1].generator, "reference");
  }
  EXPECT_TRUE(tuning_default_config(context_, problem_).params.empty());
  EXPECT_FALSE(default_tuning_db_path().empty());

  mf_plan plan = tuning_plan(context_, problem_, {});
  char text[8192];
  ASSERT_EQ(mf_plan_describe(plan, text, sizeof text, nullptr), MF_SUCCESS);
  EXPECT_EQ(nlohmann::json::parse(text)["config_source"], "tuner");
  mf_plan_destroy(plan);
}

// A plan of the second generator's configuration runs that generator and says so; a
// generator the backend does not offer is refused with the ones it does.
TEST_F(TuningIdentity, APlanRunsTheGeneratorItsConfigurationNames) {
  if (!MF_HAVE_MLIR) GTEST_SKIP() << "built without MLIR: the cpu backend offers the reference alone";
  const ir::TileConfig reference{"reference", {}};
  EXPECT_FALSE(tuning_rejects(context_, problem_, reference));
  EXPECT_EQ(tuning_generator_of(context_, problem_, reference), "reference");
  EXPECT_EQ(tuning_generator_of(context_, problem_, {}), "mlir");
  mf_plan plan = tuning_plan(context_, problem_, reference);
  char text[8192];
  ASSERT_EQ(mf_plan_describe(plan, text, sizeof text, nullptr), MF_SUCCESS);
  EXPECT_EQ(nlohmann::json::parse(text)["generator"], "reference");
  mf_plan_destroy(plan);

  const ir::TileConfig unknown{"template", {}};
  const auto why = tuning_rejects(context_, problem_, unknown);
  ASSERT_TRUE(why);
  EXPECT_THAT(*why, HasSubstr("generator 'template' is not offered for this problem (offered: mlir, reference)"));
  EXPECT_THROW(tuning_plan(context_, problem_, unknown), std::invalid_argument);
}

TEST_F(TuningIdentity, BadInputThrowsWithTheReason) {
  EXPECT_THROW(tuning_device(nullptr), std::invalid_argument);
  EXPECT_THROW(tuning_generator_hash(nullptr, problem_), std::invalid_argument);
  EXPECT_THROW(tuning_plan(nullptr, problem_, {}), std::invalid_argument);
  ir::Problem invalid = problem_;
  std::get<ir::EvoAttention>(invalid.op).k.shape[2] = 15;
  try {
    tuning_plan(context_, invalid, {});
    ADD_FAILURE() << "an invalid problem was planned";
  } catch (const ir::Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("k: has shape"));
  }
  // The cpu backend's generators take no parameters: a configuration with some is refused.
  try {
    mf_plan plan = tuning_plan(context_, problem_, ir::TileConfig{}.set("warps", 4));
    mf_plan_destroy(plan);
    ADD_FAILURE() << "a configuration outside the space was planned";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("config: unknown parameter warps"));
  }
}

// The space of a generator on another machine's device, as a tuning record names it (mf-db
// import and merge check winners against it): the template generator's for the device's
// architecture, the MLIR generator and the reference without parameters, and a reason
// naming the record's field for what no backend offers.
TEST_F(TuningIdentity, SpacesOfRecordedDevices) {
  const tuning_db::DeviceRecord h200{"nvidia", "NVIDIA H200", "sm_90", 132, 60 << 20, 141LL << 30, 13000, "nvrtc 13.0"};
  tuning_db::DeviceRecord a100 = h200, mi250 = h200, cpu = tuning_device(context_);
  a100.arch = "sm_80";
  mi250.vendor = "amd", mi250.arch = "gfx90a";
  const auto axis = [](const compiler::ParameterSpace& space, const std::string& name) {
    for (const auto& [axis_name, values] : space.axes)
      if (axis_name == name) return values;
    return std::vector<std::int64_t>{};
  };
  EXPECT_EQ(axis(tuning_record_space(h200, problem_, "template"), "version"), (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(axis(tuning_record_space(a100, problem_, "template"), "version"), (std::vector<std::int64_t>{3}));
  const ir::EvoAttention& forward = std::get<ir::EvoAttention>(problem_.op);
  const ir::Problem backward{ir::with_gradients(forward, forward.all_gradients()),
                             ir::Direction::backward(forward.all_gradients())};
  EXPECT_EQ(axis(tuning_record_space(mi250, backward, "template"), "key_groups"), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(axis(tuning_record_space(h200, backward, "template"), "key_groups"), (std::vector<std::int64_t>{1, 2, 4}));
  for (const auto& [device, generator] : {std::pair{h200, "mlir"}, {cpu, "mlir"}, {cpu, "reference"}}) {
    const auto space = tuning_record_space(device, problem_, generator);
    EXPECT_TRUE(space.axes.empty()) << generator;
    EXPECT_EQ(space.generator, generator);
  }
  const auto refused = [&](const tuning_db::DeviceRecord& device, const char* generator, const std::string& part) {
    try {
      tuning_record_space(device, problem_, generator);
      ADD_FAILURE() << "no error; expected " << part;
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), HasSubstr(part));
    }
  };
  refused(cpu, "template", "generator: the cpu backend has no generator 'template' (it has mlir and reference)");
  refused(h200, "reference", "generator: the cuda backend has no generator 'reference'");
  refused(h200, "fortran", "generator: the cuda backend has no generator 'fortran'");
  tuning_db::DeviceRecord odd = h200;
  odd.arch = "sm_9x";
  refused(odd, "template", "device.arch: 'sm_9x' is not an NVIDIA architecture");
  odd.vendor = "amd";
  refused(odd, "template", "device.arch: 'sm_9x' is not an AMD GPU architecture");
  odd.vendor = "acme";
  refused(odd, "template", "device.vendor: no backend measures on 'acme'");
  const ir::Problem wide{ir::msa_row_attention(1, 2, 16, 2, 160), ir::Direction::forward()};
  try {
    tuning_record_space(h200, wide, "template");
    ADD_FAILURE() << "a head dim past the template generator's limit";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("generator: the template generator does not serve this problem: q: head dim 160"));
  }
}

}  // namespace
}  // namespace mf::runtime
