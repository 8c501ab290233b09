#include "mf/compiler/transition_generator.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <optional>

#include "cuda_source.h"
#include "mf/compiler/binary_cache.h"
#include "mf/compiler/transition_config.h"
#include "mf/ir/error.h"
#include "template_text.h"

namespace mf::compiler {
namespace {

using ir::Transition;

// Bumped whenever the generator's output changes for the same templates.
constexpr const char* kGeneratorVersion = "transition/1";
constexpr std::int64_t kMaxDim = 1024;
// Registers a thread needs besides its accumulators and operand fragments: addresses,
// loop counters, the SwiGLU temporaries.
constexpr int kRegisterOverhead = 40;

// The weights kernel's rows a step are 16 a warp; finalize is a plain grid-stride loop.
constexpr int kFinalizeThreads = 256;

const std::string& transition_template_text() {
  static const std::string text =
      template_text({"cuda/transition_params.h", "cuda/vendor.cuh", "cuda/tile.cuh", "cuda/layer_norm_rows.cuh",
                     "cuda/transition_forward.cuh", "cuda/transition_backward.cuh"});
  return text;
}

bool backward(const ir::Direction& direction) { return direction.pass == ir::Pass::kBackward; }
bool wants(const ir::Direction& direction, std::uint32_t gradients) {
  return backward(direction) && (direction.gradients & gradients) != 0;
}
bool wants_rows(const ir::Direction& d) {
  return wants(d, Transition::kGradX | Transition::kGradGamma | Transition::kGradBeta);
}
bool wants_norm_params(const ir::Direction& d) { return wants(d, Transition::kGradGamma | Transition::kGradBeta); }
bool wants_weights(const ir::Direction& d) { return wants(d, Transition::kGradW1 | Transition::kGradW2); }

struct Sizes {
  int d;  // D padded to the 16-wide product
  int t;  // bytes of an x / W / y element
};
Sizes sizes_of(const Transition& op) { return {round_up(op.dim(), 16), element_bytes(op.x.dtype)}; }

// A weight read as [out, in] rows (the torch nn.Linear memory) when its logical first
// dimension (in) has unit stride.
bool torch_layout(const ir::TensorDesc& w) { return w.strides[0] == 1 && w.strides[1] != 1; }

// The W1 and W2 slices of one hidden chunk (TransitionTiles), in bytes.
int chunk_bytes(const Sizes& z, bool w1_nk, bool w2_nk, int block_f, int block_d) {
  const int w1 = w1_nk ? 2 * block_f * (z.d + 8) : z.d * (2 * block_f + 8);
  const int w2 = w2_nk ? block_d * (block_f + 8) : block_f * (block_d + 8);
  return (w1 + w2) * z.t;
}
// These mirror TransitionTiles of templates/cuda/transition_forward.cuh.
int forward_shared(const Sizes& z, bool w1_nk, bool w2_nk, bool layer_norm, int warps, int block_f, int block_d,
                   int stages) {
  return 16 * warps * (z.d + 8) * z.t + (layer_norm ? 2 * z.d * 4 : 0) +
         stages * chunk_bytes(z, w1_nk, w2_nk, block_f, block_d);
}
// These mirror TransitionRowsTiles and TransitionWeightsTiles of transition_backward.cuh.
int rows_shared(const Sizes& z, bool w1_nk, bool w2_nk, bool layer_norm, int warps, int block_f) {
  const int block_m = 16 * warps;
  return 2 * block_m * (z.d + 8) * z.t + block_m * (z.d + 4) * 4 + (layer_norm ? 2 * z.d * 4 : 0) + 2 * block_m * 4 +
         (layer_norm ? 2 * warps * z.d * 4 : 0) + 2 * chunk_bytes(z, w1_nk, w2_nk, block_f, z.d);
}
int weights_shared(const Sizes& z, bool w1_nk, bool w2_nk, bool layer_norm, int warps, int block_f) {
  const int block_m = 16 * warps;
  return 2 * block_m * (z.d + 8) * z.t + block_m * (block_f + 8) * z.t + block_m * (2 * block_f + 8) * z.t +
         (layer_norm ? 2 * z.d * 4 : 0) + 2 * block_m * 4 + chunk_bytes(z, w1_nk, w2_nk, block_f, z.d);
}

// Accumulators and operand fragments of one thread, as 32-bit words.
int fragment_words(const Sizes& z) { return z.t == 4 ? 12 : 6; }
int forward_registers(const Sizes& z, int block_f, int block_d) {
  return 4 * (block_d / 8) + 8 * (block_f / 8) + fragment_words(z);
}
// a, g and dh of a chunk, then [da | dg] as operands and one output tile.
int rows_registers(const Sizes& z, int block_f) {
  return 12 * (block_f / 8) + 8 * (block_f / 16) * (z.t == 4 ? 2 : 1) + 4 + fragment_words(z);
}
int weights_registers(const Sizes& z, int warps, int block_f) {
  const int w1_tiles = (z.d / 16 * (2 * block_f / 8) + warps - 1) / warps;
  const int w2_tiles = (block_f / 16 * (z.d / 8) + warps - 1) / warps;
  return 4 * (w1_tiles + w2_tiles) + 12 * (block_f / 8) + fragment_words(z);
}

std::string bool_text(bool value) { return value ? "true" : "false"; }

// The configuration struct a Transition kernel reads.
std::string config_struct(const char* name, const Transition& op, const Sizes& z, std::int64_t block_d,
                          std::int64_t block_f, std::int64_t warps, std::int64_t stages) {
  const char* t = element_type(op.x.dtype);
  const char* gamma = op.gamma ? element_type(op.gamma->dtype) : t;
  return fmt::format(
      "struct {} {{\n"
      "  using T = {};\n  using GammaT = {};\n  using BetaT = {};\n"
      "  static constexpr int kD = {}, kBlockD = {}, kBlockF = {}, kWarps = {}, kStages = {};\n"
      "  static constexpr bool kLayerNorm = {}, kHasBeta = {}, kW1NK = {}, kW2NK = {};\n}};\n",
      name, t, gamma, op.beta ? element_type(op.beta->dtype) : gamma, z.d, block_d, block_f, warps, stages,
      bool_text(op.has_layer_norm()), bool_text(op.beta.has_value()), bool_text(torch_layout(op.w1)),
      bool_text(torch_layout(op.w2)));
}

std::optional<std::string> occupancy_rejects(const char* axis, int occupancy, int warps, int registers,
                                             const std::string& what) {
  if (occupancy % warps != 0)
    return fmt::format("{} = {} is not a whole number of blocks of {} warps", axis, occupancy, warps);
  if (const int cap = register_cap(32 * warps, occupancy / warps); registers + kRegisterOverhead > cap)
    return fmt::format("{} = {} leaves {} registers a thread, too few for {}", axis, occupancy, cap, what);
  return std::nullopt;
}

}  // namespace

void TransitionGenerator::check_supported(const Transition& op, const ir::Direction&) {
  element_type(op.x.dtype);
  if (op.gamma) element_type(op.gamma->dtype);
  if (op.dim() > kMaxDim)
    ir::fail(ir::ErrorKind::kUnsupported,
             fmt::format("x: D = {} is past the template generator's limit of {}", op.dim(), kMaxDim));
}

ParameterSpace TransitionGenerator::space(const Transition& op, const ir::Direction& direction, const Target& target) {
  check_supported(op, direction);
  const Sizes z = sizes_of(op);
  const bool w1_nk = torch_layout(op.w1), w2_nk = torch_layout(op.w2), layer_norm = op.has_layer_norm();
  auto too_big = [target](int bytes) -> std::optional<std::string> {
    if (bytes <= target.max_shared_per_block) return std::nullopt;
    return fmt::format("needs {} bytes of shared memory, the device allows {}", bytes, target.max_shared_per_block);
  };
  ParameterSpace space;
  if (!backward(direction)) {
    space.axes = {{"warps", {2, 4, 8}},
                  {"block_f", {16, 32, 64}},
                  {"block_d", {32, 64, 128}},
                  {"stages", {1, 2}},
                  {"occupancy", {4, 8, 12, 16}}};
    space.reject = [=](const ir::TileConfig& tile) -> std::optional<std::string> {
      const auto [warps, block_f, block_d, stages, occupancy] = TransitionForwardConfig::from(tile);
      if (block_d > z.d) return fmt::format("block_d = {} is wider than D padded to 16 ({})", block_d, z.d);
      if (auto why = occupancy_rejects("occupancy", occupancy, warps, forward_registers(z, block_f, block_d),
                                       fmt::format("block_f = {} and block_d = {}", block_f, block_d)))
        return why;
      return too_big(forward_shared(z, w1_nk, w2_nk, layer_norm, warps, block_f, block_d, stages));
    };
    return space;
  }
  // Backward: the rows kernel (warps, block_f, occupancy) and the weights kernel
  // (weight_warps, weight_block_f) are tuned as one configuration; their times add.
  space.axes = {{"warps", {2, 4, 8}},
                {"block_f", {16, 32, 64}},
                {"occupancy", {4, 8, 16}},
                {"weight_warps", {4, 8}},
                {"weight_block_f", {16, 32, 64}}};
  const bool rows = wants_rows(direction), weights = wants_weights(direction);
  space.reject = [=](const ir::TileConfig& tile) -> std::optional<std::string> {
    const auto [warps, block_f, occupancy, weight_warps, weight_block_f] = TransitionBackwardConfig::from(tile);
    if (rows)
      if (auto why = occupancy_rejects("occupancy", occupancy, warps, rows_registers(z, block_f),
                                       fmt::format("block_f = {}", block_f)))
        return why;
    if (weights && weights_registers(z, weight_warps, weight_block_f) + kRegisterOverhead > register_cap(32 * weight_warps, 1))
      return fmt::format("weight_block_f = {} with D = {} needs more registers than a thread has", weight_block_f, z.d);
    return too_big(std::max(rows ? rows_shared(z, w1_nk, w2_nk, layer_norm, warps, block_f) : 0,
                            weights ? weights_shared(z, w1_nk, w2_nk, layer_norm, weight_warps, weight_block_f) : 0));
  };
  return space;
}

ir::TileConfig TransitionGenerator::default_config(const Transition& op, const ir::Direction& direction,
                                                   const Target& target) {
  const ParameterSpace candidates = space(op, direction, target);
  auto first_valid = [&](const std::vector<ir::TileConfig>& preferred) {
    for (const auto& config : preferred)
      if (!candidates.reject(config)) return config;
    const auto valid = candidates.configs();
    if (valid.empty())
      ir::fail(ir::ErrorKind::kUnsupported,
               fmt::format("no configuration of the template generator fits D = {} in {} bytes of shared memory",
                           op.dim(), target.max_shared_per_block));
    return valid.front();
  };
  std::vector<ir::TileConfig> preferred;
  if (!backward(direction)) {
    // The whole width of y in one block where it fits (the hidden is computed once a row),
    // two chunks of 32 hidden columns in flight, two blocks of 4 warps a multiprocessor.
    const int block_d = static_cast<int>(std::min(round_up(op.dim(), 32), 128));
    for (int d : {block_d, 64, 32})
      for (int warps : {4, 2, 8})
        preferred.push_back(
            TransitionForwardConfig{.warps = warps, .block_f = 32, .block_d = d, .stages = 2, .occupancy = 8}.tile());
  } else {
    for (int warps : {4, 2})
      for (int weight_warps : {8, 4})
        for (int block_f : {32, 16})
          preferred.push_back(TransitionBackwardConfig{.warps = warps,
                                                       .block_f = block_f,
                                                       .occupancy = 4,
                                                       .weight_warps = weight_warps,
                                                       .weight_block_f = block_f}
                                  .tile());
  }
  return first_valid(preferred);
}

std::vector<GeneratedSource> TransitionGenerator::generate(const Transition& op, const ir::Direction& direction,
                                                           const ir::TileConfig& config) {
  const Target unlimited{"any", 1, INT_MAX};  // shared memory is checked against the device at launch
  space(op, direction, unlimited).check(config);
  const Sizes z = sizes_of(op);
  const bool w1_nk = torch_layout(op.w1), w2_nk = torch_layout(op.w2), layer_norm = op.has_layer_norm();
  std::vector<GeneratedSource> modules;
  auto add = [&](const char* role, const ir::TileConfig& params, std::string code, const char* entry_name) {
    modules.push_back(generated_module(fmt::format("transition_{}_{}_d{}", role, ir::name_of(op.x.dtype), op.dim()),
                                       params, code, transition_template_text(), {entry_name}));
  };
  if (!backward(direction)) {
    const auto [warps, block_f, block_d, stages, occupancy] = TransitionForwardConfig::from(config);
    add("forward", config,
        config_struct("MfTransition", op, z, block_d, block_f, warps, stages) +
            shared_bytes_assert("TransitionTiles", "MfTransition",
                                forward_shared(z, w1_nk, w2_nk, layer_norm, warps, block_f, block_d, stages)) +
            entry("mf_transition_forward", "MfTransitionParams", 32 * warps, "mf::transition_forward<MfTransition>(p);",
                  occupancy / warps),
        "mf_transition_forward");
    return modules;
  }
  // Each module names only the parameters its kernel reads, so configurations share it.
  const TransitionBackwardConfig c = TransitionBackwardConfig::from(config);
  if (wants_rows(direction)) {
    ir::TileConfig params;
    params.set("block_f", c.block_f).set("occupancy", c.occupancy).set("warps", c.warps);
    add("backward_rows", params,
        config_struct("MfRows", op, z, z.d, c.block_f, c.warps, 2) +
            shared_bytes_assert("TransitionRowsTiles", "MfRows",
                                rows_shared(z, w1_nk, w2_nk, layer_norm, c.warps, c.block_f)) +
            entry("mf_transition_backward_rows", "MfTransitionParams", 32 * c.warps,
                  "mf::transition_backward_rows<MfRows>(p);", c.occupancy / c.warps),
        "mf_transition_backward_rows");
  }
  if (wants_weights(direction)) {
    ir::TileConfig params;
    params.set("weight_block_f", c.weight_block_f).set("weight_warps", c.weight_warps);
    add("backward_weights", params,
        config_struct("MfWeights", op, z, z.d, c.weight_block_f, c.weight_warps, 1) +
            shared_bytes_assert("TransitionWeightsTiles", "MfWeights",
                                weights_shared(z, w1_nk, w2_nk, layer_norm, c.weight_warps, c.weight_block_f)) +
            entry("mf_transition_backward_weights", "MfTransitionParams", 32 * c.weight_warps,
                  "mf::transition_backward_weights<MfWeights>(p);"),
        "mf_transition_backward_weights");
  }
  if (wants(direction, Transition::kGradGamma | Transition::kGradBeta | Transition::kGradW1 | Transition::kGradW2))
    add("backward_finalize", {},
        config_struct("MfFinalize", op, z, z.d, 16, 1, 1) +
            entry("mf_transition_backward_finalize", "MfTransitionParams", kFinalizeThreads,
                  "mf::transition_backward_finalize<MfFinalize>(p);"),
        "mf_transition_backward_finalize");
  return modules;
}

TransitionLaunchPlan TransitionGenerator::launch_plan(const Transition& op, const ir::Direction& direction,
                                                      const ir::TileConfig& config, const Target& target) {
  space(op, direction, target).check(config);
  const Sizes z = sizes_of(op);
  const bool w1_nk = torch_layout(op.w1), w2_nk = torch_layout(op.w2), layer_norm = op.has_layer_norm();
  const std::int64_t m = op.rows();
  auto blocks_of = [&](std::int64_t count) {
    if (count > INT_MAX)
      ir::fail(ir::ErrorKind::kOverflow, fmt::format("x: M = {} needs more blocks than a grid holds", m));
    return count;
  };
  TransitionLaunchPlan plan;
  if (!backward(direction)) {
    const auto [warps, block_f, block_d, stages, occupancy] = TransitionForwardConfig::from(config);
    const std::int64_t row_blocks = (m + 16 * warps - 1) / (16 * warps);
    plan.row_blocks = static_cast<int>(blocks_of(row_blocks));
    plan.kernels.push_back({"mf_transition_forward", 32 * warps, 1,
                            blocks_of(row_blocks * ((op.dim() + block_d - 1) / block_d)),
                            forward_shared(z, w1_nk, w2_nk, layer_norm, warps, block_f, block_d, stages)});
    return plan;
  }
  auto carve = [&plan](std::size_t bytes) {
    const std::size_t offset = plan.workspace_bytes;
    plan.workspace_bytes += (bytes + 255) / 256 * 256;
    return offset;
  };
  const TransitionBackwardConfig c = TransitionBackwardConfig::from(config);
  if (wants_rows(direction)) {
    plan.row_blocks = static_cast<int>(blocks_of((m + 16 * c.warps - 1) / (16 * c.warps)));
    plan.kernels.push_back({"mf_transition_backward_rows", 32 * c.warps, 1, plan.row_blocks,
                            rows_shared(z, w1_nk, w2_nk, layer_norm, c.warps, c.block_f)});
    if (layer_norm && wants_norm_params(direction)) {
      plan.gamma_partial_bytes = static_cast<std::size_t>(plan.row_blocks) * 2 * z.d * 4;
      plan.gamma_partial_offset = carve(plan.gamma_partial_bytes);
    }
  }
  if (wants_weights(direction)) {
    const int warps = c.weight_warps, block_f = c.weight_block_f;
    const std::int64_t chunks = (op.hidden() + block_f - 1) / block_f, step = 16 * warps;
    const std::int64_t steps = (m + step - 1) / step;
    // Enough groups of rows to give every multiprocessor two blocks.
    const std::int64_t groups = std::clamp<std::int64_t>((2 * target.multiprocessors + chunks - 1) / chunks, 1, steps);
    plan.rows_per_group = static_cast<int>((steps + groups - 1) / groups * step);
    plan.groups = static_cast<int>((m + plan.rows_per_group - 1) / plan.rows_per_group);
    plan.kernels.push_back({"mf_transition_backward_weights", 32 * warps, 1, blocks_of(chunks * plan.groups),
                            weights_shared(z, w1_nk, w2_nk, layer_norm, warps, block_f)});
    plan.w1_partial_bytes = static_cast<std::size_t>(plan.groups) * op.dim() * 2 * op.hidden() * 4;
    plan.w1_partial_offset = carve(plan.w1_partial_bytes);
    plan.w2_partial_bytes = static_cast<std::size_t>(plan.groups) * op.hidden() * op.dim() * 4;
    plan.w2_partial_offset = carve(plan.w2_partial_bytes);
  }
  if (plan.gamma_partial_bytes > 0 || wants_weights(direction)) {
    const std::int64_t elements = (wants_weights(direction) ? 3 * op.dim() * op.hidden() : 0) +
                                  (plan.gamma_partial_bytes > 0 ? 2 * op.dim() : 0);
    plan.kernels.push_back({"mf_transition_backward_finalize", kFinalizeThreads, 1,
                            std::min<std::int64_t>((elements + kFinalizeThreads - 1) / kFinalizeThreads,
                                                   std::int64_t{target.multiprocessors} * 16),
                            0});
  }
  return plan;
}

const std::string& TransitionGenerator::source_hash() {
  static const std::string hash = cache_key({kGeneratorVersion, transition_template_text()});
  return hash;
}

}  // namespace mf::compiler
