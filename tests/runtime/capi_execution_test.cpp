// The C API on the cpu backend runs every operator, forward and backward. Where it runs the
// reference it writes exactly (bitwise) what mf::reference::run writes for the same
// inputs; where it runs MLIR-generated code, the same within DESIGN.md §1.4's tolerance.
// This proves the C plumbing (descriptor conversion, pointer binding, forward ignoring the
// backward fields) and the generated host code.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "mf/ir/json.h"
#include "mf/ir/problem_key.h"
#include "mf/reference/thread_pool.h"
#include "runtime/capi_helpers.h"

namespace mf::capi_test {
namespace {

using ir::DType;

void run_reference(const ir::EvoAttention& op, const ir::Direction& direction, TensorSet& tensors,
                   reference::ThreadPool& pool) {
  reference::run(op, direction, pointers<reference::EvoAttentionData>(op, tensors), pool);
}
void run_reference(const ir::LayerNormLinear& op, const ir::Direction& direction, TensorSet& tensors,
                   reference::ThreadPool& pool) {
  reference::run(op, direction, pointers<reference::LayerNormLinearData>(op, tensors), pool);
}
void run_reference(const ir::Transition& op, const ir::Direction& direction, TensorSet& tensors,
                   reference::ThreadPool& pool) {
  reference::run(op, direction, pointers<reference::TransitionData>(op, tensors), pool);
}

// Every element of `tensor` was written (the poison is gone) and equals `expected` bitwise.
void expect_identical(const reference::HostTensor& tensor, const reference::HostTensor& expected,
                      const std::string& name) {
  ASSERT_EQ(tensor.bytes(), expected.bytes()) << name;
  EXPECT_EQ(std::memcmp(tensor.data(), expected.data(), tensor.bytes()), 0)
      << name << " differs from the reference (relative error "
      << reference::relative_error(tensor, expected) << ")";
  std::size_t nans = 0;
  for (double value : tensor.values()) nans += std::isnan(value) ? 1 : 0;
  EXPECT_EQ(nans, 0u) << name << " has elements that were not written";
}

// The generator the cpu backend must pick: generated code wherever the MLIR generator is
// built in (it serves every operator), else the reference.
std::string cpu_generator(const ir::Problem&) { return MF_HAVE_MLIR ? "mlir" : "reference"; }

// Every element of `tensor` was written and is within DESIGN.md §1.4's tolerance of its
// dtype from `expected`.
void expect_close(const reference::HostTensor& tensor, const reference::HostTensor& expected, const std::string& name) {
  std::size_t nans = 0;
  for (double value : tensor.values()) nans += std::isnan(value) ? 1 : 0;
  EXPECT_EQ(nans, 0u) << name << " has elements that were not written";
  const double tolerance = reference::tolerance(tensor.desc().dtype);
  EXPECT_LT(reference::relative_error(tensor, expected), tolerance) << name;
}

// Generated code matches within tolerance, the reference bitwise.
void expect_result(const ir::Problem& problem, const reference::HostTensor& tensor,
                   const reference::HostTensor& expected, const std::string& name) {
  if (cpu_generator(problem) == "mlir") {
    expect_close(tensor, expected, name);
  } else {
    expect_identical(tensor, expected, name);
  }
}

// The statistics a backward reads (mean and rstd of LayerNormLinear and Transition) as
// the forward saves them: the reference forward computes them into `tensors`.
void save_forward_statistics(const ir::Problem& problem, TensorSet& tensors, reference::ThreadPool& pool) {
  if (problem.direction.pass != ir::Pass::kBackward) return;
  std::visit(
      [&](const auto& op) {
        using Op = std::decay_t<decltype(op)>;
        if constexpr (!std::is_same_v<Op, ir::EvoAttention>) {
          if (op.mean) run_reference(op, ir::Direction::forward(), tensors, pool);
        }
      },
      problem.op);
}

// Runs `plan` (made for `problem`) through the C API and the reference directly on the same
// inputs and compares every written tensor.
void expect_matches_reference(mf_context context, mf_plan plan, const ir::Problem& problem, std::uint64_t seed) {
  TensorSet api(problem, seed), direct(problem, seed);
  reference::ThreadPool pool(kCpuThreads);
  save_forward_statistics(problem, api, pool);
  save_forward_statistics(problem, direct, pool);
  std::size_t workspace_bytes = 0;
  expect_success(mf_plan_workspace_size(plan, &workspace_bytes));
  std::vector<float> workspace((workspace_bytes + sizeof(float) - 1) / sizeof(float));
  expect_success(execute(context, plan, problem, api, workspace.data(), workspace_bytes, nullptr));
  std::visit([&](const auto& op) { run_reference(op, problem.direction, direct, pool); }, problem.op);
  ASSERT_FALSE(api.written().empty());
  for (const std::string& name : api.written()) expect_result(problem, api.at(name), direct.at(name), name);
}

// mf_plan_describe gives valid JSON naming the problem the plan was made for.
void expect_description(mf_plan plan, const ir::Problem& problem) {
  std::size_t required = 0;
  EXPECT_EQ(mf_plan_describe(plan, nullptr, 0, &required), MF_ERROR_BUFFER_TOO_SMALL);
  std::string text(required, '\0');
  expect_success(mf_plan_describe(plan, text.data(), text.size(), nullptr));
  ASSERT_EQ(text.back(), '\0');
  text.pop_back();
  ASSERT_TRUE(nlohmann::json::accept(text)) << text;
  const nlohmann::json description = nlohmann::json::parse(text);
  EXPECT_EQ(description.at("op"), std::string(ir::op_name(problem.op)));
  EXPECT_EQ(description.at("direction"), nlohmann::json(problem.direction));
  EXPECT_EQ(description.at("backend"), "cpu");
  EXPECT_EQ(description.at("generator"), cpu_generator(problem));
  EXPECT_EQ(description.at("config_source"), "default");
  EXPECT_EQ(description.at("key"), ir::problem_key(problem));
  std::size_t workspace_bytes = 0;
  expect_success(mf_plan_workspace_size(plan, &workspace_bytes));
  EXPECT_EQ(description.at("workspace_bytes"), workspace_bytes);
  if (cpu_generator(problem) == "reference") {
    EXPECT_EQ(workspace_bytes, 0u);
  }
  EXPECT_TRUE(description.at("device").is_string());
  EXPECT_TRUE(description.contains("config"));
  EXPECT_EQ(description.at("problem"), nlohmann::json(problem)) << "the C descriptor was converted to another problem";
}

// ---- the problems ----------------------------------------------------------------------------

struct Case {
  std::string name;
  ir::Operator op;           // forward
  std::uint32_t gradients;   // of the backward
};

void PrintTo(const Case& c, std::ostream* out) { *out << c.name; }

template <class Op>
Case make_case(std::string name, Op op, std::optional<std::uint32_t> gradients = std::nullopt) {
  const std::uint32_t wanted = gradients.value_or(op.all_gradients());
  return {std::move(name), std::move(op), wanted};
}

ir::EvoAttention with_scale(ir::EvoAttention op, double scale) {
  op.scale = scale;
  return op;
}

std::vector<Case> cases() {
  using ir::EvoAttention, ir::LayerNormLinear, ir::Transition, ir::MaskKind;
  using Evo = ir::EvoLayoutOptions;
  using Linear = ir::LinearOptions;
  using Mlp = ir::TransitionOptions;
  return {
      make_case("single_bf16_bias_boolean", ir::single_attention(2, 7, 3, 16, options<Evo>(DType::kBF16)),
                EvoAttention::kGradQ | EvoAttention::kGradV | EvoAttention::kGradBias),
      make_case("triangle_starting_f32_additive",
                with_scale(ir::triangle_attention_starting(
                               1, 5, 2, 8, options<Evo>(DType::kF32, [](Evo& o) { o.mask_kind = MaskKind::kAdditive; })),
                           0.3)),
      make_case("triangle_ending_f16_f32_bias",
                ir::triangle_attention_ending(2, 4, 2, 8,
                                              options<Evo>(DType::kF16, [](Evo& o) { o.bias_dtype = DType::kF32; }))),
      make_case("msa_row_f64_no_mask",
                ir::msa_row_attention(1, 3, 6, 2, 8,
                                      options<Evo>(DType::kF64, [](Evo& o) { o.mask_kind = MaskKind::kNone; }))),
      make_case("msa_row_bf16_no_bias_additive_f32",
                ir::msa_row_attention(2, 2, 9, 1, 24, options<Evo>(DType::kBF16, [](Evo& o) {
                                        o.with_bias = false;
                                        o.mask_kind = MaskKind::kAdditive;
                                        o.additive_mask_dtype = DType::kF32;
                                      })),
                EvoAttention::kGradK),
      make_case("msa_column_bf16_boolean", ir::msa_column_attention(2, 5, 3, 2, 16, options<Evo>(DType::kBF16))),
      make_case("linear_f32", ir::layer_norm_linear(9, 16, 12, options<Linear>(DType::kF32))),
      make_case("linear_bf16_torch_weight_f32_params_plain",
                ir::layer_norm_linear(5, 8, 4, options<Linear>(DType::kBF16, [](Linear& o) {
                                        o.param_dtype = DType::kF32;
                                        o.with_beta = false;
                                        o.with_bias = false;
                                        o.torch_weight = true;
                                      }))),
      make_case("linear_f16_torch_weight_bias_no_beta",
                ir::layer_norm_linear(6, 8, 10, options<Linear>(DType::kF16, [](Linear& o) {
                                        o.with_beta = false;
                                        o.torch_weight = true;
                                      }))),
      make_case("linear_f64_no_bias",
                ir::layer_norm_linear(7, 16, 3, options<Linear>(DType::kF64, [](Linear& o) { o.with_bias = false; })),
                LayerNormLinear::kGradX | LayerNormLinear::kGradWeight),
      make_case("transition_f32_layer_norm", ir::transition(9, 8, 4, options<Mlp>(DType::kF32))),
      make_case("transition_bf16_no_layer_norm",
                ir::transition(5, 16, 2, options<Mlp>(DType::kBF16, [](Mlp& o) { o.layer_norm = false; }))),
      make_case("transition_f32_torch_weights_no_beta",
                ir::transition(7, 8, 2, options<Mlp>(DType::kF32, [](Mlp& o) {
                                 o.with_beta = false;
                                 o.torch_weights = true;
                               }))),
      make_case("transition_f16_f32_params",
                ir::transition(6, 8, 2, options<Mlp>(DType::kF16, [](Mlp& o) { o.param_dtype = DType::kF32; })),
                Transition::kGradX | Transition::kGradW2),
  };
}

class CapiExecution : public ::testing::TestWithParam<Case> {
 protected:
  Context context_ = cpu_context();
};

TEST_P(CapiExecution, ForwardMatchesTheReference) {
  const ir::Problem problem{GetParam().op, ir::Direction::forward()};
  const Plan plan = make_plan(context_.get(), problem);
  ASSERT_NE(plan, nullptr);
  expect_matches_reference(context_.get(), plan.get(), problem, 11);
  expect_description(plan.get(), problem);
}

// One descriptor with the backward fields filled (and gradient bits set) serves the forward.
TEST_P(CapiExecution, ForwardIgnoresTheBackwardFields) {
  const ir::Problem problem{GetParam().op, ir::Direction::forward()};
  const std::uint32_t gradients = GetParam().gradients;
  mf_plan created = nullptr;
  std::visit(
      [&](const auto& op) {
        const ir::Problem filled{ir::with_gradients(op, gradients), ir::Direction{ir::Pass::kForward, gradients}};
        expect_success(plan_create(context_.get(), filled, &created));
      },
      problem.op);
  const Plan plan(created);
  ASSERT_NE(plan, nullptr);
  expect_matches_reference(context_.get(), plan.get(), problem, 12);
  expect_description(plan.get(), problem);
}

TEST_P(CapiExecution, BackwardMatchesTheReference) {
  const ir::Problem problem = std::visit(
      [&](const auto& op) { return backward_problem(op, GetParam().gradients); }, GetParam().op);
  const Plan plan = make_plan(context_.get(), problem);
  ASSERT_NE(plan, nullptr);
  expect_matches_reference(context_.get(), plan.get(), problem, 13);
  expect_description(plan.get(), problem);
}

INSTANTIATE_TEST_SUITE_P(AllOperators, CapiExecution, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& param) { return param.param.name; });

// ---- packed q/k/v and gradient views -----------------------------------------------------------

// q, k, v as interleaved views of one packed [B, S, N, 3, H, D] buffer, and d_q, d_k, d_v as
// views of another: the gradients' byte ranges overlap without sharing an element.
TEST(CapiExecutionViews, InterleavedGradientViewsOfOnePackedBuffer) {
  constexpr std::int64_t B = 2, S = 2, N = 5, H = 2, D = 8;
  const ir::TensorDesc packed_desc = ir::TensorDesc::contiguous(DType::kF32, {B, S, N, 3, H, D});
  const ir::TensorDesc view{DType::kF32, {B, S, N, H, D}, {S * N * 3 * H * D, N * 3 * H * D, 3 * H * D, D, 1}};
  ir::EvoAttention op = ir::msa_row_attention(B, S, N, H, D, options<ir::EvoLayoutOptions>(DType::kF32));
  op.q = op.k = op.v = view;
  op.dbias_mode = ir::DBiasMode::kFast;
  const ir::Problem problem = backward_problem(op);

  reference::HostTensor qkv(packed_desc);
  qkv.fill_uniform(21, -1.0, 1.0);
  const auto bind_views = [&](TensorSet& tensors, reference::HostTensor& dqkv) {
    const char* names[3][2] = {{"q", "d_q"}, {"k", "d_k"}, {"v", "d_v"}};
    for (int i = 0; i < 3; ++i) {
      tensors.bind(names[i][0], static_cast<float*>(qkv.data()) + i * H * D);
      tensors.bind(names[i][1], static_cast<float*>(dqkv.data()) + i * H * D);
    }
  };
  const Context context = cpu_context();
  const Plan plan = make_plan(context.get(), problem);
  ASSERT_NE(plan, nullptr);
  TensorSet api(problem, 22), direct(problem, 22);
  reference::HostTensor api_dqkv(packed_desc), direct_dqkv(packed_desc);
  api_dqkv.poison();
  direct_dqkv.poison();
  bind_views(api, api_dqkv);
  bind_views(direct, direct_dqkv);
  expect_success(execute(context.get(), plan.get(), problem, api));
  reference::ThreadPool pool(kCpuThreads);
  run_reference(std::get<ir::EvoAttention>(problem.op), problem.direction, direct, pool);
  expect_result(problem, api_dqkv, direct_dqkv, "packed d_qkv");
  expect_result(problem, api.at("d_bias"), direct.at("d_bias"), "d_bias");
  expect_description(plan.get(), problem);
}

// ---- workspace ---------------------------------------------------------------------------------

// A plan that needs a workspace (the generated Transition backward keeps per-block sums
// there) refuses one that is missing, too small or misaligned, naming it.
TEST(CapiExecutionWorkspace, MissingTooSmallOrMisalignedIsRefused) {
  if (!MF_HAVE_MLIR) GTEST_SKIP() << "without the MLIR generator no cpu plan needs a workspace";
  const ir::Transition op = ir::transition(9, 8, 2, options<ir::TransitionOptions>(DType::kF32));
  const ir::Problem problem = backward_problem(op);
  const Context context = cpu_context();
  const Plan plan = make_plan(context.get(), problem);
  ASSERT_NE(plan, nullptr);
  std::size_t bytes = 0;
  expect_success(mf_plan_workspace_size(plan.get(), &bytes));
  ASSERT_GT(bytes, 0u);
  TensorSet tensors(problem, 31);
  std::vector<double> workspace(bytes / sizeof(double) + 2);
  expect_status(execute(context.get(), plan.get(), problem, tensors, nullptr, bytes, nullptr), MF_ERROR_WORKSPACE,
                "workspace: the plan needs");
  expect_status(execute(context.get(), plan.get(), problem, tensors, workspace.data(), bytes - 1, nullptr),
                MF_ERROR_WORKSPACE, "workspace: the plan needs");
  auto* misaligned = reinterpret_cast<std::byte*>(workspace.data()) + 4;
  expect_status(execute(context.get(), plan.get(), problem, tensors, misaligned, bytes, nullptr), MF_ERROR_MISALIGNED,
                "workspace: must be aligned to 16 bytes");
  expect_success(execute(context.get(), plan.get(), problem, tensors, workspace.data(), bytes, nullptr));
}

// ---- threads ---------------------------------------------------------------------------------

// Plans of one context created and executed from several threads at once.
TEST(CapiExecutionThreads, OneContextServesSeveralThreads) {
  const Context context = cpu_context();
  const std::vector<Case> all = cases();
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      const Case& chosen = all[(t * 5) % all.size()];
      const ir::Problem problem{chosen.op, ir::Direction::forward()};
      const Plan plan = make_plan(context.get(), problem);
      ASSERT_NE(plan, nullptr);
      for (std::uint64_t round = 0; round < 3; ++round)
        expect_matches_reference(context.get(), plan.get(), problem, 100 * t + round);
    });
  for (std::thread& thread : threads) thread.join();
}

}  // namespace
}  // namespace mf::capi_test
