// LayerNormLinear forward and backward on the cuda backend against the fp64 reference
// (mf::reference), through the C API: random inputs, outputs poisoned on the device, the AF3
// shapes (M scaled down for the reference) and odd ones (M = 1, 7, 1000; K and N not
// multiples of 16), each dtype, f32 parameters, with and without β and b, both weight
// layouts, strided views. Skips without a GPU.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gpu/forward_backward.h"
#include "gpu/gpu_fixture.h"
#include "mf/ir/layer_norm_linear.h"
#include "mf/ir/tensor_list.h"
#include "mf/reference/host_tensor.h"

namespace mf {
namespace {

using ir::DType;
using ir::LayerNormLinear;

struct Case {
  std::int64_t m, k, n;
  DType dtype;
  bool torch_weight;
  bool optional_params;  // β and b
  bool f32_params;
  bool strided;  // x and y rows padded (y by an odd count: element-wise stores)
};

std::string name_of(const Case& c) {
  return fmt::format("m{}_k{}_n{}_{}{}{}{}{}", c.m, c.k, c.n, ir::name_of(c.dtype), c.torch_weight ? "_torch" : "_kn",
                     c.optional_params ? "" : "_nobeta_nobias", c.f32_params ? "_f32params" : "",
                     c.strided ? "_strided" : "");
}

LayerNormLinear make_op(const Case& c) {
  ir::LinearOptions options;
  options.dtype = c.dtype;
  if (c.f32_params) options.param_dtype = DType::kF32;
  options.with_beta = options.with_bias = c.optional_params;
  options.torch_weight = c.torch_weight;
  LayerNormLinear op = ir::layer_norm_linear(c.m, c.k, c.n, options);
  if (c.strided) {
    op.x.strides = {c.k + 8, 1};
    op.y.strides = {c.n + 3, 1};
  }
  return op;
}

std::vector<Case> matrix() {
  std::vector<Case> cases;
  // AF3 shapes of DESIGN §5 with M = 9216 (the reference's fp64 products stay quick).
  for (std::int64_t n : {640, 128, 1024, 16, 8}) cases.push_back({9216, 128, n, DType::kBF16, true, true, false, false});
  cases.push_back({9216, 64, 256, DType::kBF16, false, true, false, false});
  cases.push_back({2304, 384, 1536, DType::kBF16, true, true, false, false});
  // Odd shapes, every dtype, both layouts, optional parameters, f32 parameters, strides.
  int i = 0;
  for (DType dtype : {DType::kBF16, DType::kF16, DType::kF32})
    for (std::int64_t m : {1, 7, 1000})
      for (auto [k, n] : {std::pair<std::int64_t, std::int64_t>{100, 37}, {37, 1}, {128, 200}}) {
        cases.push_back({m, k, n, dtype, i % 2 == 0, i % 3 != 1, i % 4 == 3, i % 5 == 2});
        ++i;
      }
  return cases;
}

class LayerNormLinearGpu : public gpu::GpuTest {};

// Forward then backward (every gradient) on the GPU, the backward reading the saved mean
// and rstd, against the reference; one line per failing output.
std::vector<std::string> check_case(mf_context cuda, gpu::DeviceMemory& memory, const Case& c,
                                    std::uint64_t seed) {
  const LayerNormLinear forward_op = make_op(c);
  const std::uint32_t all = forward_op.all_gradients();
  const ir::Problem backward{ir::with_gradients(forward_op, all), ir::Direction::backward(all)};
  const ir::Problem forward{ir::forward_operator(backward.op), ir::Direction::forward()};
  mf_plan forward_plan = nullptr, backward_plan = nullptr;
  std::vector<std::string> failures;
  if (bridge::plan_create(cuda, forward, &forward_plan) != MF_SUCCESS ||
      bridge::plan_create(cuda, backward, &backward_plan) != MF_SUCCESS)
    failures = {fmt::format("plan: {}", mf_last_error())};
  else  // f32 statistics and parameters computed from T inputs get the inputs' tolerance.
    failures = gpu::check_forward_backward(cuda, memory, forward_plan, backward_plan, backward, seed,
                                           reference::tolerance(c.dtype));
  mf_plan_destroy(forward_plan);
  mf_plan_destroy(backward_plan);
  return failures;
}

TEST_F(LayerNormLinearGpu, ForwardAndBackwardMatchTheReferenceAcrossTheMatrix) {
  const std::vector<Case> cases = matrix();
  int failed = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string name = name_of(cases[i]);
    const auto failures = check_case(cuda_, *device_, cases[i], 2000 + i);
    for (const auto& f : failures) ADD_FAILURE() << name << ": " << f;
    failed += failures.empty() ? 0 : 1;
    std::printf("[case] %-48s %s\n", name.c_str(), failures.empty() ? "ok" : "FAILED");
  }
  std::printf("%d of %zu cases failed\n", failed, cases.size());
}

// No float atomics: two runs give the same bits, forward and backward.
TEST_F(LayerNormLinearGpu, DeterministicBitwiseAcrossRuns) {
  const LayerNormLinear op = make_op({1000, 128, 640, DType::kBF16, true, true, false, false});
  const ir::Problem backward{ir::with_gradients(op, op.all_gradients()), ir::Direction::backward(op.all_gradients())};
  const ir::Problem forward{ir::forward_operator(backward.op), ir::Direction::forward()};
  mf_plan forward_plan = nullptr, backward_plan = nullptr;
  ASSERT_EQ(bridge::plan_create(cuda_, forward, &forward_plan), MF_SUCCESS) << mf_last_error();
  ASSERT_EQ(bridge::plan_create(cuda_, backward, &backward_plan), MF_SUCCESS) << mf_last_error();
  const auto differing = gpu::differing_between_runs(cuda_, *device_, forward_plan, backward_plan, backward,
                                                     {"y", "d_x", "d_gamma", "d_beta", "d_weight", "d_bias"});
  mf_plan_destroy(forward_plan);
  mf_plan_destroy(backward_plan);
  EXPECT_TRUE(differing.empty()) << "differ between runs: " << fmt::format("{}", fmt::join(differing, ", "));
}

}  // namespace
}  // namespace mf
