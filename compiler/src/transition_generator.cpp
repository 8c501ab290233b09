#include "mf/compiler/transition_generator.h"

#include <fmt/format.h>

#include <climits>

#include "cuda_source.h"
#include "mf/compiler/binary_cache.h"
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

const std::string& transition_template_text() {
  static const std::string text = template_text(
      {"cuda/transition_params.h", "cuda/tile.cuh", "cuda/layer_norm_rows.cuh", "cuda/transition_forward.cuh"});
  return text;
}

struct Sizes {
  int d;  // D padded to the 16-wide product
  int t;  // bytes of an x / W / y element
};
Sizes sizes_of(const Transition& op) { return {round_up(op.dim(), 16), element_bytes(op.x.dtype)}; }

// A weight read as [out, in] rows (the torch nn.Linear memory) when its logical first
// dimension (in) has unit stride.
bool torch_layout(const ir::TensorDesc& w) { return w.strides[0] == 1 && w.strides[1] != 1; }

// These mirror TransitionTiles of templates/cuda/transition_forward.cuh.
int forward_shared(const Sizes& z, bool w1_nk, bool w2_nk, bool layer_norm, int warps, int block_f, int block_d,
                   int stages) {
  const int w1 = w1_nk ? 2 * block_f * (z.d + 8) : z.d * (2 * block_f + 8);
  const int w2 = w2_nk ? block_d * (block_f + 8) : block_f * (block_d + 8);
  return 16 * warps * (z.d + 8) * z.t + (layer_norm ? 2 * z.d * 4 : 0) + stages * (w1 + w2) * z.t;
}
// Accumulators (y, a, g) and operand fragments of one thread, as 32-bit words.
int forward_registers(const Sizes& z, int block_f, int block_d) {
  return 4 * (block_d / 8) + 8 * (block_f / 8) + (z.t == 4 ? 12 : 6);
}

std::string bool_text(bool value) { return value ? "true" : "false"; }

std::string config_struct(const Transition& op, const Sizes& z, const ir::TileConfig& c) {
  const char* t = element_type(op.x.dtype);
  const char* gamma = op.gamma ? element_type(op.gamma->dtype) : t;
  return fmt::format(
      "struct MfTransition {{\n"
      "  using T = {};\n  using GammaT = {};\n  using BetaT = {};\n"
      "  static constexpr int kD = {}, kBlockD = {}, kBlockF = {}, kWarps = {}, kStages = {};\n"
      "  static constexpr bool kLayerNorm = {}, kHasBeta = {}, kW1NK = {}, kW2NK = {};\n}};\n",
      t, gamma, op.beta ? element_type(op.beta->dtype) : gamma, z.d, c.at("block_d"), c.at("block_f"), c.at("warps"),
      c.at("stages"), bool_text(op.has_layer_norm()), bool_text(op.beta.has_value()), bool_text(torch_layout(op.w1)),
      bool_text(torch_layout(op.w2)));
}

}  // namespace

void TransitionGenerator::check_supported(const Transition& op, const ir::Direction& direction) {
  element_type(op.x.dtype);
  if (op.gamma) element_type(op.gamma->dtype);
  if (op.dim() > kMaxDim)
    ir::fail(ir::ErrorKind::kUnsupported,
             fmt::format("x: D = {} is past the template generator's limit of {}", op.dim(), kMaxDim));
  if (direction.pass == ir::Pass::kBackward)
    ir::fail(ir::ErrorKind::kUnsupported,
             "the Transition backward has no cuda kernels yet; create the context with MF_BACKEND_CPU to run it on "
             "the host");
}

ParameterSpace TransitionGenerator::space(const Transition& op, const ir::Direction& direction, const Target& target) {
  check_supported(op, direction);
  const Sizes z = sizes_of(op);
  const bool w1_nk = torch_layout(op.w1), w2_nk = torch_layout(op.w2), layer_norm = op.has_layer_norm();
  ParameterSpace space;
  space.axes = {{"warps", {2, 4, 8}},
                {"block_f", {16, 32, 64}},
                {"block_d", {32, 64, 128}},
                {"stages", {1, 2}},
                {"occupancy", {4, 8, 12, 16}}};
  space.reject = [=](const ir::TileConfig& c) -> std::optional<std::string> {
    const int warps = int(c.at("warps")), block_f = int(c.at("block_f")), block_d = int(c.at("block_d"));
    const int stages = int(c.at("stages")), occupancy = int(c.at("occupancy"));
    if (block_d > z.d) return fmt::format("block_d = {} is wider than D padded to 16 ({})", block_d, z.d);
    if (occupancy % warps != 0)
      return fmt::format("occupancy = {} is not a whole number of blocks of {} warps", occupancy, warps);
    if (const int cap = register_cap(32 * warps, occupancy / warps);
        forward_registers(z, block_f, block_d) + kRegisterOverhead > cap)
      return fmt::format("occupancy = {} leaves {} registers a thread, too few for block_f = {} and block_d = {}",
                         occupancy, cap, block_f, block_d);
    if (const int bytes = forward_shared(z, w1_nk, w2_nk, layer_norm, warps, block_f, block_d, stages);
        bytes > target.max_shared_per_block)
      return fmt::format("needs {} bytes of shared memory, the device allows {}", bytes, target.max_shared_per_block);
    return std::nullopt;
  };
  return space;
}

ir::TileConfig TransitionGenerator::default_config(const Transition& op, const ir::Direction& direction,
                                                   const Target& target) {
  const ParameterSpace candidates = space(op, direction, target);
  // The whole width of y in one block where it fits (the hidden is computed once a row),
  // two chunks of 32 hidden columns in flight, two blocks of 4 warps a multiprocessor.
  const std::int64_t block_d = std::min(round_up(op.dim(), 32), 128);
  for (std::int64_t d : {block_d, std::int64_t{64}, std::int64_t{32}})
    for (int warps : {4, 2, 8}) {
      ir::TileConfig config;
      config.set("warps", warps).set("block_f", 32).set("block_d", d).set("stages", 2).set("occupancy", 8);
      if (!candidates.reject(config)) return config;
    }
  const auto valid = candidates.configs();
  if (valid.empty())
    ir::fail(ir::ErrorKind::kUnsupported,
             fmt::format("no configuration of the template generator fits D = {} in {} bytes of shared memory",
                         op.dim(), target.max_shared_per_block));
  return valid.front();
}

std::vector<GeneratedSource> TransitionGenerator::generate(const Transition& op, const ir::Direction& direction,
                                                           const ir::TileConfig& config) {
  const Target unlimited{"any", 1, INT_MAX};  // shared memory is checked against the device at launch
  space(op, direction, unlimited).check(config);
  const Sizes z = sizes_of(op);
  const int warps = int(config.at("warps"));
  GeneratedSource module;
  module.name = fmt::format("transition_forward_{}_d{}_f{}", ir::name_of(op.x.dtype), op.dim(), op.hidden());
  module.instantiation =
      fmt::format("// {} [{}]\n", module.name, ir::to_string(config)) + config_struct(op, z, config) +
      entry("mf_transition_forward", "MfTransitionParams", 32 * warps, "mf::transition_forward<MfTransition>(p);",
            int(config.at("occupancy")) / warps);
  module.text = transition_template_text() + "// ---- generated ----\n" + module.instantiation;
  module.entries = {"mf_transition_forward"};
  return {module};
}

TransitionLaunchPlan TransitionGenerator::launch_plan(const Transition& op, const ir::Direction& direction,
                                                      const ir::TileConfig& config, const Target& target) {
  space(op, direction, target).check(config);
  const Sizes z = sizes_of(op);
  const int warps = int(config.at("warps")), block_d = int(config.at("block_d"));
  const std::int64_t row_blocks = (op.rows() + 16 * warps - 1) / (16 * warps);
  const std::int64_t blocks = row_blocks * ((op.dim() + block_d - 1) / block_d);
  if (blocks > INT_MAX)
    ir::fail(ir::ErrorKind::kOverflow, fmt::format("x: M = {} needs more blocks than a grid holds", op.rows()));
  TransitionLaunchPlan plan;
  plan.row_blocks = static_cast<int>(row_blocks);
  plan.kernels.push_back({"mf_transition_forward", 32 * warps, 1, blocks,
                          forward_shared(z, torch_layout(op.w1), torch_layout(op.w2), op.has_layer_norm(), warps,
                                         int(config.at("block_f")), block_d, int(config.at("stages")))});
  return plan;
}

const std::string& TransitionGenerator::source_hash() {
  static const std::string hash = cache_key({kGeneratorVersion, transition_template_text()});
  return hash;
}

}  // namespace mf::compiler
