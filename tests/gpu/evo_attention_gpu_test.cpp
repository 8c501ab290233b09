// EvoAttention on the cuda backend against the fp64 reference (mf::reference), through the C
// API as a framework calls it: random inputs, outputs poisoned on the device before every
// run, forward and every gradient, the five layouts, each dtype, bias and mask variant, odd
// and even N, every supported head dim, contiguous and strided views. Skips without a GPU.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mf/bridge/binding.h"
#include "gpu/gpu_fixture.h"
#include "mf/bridge/capi.h"
#include "mf/ir/tensor_list.h"
#include "mf/reference/host_tensor.h"
#include "mf/runtime/tuning_identity.h"

namespace mf {
namespace {

using ir::DType;
using ir::EvoAttention;
using ir::MaskKind;
using gpu::DeviceTensors;
using gpu::download;
using gpu::upload;

enum class Layout { kSingle, kTriangleStart, kTriangleEnd, kMsaRow, kMsaColumn };
enum class BiasKind { kNone, kSame, kF32 };

struct Case {
  Layout layout;
  DType dtype;
  BiasKind bias;
  MaskKind mask;
  int n;
  int head_dim;
  bool strided;
  ir::DBiasMode mode = ir::DBiasMode::kDeterministic;
  double scale = 0.0;  // 0: D^-1/2
};

std::string name_of(const Case& c) {
  static const char* layouts[] = {"single", "tri_start", "tri_end", "msa_row", "msa_col"};
  static const char* biases[] = {"nobias", "bias", "f32bias"};
  static const char* masks[] = {"nomask", "boolmask", "addmask"};
  return fmt::format("{}_{}_{}_{}_n{}_d{}{}{}{}", layouts[int(c.layout)], ir::name_of(c.dtype), biases[int(c.bias)],
                     masks[int(c.mask)], c.n, c.head_dim, c.strided ? "_strided" : "",
                     c.mode == ir::DBiasMode::kFast ? "_fast" : "",
                     c.scale != 0.0 ? fmt::format("_scale{}", c.scale) : "");
}

// A view whose rows are padded: every stride but the innermost grows, so no tensor is
// contiguous (and the head dim stride stays 1 or, for odd cases, 2).
ir::TensorDesc strided(const ir::TensorDesc& desc, bool step_inner) {
  ir::TensorDesc out = desc;
  std::int64_t stride = step_inner ? 2 : 1;
  for (int d = out.rank() - 1; d >= 0; --d) {
    out.strides[d] = stride;
    stride *= out.shape[d] + (d == out.rank() - 1 ? 3 : 1);
  }
  return out;
}

EvoAttention make_op(const Case& c) {
  ir::EvoLayoutOptions options;
  options.dtype = c.dtype;
  options.with_bias = c.bias != BiasKind::kNone;
  if (c.bias == BiasKind::kF32) options.bias_dtype = DType::kF32;
  options.mask_kind = c.mask;
  const int heads = 2;
  EvoAttention op;
  switch (c.layout) {
    case Layout::kSingle: op = ir::single_attention(2, c.n, heads, c.head_dim, options); break;
    case Layout::kTriangleStart: op = ir::triangle_attention_starting(1, c.n, heads, c.head_dim, options); break;
    case Layout::kTriangleEnd: op = ir::triangle_attention_ending(1, c.n, heads, c.head_dim, options); break;
    case Layout::kMsaRow: op = ir::msa_row_attention(1, 3, c.n, heads, c.head_dim, options); break;
    case Layout::kMsaColumn: op = ir::msa_column_attention(1, 3, c.n, heads, c.head_dim, options); break;
  }
  if (c.strided) {
    // Odd head dims step the innermost stride too: the kernels' element-wise path.
    const bool inner = c.head_dim % 2 == 1;
    for (auto* t : {&op.q, &op.k, &op.v, &op.o}) *t = strided(*t, inner);
    if (op.bias) *op.bias = strided(*op.bias, false);
  }
  op.dbias_mode = c.mode;
  op.scale = c.scale;
  return op;
}

class EvoAttentionGpu : public gpu::GpuTest {};

struct Plans {
  mf_plan forward = nullptr, backward = nullptr;
  std::string error;
};

// Plans for every case, created on all cores: compiling is most of the test's time.
std::vector<Plans> create_plans(mf_context context, const std::vector<ir::Problem>& forwards,
                                const std::vector<ir::Problem>& backwards) {
  std::vector<Plans> plans(forwards.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < forwards.size(); i = next++) {
      if (bridge::plan_create(context, forwards[i], &plans[i].forward) != MF_SUCCESS ||
          bridge::plan_create(context, backwards[i], &plans[i].backward) != MF_SUCCESS)
        plans[i].error = mf_last_error();
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < std::max(2u, std::thread::hardware_concurrency()); ++t) threads.emplace_back(worker);
  for (auto& thread : threads) thread.join();
  return plans;
}

mf_status execute(mf_context context, mf_plan plan, const ir::Problem& problem, DeviceTensors& tensors,
                  gpu::DeviceMemory& memory) {
  std::size_t bytes = 0;
  mf_plan_workspace_size(plan, &bytes);
  auto workspace = memory.allocate(bytes);
  memory.poison(workspace, bytes);
  const auto args = bridge::pointers<mf_evo_attention_args>(std::get<EvoAttention>(problem.op), tensors);
  const mf_status status = mf_evo_attention_execute(context, plan, &args, reinterpret_cast<void*>(workspace.address),
                                                    bytes, nullptr);
  memory.synchronize();
  return status;
}

// Runs forward then backward on the GPU (the backward reads the forward's O and LSE) and
// the reference on f64 copies of the same inputs; returns one line per failing output.
std::vector<std::string> check_case(mf_context cuda, gpu::DeviceMemory& memory, const Case& c,
                                    const Plans& plans, const ir::Problem& backward, std::uint64_t seed) {
  std::vector<std::string> failures;
  bridge::BoundProblem gpu_side = bridge::bind_random(backward, seed);
  DeviceTensors device = upload(memory, gpu_side);
  memory.poison(device.buffers.at("o"), gpu_side.tensors.at("o").bytes());
  memory.poison(device.buffers.at("lse"), gpu_side.tensors.at("lse").bytes());
  const ir::Problem forward{backward.op, ir::Direction::forward()};
  if (execute(cuda, plans.forward, forward, device, memory) != MF_SUCCESS)
    return {fmt::format("forward execute: {}", mf_last_error())};
  if (execute(cuda, plans.backward, backward, device, memory) != MF_SUCCESS)
    return {fmt::format("backward execute: {}", mf_last_error())};
  for (const ir::NamedTensor& t : ir::tensor_list(backward))
    if (t.access == ir::Access::kWrite || t.name == "o" || t.name == "lse") download(memory, device, gpu_side, t.name);

  bridge::BoundProblem reference = bridge::promoted_to_f64(gpu_side);
  // The f64 problem: the same operator with every floating tensor promoted.
  bridge::BoundProblem reference_forward{{reference.problem.op, ir::Direction::forward()}, {}};
  for (const ir::NamedTensor& t : ir::tensor_list(forward)) {
    reference_forward.tensors.emplace(std::string(t.name), reference.tensors.at(std::string(t.name)));
    if (t.access == ir::Access::kWrite) reference_forward.tensors.at(std::string(t.name)).poison();
  }
  bridge::run_reference(reference_forward);
  bridge::run_reference(reference);
  auto compare = [&](std::string_view name, const reference::HostTensor& expected) {
    const auto& actual = gpu_side.tensors.at(std::string(name));
    const double error = reference::result_error(actual, expected);
    // f32 outputs (LSE, an f32 dBias) computed from bf16/f16 inputs get the inputs' tolerance.
    const double limit = std::max(reference::tolerance(c.dtype), reference::tolerance(actual.desc().dtype));
    if (!(error <= limit)) failures.push_back(fmt::format("{}: relative error {:.3g} > {:.3g}", name, error, limit));
  };
  compare("o", reference_forward.tensors.at("o"));
  compare("lse", reference_forward.tensors.at("lse"));
  for (const ir::NamedTensor& t : ir::tensor_list(backward))
    if (t.access == ir::Access::kWrite) compare(t.name, reference.tensors.at(std::string(t.name)));
  return failures;
}

std::vector<Case> matrix() {
  std::vector<Case> cases;
  const Layout layouts[] = {Layout::kSingle, Layout::kTriangleStart, Layout::kTriangleEnd, Layout::kMsaRow,
                            Layout::kMsaColumn};
  const DType dtypes[] = {DType::kBF16, DType::kF16, DType::kF32};
  const int ns[] = {1, 17, 97, 128, 383};
  const int dims[] = {16, 32, 64, 128};
  const BiasKind biases[] = {BiasKind::kSame, BiasKind::kF32, BiasKind::kNone};
  const MaskKind masks[] = {MaskKind::kBoolean, MaskKind::kNone, MaskKind::kAdditive};
  // Every layout × dtype × N; bias, mask, head dim and striding rotate through their values
  // so that each pairs with every layout and dtype.
  int i = 0;
  for (Layout layout : layouts)
    for (DType dtype : dtypes)
      for (int n : ns) {
        Case c{layout, dtype, biases[i % 3], masks[(i / 3) % 3], n, dims[i % 4], (i / 2) % 2 == 1};
        // Triangle layouts at N = 383 have 383 rows: keep the reference's work bounded.
        if ((layout == Layout::kTriangleStart || layout == Layout::kTriangleEnd) && n == 383 && c.head_dim > 32)
          c.head_dim = 32;
        if (layout == Layout::kMsaColumn) c.bias = BiasKind::kNone;
        cases.push_back(c);
        ++i;
      }
  // Odd head dims (element-wise copies), and both dBias modes on the AF3 layout.
  cases.push_back({Layout::kMsaRow, DType::kBF16, BiasKind::kSame, MaskKind::kBoolean, 97, 24, false});
  cases.push_back({Layout::kMsaRow, DType::kF16, BiasKind::kF32, MaskKind::kAdditive, 33, 17, true});
  cases.push_back({Layout::kMsaRow, DType::kF32, BiasKind::kSame, MaskKind::kBoolean, 65, 48, false});
  for (int n : {17, 128, 383})
    cases.push_back({Layout::kTriangleStart, DType::kBF16, BiasKind::kSame, MaskKind::kBoolean, n, 32, false,
                     ir::DBiasMode::kFast});
  cases.push_back({Layout::kMsaRow, DType::kF32, BiasKind::kF32, MaskKind::kAdditive, 97, 64, true,
                   ir::DBiasMode::kFast});
  // Sequences whose dBias strip does not fit in shared memory: the keys kernel's
  // global-strip entry, in both dBias modes.
  cases.push_back({Layout::kMsaRow, DType::kBF16, BiasKind::kSame, MaskKind::kBoolean, 2000, 32, false});
  cases.push_back({Layout::kMsaRow, DType::kBF16, BiasKind::kSame, MaskKind::kBoolean, 2000, 32, false,
                   ir::DBiasMode::kFast});
  // A negative scale: the forward's maximum runs the other way.
  cases.push_back({Layout::kMsaRow, DType::kBF16, BiasKind::kSame, MaskKind::kBoolean, 97, 32, false,
                   ir::DBiasMode::kDeterministic, -0.3});
  cases.push_back({Layout::kTriangleStart, DType::kF16, BiasKind::kF32, MaskKind::kAdditive, 40, 16, true,
                   ir::DBiasMode::kDeterministic, -1.5});
  return cases;
}

TEST_F(EvoAttentionGpu, MatchesReferenceAcrossTheMatrix) {
  const std::vector<Case> cases = matrix();
  std::vector<ir::Problem> forwards, backwards;
  for (const Case& c : cases) {
    const EvoAttention op = make_op(c);
    forwards.push_back({op, ir::Direction::forward()});
    const EvoAttention with = ir::with_gradients(op, op.all_gradients());
    backwards.push_back({with, ir::Direction::backward(op.all_gradients())});
  }
  const std::vector<Plans> plans = create_plans(cuda_, forwards, backwards);
  int failed = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string name = name_of(cases[i]);
    if (!plans[i].error.empty()) {
      ADD_FAILURE() << name << ": plan: " << plans[i].error;
      ++failed;
      continue;
    }
    const auto failures = check_case(cuda_, *device_, cases[i], plans[i], backwards[i], 1000 + i);
    for (const auto& f : failures) ADD_FAILURE() << name << ": " << f;
    failed += failures.empty() ? 0 : 1;
    std::printf("[case] %-48s %s\n", name.c_str(), failures.empty() ? "ok" : "FAILED");
    mf_plan_destroy(plans[i].forward);
    mf_plan_destroy(plans[i].backward);
  }
  std::printf("%d of %zu cases failed\n", failed, cases.size());
}

// Version 4's forward (wgmma, sm_90a) on every case of the matrix it takes, beside the
// default backward. Skips on devices without it.
TEST_F(EvoAttentionGpu, Version4MatchesReferenceAcrossTheMatrix) {
  const std::vector<Case> all = matrix();
  std::vector<Case> cases;
  std::vector<ir::Problem> backwards;
  std::vector<std::pair<ir::Problem, ir::TileConfig>> forwards;
  for (const Case& c : all) {
    const EvoAttention op = make_op(c);
    const ir::Problem forward{op, ir::Direction::forward()};
    ir::TileConfig config = runtime::tuning_default_config(cuda_, forward);
    // Version 4 needs whole warpgroups.
    config.set("version", 4).set("warps", std::max<std::int64_t>(4, config.at("warps")));
    if (config.at("occupancy") % config.at("warps") != 0) config.set("occupancy", config.at("warps"));
    if (runtime::tuning_rejects(cuda_, forward, config)) continue;
    cases.push_back(c);
    forwards.emplace_back(forward, config);
    backwards.push_back({ir::with_gradients(op, op.all_gradients()), ir::Direction::backward(op.all_gradients())});
  }
  if (cases.empty()) GTEST_SKIP() << "the device runs no version 4 forward (sm_90a only)";
  // Plans on all cores, as create_plans makes them: compiling is most of the time.
  std::vector<Plans> plans(cases.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < cases.size(); i = next++) {
      try {
        plans[i].forward = runtime::tuning_plan(cuda_, forwards[i].first, forwards[i].second);
      } catch (const std::exception& error) {
        plans[i].error = error.what();
        continue;
      }
      if (bridge::plan_create(cuda_, backwards[i], &plans[i].backward) != MF_SUCCESS) plans[i].error = mf_last_error();
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < std::max(2u, std::thread::hardware_concurrency()); ++t) threads.emplace_back(worker);
  for (auto& thread : threads) thread.join();
  int failed = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string name = fmt::format("{} [{}]", name_of(cases[i]), ir::to_string(forwards[i].second));
    if (!plans[i].error.empty()) {
      ADD_FAILURE() << name << ": plan: " << plans[i].error;
      ++failed;
      continue;
    }
    const auto failures = check_case(cuda_, *device_, cases[i], plans[i], backwards[i], 3000 + i);
    for (const auto& f : failures) ADD_FAILURE() << name << ": " << f;
    failed += failures.empty() ? 0 : 1;
    std::printf("[v4] %-80s %s\n", name.c_str(), failures.empty() ? "ok" : "FAILED");
    mf_plan_destroy(plans[i].forward);
    mf_plan_destroy(plans[i].backward);
  }
  std::printf("%d of %zu version 4 cases failed\n", failed, cases.size());
  EXPECT_GE(cases.size(), 40u);
}

// Configurations besides the defaults (the tuner may choose any of the space): a spread of
// warps, key blocks, rows per block and pipeline depths, each against the reference.
TEST_F(EvoAttentionGpu, OtherConfigurationsMatchTheReference) {
  const std::vector<Case> cases = {
      {Layout::kTriangleEnd, DType::kBF16, BiasKind::kSame, MaskKind::kBoolean, 97, 32, false},
      {Layout::kMsaRow, DType::kF16, BiasKind::kF32, MaskKind::kAdditive, 130, 32, true},
      {Layout::kSingle, DType::kBF16, BiasKind::kSame, MaskKind::kNone, 200, 64, false},
  };
  using Overrides = std::vector<std::pair<const char*, std::int64_t>>;
  const std::vector<Overrides> forward_overrides = {
      {{"warps", 4}, {"block_k", 64}, {"rows_per_block", 1}, {"occupancy", 4}},
      {{"warps", 8}, {"block_k", 64}, {"rows_per_block", 1}, {"occupancy", 16}},
      {{"warps", 8}, {"block_k", 32}, {"rows_per_block", 2}, {"occupancy", 16}, {"stages", 3}},
      {{"warps", 2}, {"block_k", 64}, {"rows_per_block", 1}, {"occupancy", 4}},
      {{"warps", 4}, {"block_k", 32}, {"rows_per_block", 2}, {"occupancy", 12}},
      // Version 4 (sm_90a; refused, so skipped, elsewhere).
      {{"version", 4}, {"warps", 4}, {"block_k", 64}, {"rows_per_block", 1}, {"occupancy", 8}},
      {{"version", 4}, {"warps", 8}, {"block_k", 128}, {"rows_per_block", 1}, {"occupancy", 8}, {"stages", 3}},
      {{"version", 4}, {"warps", 8}, {"block_k", 32}, {"rows_per_block", 2}, {"occupancy", 16}},
  };
  const std::vector<Overrides> backward_overrides = {
      {{"query_warps", 4}, {"query_block_k", 64}, {"query_rows_per_block", 1}, {"query_occupancy", 4}},
      {{"query_warps", 8}, {"query_block_k", 32}, {"query_rows_per_block", 2}, {"query_occupancy", 16}},
      {{"query_warps", 2}, {"query_block_k", 16}, {"query_rows_per_block", 2}, {"stages", 3}},
  };
  int checked = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const EvoAttention op = make_op(cases[i]);
    const ir::Problem forward{op, ir::Direction::forward()};
    const ir::Problem backward{ir::with_gradients(op, op.all_gradients()),
                               ir::Direction::backward(op.all_gradients())};
    auto configured = [&](const ir::Problem& problem, const Overrides& overrides) -> mf_plan {
      ir::TileConfig config = runtime::tuning_default_config(cuda_, problem);
      for (const auto& [name, value] : overrides) config.set(name, value);
      if (runtime::tuning_rejects(cuda_, problem, config)) return nullptr;
      return runtime::tuning_plan(cuda_, problem, config);
    };
    for (std::size_t f = 0; f < forward_overrides.size(); ++f) {
        const std::size_t b = f % backward_overrides.size();
        Plans plans;
        plans.forward = configured(forward, forward_overrides[f]);
        plans.backward = configured(backward, backward_overrides[b]);
        if (plans.forward != nullptr && plans.backward != nullptr) {
          const std::string name = fmt::format("{} forward #{} backward #{}", name_of(cases[i]), f, b);
          const auto failures = check_case(cuda_, *device_, cases[i], plans, backward, 500 + 10 * i + f);
          for (const auto& failure : failures) ADD_FAILURE() << name << ": " << failure;
          std::printf("[config] %-64s %s\n", name.c_str(), failures.empty() ? "ok" : "FAILED");
          ++checked;
        }
        mf_plan_destroy(plans.forward);
        mf_plan_destroy(plans.backward);
      }
  }
  EXPECT_GE(checked, 12);
}

// A fully masked row outputs 0, LSE +inf, and zero gradients, never NaN.
TEST_F(EvoAttentionGpu, FullyMaskedRowsGiveZeros) {
  Case c{Layout::kMsaRow, DType::kBF16, BiasKind::kSame, MaskKind::kBoolean, 40, 32, false};
  const EvoAttention op = make_op(c);
  const EvoAttention with = ir::with_gradients(op, op.all_gradients());
  const ir::Problem backward{with, ir::Direction::backward(op.all_gradients())};
  const std::vector<Plans> plans = create_plans(cuda_, {{op, ir::Direction::forward()}}, {backward});
  ASSERT_TRUE(plans[0].error.empty()) << plans[0].error;
  bridge::BoundProblem bound = bridge::bind_random(backward, 7);
  // Row s = 1 drops every key.
  auto& mask = bound.tensors.at("mask");
  for (std::int64_t k = 0; k < c.n; ++k) mask.set(std::vector<std::int64_t>{0, 1, 0, 0, k}, 0.0);
  DeviceTensors device = upload(*device_, bound);
  ASSERT_EQ(execute(cuda_, plans[0].forward, {op, ir::Direction::forward()}, device, *device_), MF_SUCCESS)
      << mf_last_error();
  ASSERT_EQ(execute(cuda_, plans[0].backward, backward, device, *device_), MF_SUCCESS) << mf_last_error();
  for (const char* name : {"o", "lse", "d_q", "d_k", "d_v"}) download(*device_, device, bound, name);
  for (std::int64_t q = 0; q < c.n; ++q)
    for (std::int64_t h = 0; h < 2; ++h) {
      EXPECT_EQ(bound.tensors.at("lse").get(std::vector<std::int64_t>{0, 1, h, q}), INFINITY);
      for (std::int64_t d = 0; d < c.head_dim; ++d)
        for (const char* name : {"o", "d_q", "d_k", "d_v"})
          ASSERT_EQ(bound.tensors.at(name).get(std::vector<std::int64_t>{0, 1, q, h, d}), 0.0) << name;
    }
  mf_plan_destroy(plans[0].forward);
  mf_plan_destroy(plans[0].backward);
}

// Deterministic mode: two runs give the same bits.
TEST_F(EvoAttentionGpu, DeterministicBackwardIsBitwiseReproducible) {
  Case c{Layout::kTriangleStart, DType::kBF16, BiasKind::kSame, MaskKind::kBoolean, 128, 32, false};
  const EvoAttention op = make_op(c);
  const EvoAttention with = ir::with_gradients(op, op.all_gradients());
  const ir::Problem backward{with, ir::Direction::backward(op.all_gradients())};
  const std::vector<Plans> plans = create_plans(cuda_, {{op, ir::Direction::forward()}}, {backward});
  ASSERT_TRUE(plans[0].error.empty()) << plans[0].error;
  bridge::BoundProblem first = bridge::bind_random(backward, 11);
  bridge::BoundProblem second = first;
  for (auto* bound : {&first, &second}) {
    DeviceTensors device = upload(*device_, *bound);
    ASSERT_EQ(execute(cuda_, plans[0].forward, {op, ir::Direction::forward()}, device, *device_), MF_SUCCESS);
    ASSERT_EQ(execute(cuda_, plans[0].backward, backward, device, *device_), MF_SUCCESS);
    for (const char* name : {"d_q", "d_k", "d_v", "d_bias"}) download(*device_, device, *bound, name);
  }
  for (const char* name : {"d_q", "d_k", "d_v", "d_bias"}) {
    const auto& a = first.tensors.at(name);
    const auto& b = second.tensors.at(name);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.bytes()), 0) << name << " differs between two runs";
  }
  mf_plan_destroy(plans[0].forward);
  mf_plan_destroy(plans[0].backward);
}

}  // namespace
}  // namespace mf
