// The runtime's C++ surface for the tuning tools (mf/runtime/tuning_identity.h) on the cpu
// backend: what it reports, and what bad input gets.
#include "mf/runtime/tuning_identity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

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

}  // namespace
}  // namespace mf::runtime
