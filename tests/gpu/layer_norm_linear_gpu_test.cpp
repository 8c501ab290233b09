// LayerNormLinear forward and backward on the cuda backend against the fp64 reference
// (mf::reference), through the C API: random inputs, outputs poisoned on the device, the AF3
// shapes (M scaled down for the reference) and odd ones (M = 1, 7, 1000; K and N not
// multiples of 16), each dtype, f32 parameters, with and without β and b, both weight
// layouts, strided views. Skips without a GPU.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gpu/forward_backward.h"
#include "gpu/gpu_fixture.h"
#include "mf/ir/layer_norm_linear.h"
#include "mf/ir/tensor_list.h"
#include "mf/reference/host_tensor.h"
#include "mf/runtime/tuning_identity.h"

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

// A case of a version 2 matrix: the configuration `config` of the direction `tuned`
// (forward or backward), the other direction planned with its default.
struct Configured {
  Case c;
  ir::Problem forward, backward;
  bool tuned_backward;
  ir::TileConfig config;
  mf_plan forward_plan = nullptr, backward_plan = nullptr;
  std::string error;
};

// For every case of the matrix, the default configuration of the forward (or backward)
// changed by `variant(i)` for the i-th case kept, where the device takes it.
template <class Variant>
std::vector<Configured> configured_cases(mf_context cuda, bool tuned_backward, Variant variant) {
  std::vector<Configured> cases;
  for (const Case& c : matrix()) {
    const LayerNormLinear op = make_op(c);
    const std::uint32_t all = op.all_gradients();
    ir::Problem backward{ir::with_gradients(op, all), ir::Direction::backward(all)};
    ir::Problem forward{ir::forward_operator(backward.op), ir::Direction::forward()};
    const ir::Problem& tuned = tuned_backward ? backward : forward;
    ir::TileConfig config = runtime::tuning_default_config(cuda, tuned);
    variant(cases.size(), config);
    if (runtime::tuning_rejects(cuda, tuned, config)) continue;
    cases.push_back({c, forward, backward, tuned_backward, config, nullptr, nullptr, ""});
  }
  return cases;
}

// Plans every case (on all cores: compiling is most of the time), then runs forward and
// backward against the reference, one line per case tagged `tag`.
void check_configured(mf_context cuda, gpu::DeviceMemory& memory, std::vector<Configured>& cases, const char* tag,
                      std::uint64_t seed) {
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < cases.size(); i = next++) {
      Configured& p = cases[i];
      mf_plan& tuned_plan = p.tuned_backward ? p.backward_plan : p.forward_plan;
      mf_plan& other_plan = p.tuned_backward ? p.forward_plan : p.backward_plan;
      try {
        tuned_plan = runtime::tuning_plan(cuda, p.tuned_backward ? p.backward : p.forward, p.config);
      } catch (const std::exception& error) {
        p.error = error.what();
        continue;
      }
      if (bridge::plan_create(cuda, p.tuned_backward ? p.forward : p.backward, &other_plan) != MF_SUCCESS)
        p.error = mf_last_error();
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < std::max(2u, std::thread::hardware_concurrency()); ++t) threads.emplace_back(worker);
  for (auto& thread : threads) thread.join();
  int failed = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Configured& p = cases[i];
    const std::string name = fmt::format("{} [{}]", name_of(p.c), ir::to_string(p.config));
    const auto failures =
        p.error.empty() ? gpu::check_forward_backward(cuda, memory, p.forward_plan, p.backward_plan, p.backward,
                                                      seed + i, reference::tolerance(p.c.dtype))
                        : std::vector<std::string>{"plan: " + p.error};
    for (const auto& f : failures) ADD_FAILURE() << name << ": " << f;
    failed += failures.empty() ? 0 : 1;
    std::printf("[%s] %-80s %s\n", tag, name.c_str(), failures.empty() ? "ok" : "FAILED");
    mf_plan_destroy(p.forward_plan);
    mf_plan_destroy(p.backward_plan);
  }
  std::printf("%d of %zu %s cases failed\n", failed, cases.size(), tag);
  EXPECT_GE(cases.size(), 10u);
}

// Version 2's forward (persistent wgmma blocks, sm_90a) on every case of the matrix it takes
// (16-bit, K a multiple of 16), its configurations in turn, beside the default backward
// that reads its saved statistics. Skips on devices without it.
TEST_F(LayerNormLinearGpu, Version2MatchesTheReferenceAcrossTheMatrix) {
  using Overrides = std::vector<std::pair<const char*, std::int64_t>>;
  const std::vector<Overrides> variants = {
      {{"warps", 8}, {"block_n", 128}, {"min_blocks", 1}},
      {{"warps", 4}, {"block_n", 128}, {"min_blocks", 2}},
      {{"warps", 4}, {"block_n", 256}, {"min_blocks", 1}},
      {{"warps", 8}, {"block_n", 64}, {"min_blocks", 1}},
      {{"warps", 4}, {"block_n", 32}, {"min_blocks", 3}},
  };
  auto cases = configured_cases(cuda_, false, [&](std::size_t i, ir::TileConfig& config) {
    config.set("version", 2).set("stages", 2);
    for (const auto& [name, value] : variants[i % variants.size()]) config.set(name, value);
  });
  if (cases.empty()) GTEST_SKIP() << "the device runs no version 2 forward (sm_90a only)";
  check_configured(cuda_, *device_, cases, "v2", 4000);
}

// Version 2 of the backward (wgmma, sm_90a) on every case of the matrix it takes (16-bit,
// K = 64 or 128; strided dy and dx among them), each warp count and column width in turn,
// after the default forward. Skips on devices without it.
TEST_F(LayerNormLinearGpu, BackwardVersion2MatchesTheReferenceAcrossTheMatrix) {
  const std::vector<std::pair<std::int64_t, std::int64_t>> variants = {{8, 128}, {4, 64}, {8, 256}, {4, 128}};
  auto cases = configured_cases(cuda_, true, [&](std::size_t i, ir::TileConfig& config) {
    const auto [warps, width] = variants[i % variants.size()];
    config.set("version", 2).set("warps", warps).set("block_n", 64).set("weight_block_n", width);
  });
  if (cases.empty()) GTEST_SKIP() << "the device runs no version 2 backward (sm_90a only)";
  check_configured(cuda_, *device_, cases, "backward v2", 6000);
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
