// The Transition forward and backward on the cuda backend against the fp64 reference (mf::reference),
// through the C API: random inputs, outputs poisoned on the device, the AF3 shapes (M
// scaled down for the reference) and odd ones (M = 1, 7, 1000; D not a multiple of 16),
// each dtype, with and without the LayerNorm and β, f32 parameters, both weight layouts,
// strided views, configurations other than the defaults (column blocks, one stage, other
// chunk widths and warps), deterministic backward bitwise. Skips without a GPU.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "gpu/forward_backward.h"
#include "gpu/gpu_fixture.h"
#include "mf/ir/tensor_list.h"
#include "mf/ir/transition.h"
#include "mf/reference/host_tensor.h"
#include "mf/runtime/tuning_identity.h"

namespace mf {
namespace {

using ir::DType;
using ir::Transition;

struct Case {
  std::int64_t m, d, e;
  DType dtype;
  bool torch_weights;
  bool layer_norm;
  bool beta;
  bool f32_params;
  bool strided;  // x and y rows padded (y by an odd count: element-wise stores)
};

std::string name_of(const Case& c) {
  return fmt::format("m{}_d{}_e{}_{}{}{}{}{}{}", c.m, c.d, c.e, ir::name_of(c.dtype), c.torch_weights ? "_torch" : "",
                     c.layer_norm ? "" : "_no_ln", c.layer_norm && !c.beta ? "_no_beta" : "",
                     c.f32_params ? "_f32params" : "", c.strided ? "_strided" : "");
}

Transition make_op(const Case& c) {
  ir::TransitionOptions options;
  options.dtype = c.dtype;
  if (c.f32_params) options.param_dtype = DType::kF32;
  options.layer_norm = c.layer_norm;
  options.with_beta = c.layer_norm && c.beta;
  options.torch_weights = c.torch_weights;
  Transition op = ir::transition(c.m, c.d, c.e, options);
  if (c.strided) {
    op.x.strides = {c.d + 8, 1};
    op.y.strides = {c.d + 3, 1};
  }
  return op;
}

std::vector<Case> matrix() {
  // AF3 shapes of DESIGN §5 (the pair transition with M = 9216 so that the fp64
  // reference stays quick; the single transition at its size), and E = 2.
  std::vector<Case> cases = {
      {9216, 128, 4, DType::kBF16, true, true, true, false, false},
      {9216, 128, 4, DType::kBF16, false, true, true, false, false},
      {384, 384, 4, DType::kBF16, true, true, true, false, false},
      {2048, 128, 2, DType::kBF16, true, true, true, false, false},
  };
  // Odd shapes, every dtype, both layouts, the optional LayerNorm and β, f32 parameters.
  int i = 0;
  for (DType dtype : {DType::kBF16, DType::kF16, DType::kF32})
    for (std::int64_t m : {1, 7, 1000})
      for (auto [d, e] : {std::pair<std::int64_t, std::int64_t>{40, 2}, {100, 4}, {64, 4}}) {
        cases.push_back({m, d, e, dtype, i % 2 == 0, i % 3 != 1, i % 4 != 3, i % 5 == 2, i % 7 == 3});
        ++i;
      }
  return cases;
}

class TransitionGpu : public gpu::GpuTest {};

// Runs forward then backward (every gradient) on the GPU, the backward reading the saved
// mean and rstd, and the same through the reference; one line per failing output.
// The overrides replace parameters of the default configurations of each direction.
struct Overrides {
  ir::TileConfig forward, backward;
};

std::vector<std::string> check_case(mf_context cuda, gpu::DeviceMemory& memory, const Case& c,
                                    std::uint64_t seed, const Overrides& overrides = {}) {
  const Transition forward_op = make_op(c);
  const std::uint32_t all = forward_op.all_gradients();
  const ir::Problem backward{ir::with_gradients(forward_op, all), ir::Direction::backward(all)};
  const ir::Problem forward{ir::forward_operator(backward.op), ir::Direction::forward()};
  auto plan_of = [&](const ir::Problem& problem, mf_plan* plan) -> std::string {
    try {
      ir::TileConfig config = runtime::tuning_default_config(cuda, problem);
      const auto& replaced = problem.direction.pass == ir::Pass::kForward ? overrides.forward : overrides.backward;
      for (const auto& [name, value] : replaced.params) config.set(name, value);
      *plan = runtime::tuning_plan(cuda, problem, config);
      return "";
    } catch (const std::exception& e) {
      return e.what();
    }
  };
  mf_plan forward_plan = nullptr, backward_plan = nullptr;
  std::vector<std::string> failures;
  if (auto error = plan_of(forward, &forward_plan); !error.empty())
    failures = {"forward plan: " + error};
  else if (error = plan_of(backward, &backward_plan); !error.empty())
    failures = {"backward plan: " + error};
  else  // f32 statistics computed from T inputs get the inputs' tolerance.
    failures = gpu::check_forward_backward(cuda, memory, forward_plan, backward_plan, backward, seed,
                                           reference::tolerance(c.dtype));
  mf_plan_destroy(forward_plan);
  mf_plan_destroy(backward_plan);
  return failures;
}

TEST_F(TransitionGpu, ForwardAndBackwardMatchTheReferenceAcrossTheMatrix) {
  const std::vector<Case> cases = matrix();
  int failed = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string name = name_of(cases[i]);
    const auto failures = check_case(cuda_, *device_, cases[i], 3000 + i);
    for (const auto& f : failures) ADD_FAILURE() << name << ": " << f;
    failed += failures.empty() ? 0 : 1;
    std::printf("[case] %-48s %s\n", name.c_str(), failures.empty() ? "ok" : "FAILED");
  }
  std::printf("%d of %zu cases failed\n", failed, cases.size());
}

// The code paths the defaults leave out: several column blocks a row block (the hidden
// computed again in each), one weight stage, the narrowest and widest chunks, 2 and 8 warps
// (the backward's rows and weights kernels too).
TEST_F(TransitionGpu, OtherConfigurationsMatchTheReference) {
  using Config = ir::TileConfig;
  const std::vector<std::pair<Case, Overrides>> runs = {
      {{1000, 128, 4, DType::kBF16, true, true, true, false, false},
       {Config().set("block_d", 32), Config().set("block_f", 16).set("weight_warps", 4).set("weight_block_f", 16)}},
      {{1000, 100, 4, DType::kF16, false, true, false, false, true},
       {Config().set("block_d", 64).set("stages", 1), Config().set("warps", 2).set("block_f", 64)}},
      {{777, 128, 2, DType::kBF16, false, true, true, true, false},
       {Config().set("block_f", 64).set("warps", 8).set("occupancy", 8),
        Config().set("warps", 8).set("occupancy", 8).set("block_f", 16).set("weight_block_f", 64)}},
      {{333, 64, 4, DType::kF32, true, false, false, false, false},
       {Config().set("block_f", 16).set("warps", 2).set("occupancy", 4), Config().set("weight_block_f", 16)}},
  };
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& [c, overrides] = runs[i];
    const std::string name =
        name_of(c) + " [" + ir::to_string(overrides.forward) + "] [" + ir::to_string(overrides.backward) + "]";
    for (const auto& f : check_case(cuda_, *device_, c, 4000 + i, overrides)) ADD_FAILURE() << name << ": " << f;
  }
}

// No float atomics: two runs give the same bits, forward and backward.
TEST_F(TransitionGpu, DeterministicBitwiseAcrossRuns) {
  const Transition op = make_op({1000, 128, 4, DType::kBF16, true, true, true, false, false});
  const ir::Problem backward{ir::with_gradients(op, op.all_gradients()), ir::Direction::backward(op.all_gradients())};
  const ir::Problem forward{ir::forward_operator(backward.op), ir::Direction::forward()};
  mf_plan forward_plan = nullptr, backward_plan = nullptr;
  ASSERT_EQ(bridge::plan_create(cuda_, forward, &forward_plan), MF_SUCCESS) << mf_last_error();
  ASSERT_EQ(bridge::plan_create(cuda_, backward, &backward_plan), MF_SUCCESS) << mf_last_error();
  const auto differing = gpu::differing_between_runs(cuda_, *device_, forward_plan, backward_plan, backward,
                                                     {"y", "d_x", "d_gamma", "d_beta", "d_w1", "d_w2"});
  mf_plan_destroy(forward_plan);
  mf_plan_destroy(backward_plan);
  EXPECT_TRUE(differing.empty()) << "differ between runs: " << fmt::format("{}", fmt::join(differing, ", "));
}

}  // namespace
}  // namespace mf
