// The Transition forward on the cuda backend against the fp64 reference (cpu backend),
// through the C API: random inputs, outputs poisoned on the device, the AF3 shapes (M
// scaled down for the reference) and odd ones (M = 1, 7, 1000; D not a multiple of 16),
// each dtype, with and without the LayerNorm and β, f32 parameters, both weight layouts,
// strided views, and configurations other than the default (column blocks, one stage,
// other chunk widths). Skips without a GPU.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

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

// Runs the forward on the GPU with `config` (the default when empty) and through the
// reference; one line per failing output.
std::vector<std::string> check_case(mf_context cuda, mf_context cpu, gpu::DeviceMemory& memory, const Case& c,
                                    std::uint64_t seed, const ir::TileConfig& overrides = {}) {
  const ir::Problem forward{make_op(c), ir::Direction::forward()};
  mf_plan plan = nullptr;
  if (overrides.params.empty()) {
    if (bridge::plan_create(cuda, forward, &plan) != MF_SUCCESS) return {fmt::format("plan: {}", mf_last_error())};
  } else {
    ir::TileConfig config = runtime::tuning_default_config(cuda, forward);
    for (const auto& [name, value] : overrides.params) config.set(name, value);
    try {
      plan = runtime::tuning_plan(cuda, forward, config);
    } catch (const std::exception& e) {
      return {fmt::format("plan [{}]: {}", ir::to_string(config), e.what())};
    }
  }
  bridge::BoundProblem gpu_side = bridge::bind_random(forward, seed);
  gpu::DeviceTensors device = gpu::upload(memory, gpu_side);
  std::vector<std::string> written;
  for (const ir::NamedTensor& t : ir::tensor_list(forward))
    if (t.access == ir::Access::kWrite) written.emplace_back(t.name);
  for (const auto& name : written) memory.poison(device.buffers.at(name), gpu_side.tensors.at(name).bytes());
  const mf_status status = bridge::execute(cuda, plan, forward, device);
  memory.synchronize();
  mf_plan_destroy(plan);
  if (status != MF_SUCCESS) return {fmt::format("execute: {}", mf_last_error())};
  for (const auto& name : written) gpu::download(memory, device, gpu_side, name);

  bridge::BoundProblem reference = bridge::promoted_to_f64(gpu_side);
  for (const auto& name : written) reference.tensors.at(name).poison();
  bridge::run_through_c_api(cpu, reference, 1);
  std::vector<std::string> failures;
  for (const auto& name : written) {
    const double error = reference::result_error(gpu_side.tensors.at(name), reference.tensors.at(name));
    // f32 statistics computed from T inputs get the inputs' tolerance.
    const double limit = reference::tolerance(c.dtype);
    if (!(error <= limit)) failures.push_back(fmt::format("{}: relative error {:.3g} > {:.3g}", name, error, limit));
  }
  return failures;
}

TEST_F(TransitionGpu, ForwardMatchesTheReferenceAcrossTheMatrix) {
  const std::vector<Case> cases = matrix();
  int failed = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string name = name_of(cases[i]);
    const auto failures = check_case(cuda_, cpu_, *device_, cases[i], 3000 + i);
    for (const auto& f : failures) ADD_FAILURE() << name << ": " << f;
    failed += failures.empty() ? 0 : 1;
    std::printf("[case] %-48s %s\n", name.c_str(), failures.empty() ? "ok" : "FAILED");
  }
  std::printf("%d of %zu cases failed\n", failed, cases.size());
}

// The code paths the default leaves out: several column blocks a row block (the hidden
// computed again in each), one weight stage, the narrowest and widest chunks, 2 and 8 warps.
TEST_F(TransitionGpu, OtherConfigurationsMatchTheReference) {
  const std::vector<std::pair<Case, ir::TileConfig>> runs = {
      {{1000, 128, 4, DType::kBF16, true, true, true, false, false}, ir::TileConfig().set("block_d", 32)},
      {{1000, 100, 4, DType::kF16, false, true, false, false, true},
       ir::TileConfig().set("block_d", 64).set("stages", 1)},
      {{777, 128, 2, DType::kBF16, false, true, true, true, false},
       ir::TileConfig().set("block_f", 64).set("warps", 8).set("occupancy", 8)},
      {{333, 64, 4, DType::kF32, true, false, false, false, false},
       ir::TileConfig().set("block_f", 16).set("warps", 2).set("occupancy", 4)},
  };
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& [c, config] = runs[i];
    const std::string name = name_of(c) + " [" + ir::to_string(config) + "]";
    for (const auto& f : check_case(cuda_, cpu_, *device_, c, 4000 + i, config)) ADD_FAILURE() << name << ": " << f;
  }
}

}  // namespace
}  // namespace mf
