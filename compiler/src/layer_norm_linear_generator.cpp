#include "mf/compiler/layer_norm_linear_generator.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <optional>

#include "cuda_source.h"
#include "mf/compiler/binary_cache.h"
#include "mf/compiler/layer_norm_linear_config.h"
#include "mf/ir/error.h"
#include "template_text.h"

namespace mf::compiler {
namespace {

using ir::LayerNormLinear;

// Bumped whenever the generator's output changes for the same templates.
constexpr const char* kGeneratorVersion = "layer_norm_linear/1";
constexpr std::int64_t kMaxInFeatures = 1024;
// The weights kernel: 8 warps over the rows of W, 64 rows of x and dy a step.
constexpr int kWeightWarps = 8, kChunkM = 64;
constexpr int kFinalizeThreads = 256;

const std::string& linear_template_text() {
  static const std::string text =
      template_text({"cuda/layer_norm_linear_params.h", "cuda/vendor.cuh", "cuda/tile.cuh", "cuda/layer_norm_rows.cuh",
                     "cuda/layer_norm_linear_forward.cuh",
                     "cuda/layer_norm_linear_backward.cuh"});
  return text;
}
// Version 2's forward adds Hopper's warpgroup products; its module alone carries them.
const std::string& linear_v2_template_text() {
  static const std::string text =
      template_text({"cuda/layer_norm_linear_params.h", "cuda/vendor.cuh", "cuda/tile.cuh", "cuda/wgmma.cuh",
                     "cuda/wgmma_products.cuh", "cuda/layer_norm_rows.cuh", "cuda/layer_norm_linear_forward_v2.cuh"});
  return text;
}
// Version 2 of the backward: Hopper's warpgroup products for dx and for x̂ᵀ·dy.
const std::string& linear_backward_v2_template_text() {
  static const std::string text =
      template_text({"cuda/layer_norm_linear_params.h", "cuda/vendor.cuh", "cuda/tile.cuh", "cuda/wgmma.cuh",
                     "cuda/wgmma_products.cuh", "cuda/layer_norm_linear_backward_v2.cuh"});
  return text;
}

bool backward(const ir::Direction& direction) { return direction.pass == ir::Pass::kBackward; }
bool wants(const ir::Direction& direction, std::uint32_t gradients) {
  return backward(direction) && (direction.gradients & gradients) != 0;
}
bool wants_rows(const ir::Direction& d) {
  return wants(d, LayerNormLinear::kGradX | LayerNormLinear::kGradGamma | LayerNormLinear::kGradBeta);
}
bool wants_norm_params(const ir::Direction& d) {
  return wants(d, LayerNormLinear::kGradGamma | LayerNormLinear::kGradBeta);
}
bool wants_weights(const ir::Direction& d) { return wants(d, LayerNormLinear::kGradWeight | LayerNormLinear::kGradBias); }
bool wants_x(const ir::Direction& d) { return wants(d, LayerNormLinear::kGradX); }
// Version 2 derives dγ, dβ, dW and db from x̂ᵀ·dy and Σ dy: its weights kernel serves all four.
bool wants_parameters(const ir::Direction& d) { return wants_norm_params(d) || wants_weights(d); }

struct Sizes {
  int k;        // K padded to the 16-wide product
  int chunk;    // columns of dh the rows kernel holds in registers at once
  int rows_k;   // K padded to a multiple of `chunk` (the rows kernel's kK)
  int t;        // bytes of an x / W / y element
};
Sizes sizes_of(const LayerNormLinear& op) {
  const int k = round_up(op.in_features(), 16), chunk = std::min(k, 128);
  return {k, chunk, round_up(k, chunk), element_bytes(op.x.dtype)};
}

// W read as [N, K] rows (the torch nn.Linear memory) when K is its unit-stride dimension.
bool weight_nk(const LayerNormLinear& op) { return op.weight.strides[0] == 1 && op.weight.strides[1] != 1; }

// These mirror the tile structs of templates/cuda/layer_norm_linear_*.cuh.
int forward_shared(const Sizes& z, bool nk, int warps, int block_n, int stages) {
  const int block_m = 16 * warps;
  const int weight_tile = nk ? block_n * (z.k + 8) * z.t : z.k * (block_n + 8) * z.t;
  return block_m * (z.k + 8) * z.t + 2 * z.k * 4 + stages * weight_tile + block_m * (block_n + 8) * z.t;
}
int rows_shared(const Sizes& z, bool nk, int warps, int block_n) {
  const int block_m = 16 * warps;
  const int weight_tile = nk ? block_n * (z.chunk + 8) * z.t : z.chunk * (block_n + 8) * z.t;
  const int stage = block_m * (block_n + 8) * z.t + weight_tile;
  return block_m * (z.rows_k + 8) * z.t + block_m * (z.rows_k + 4) * 4 + 4 * block_m * 4 + z.rows_k * 4 +
         2 * warps * z.chunk * 4 + 2 * stage;
}
int weights_shared(const Sizes& z, int block_n) {
  return kChunkM * (z.k + 8) * z.t + kChunkM * (block_n + 8) * z.t + 2 * z.k * 4 + 2 * kChunkM * 4;
}

// Version 2 (templates/cuda/layer_norm_linear_forward_v2.cuh): the resident slice of W,
// γ, β and b, then per warpgroup two x stages of 64 rows and the output stage.
int forward_v2_shared(const Sizes& z, int warps, int block_n) {
  const int panels = (z.k * z.t + 127) / 128;
  const int group = 2 * 64 * (z.k + 8) * z.t + 64 * (block_n + 8) * z.t;
  return panels * block_n * 128 + (2 * z.k + block_n) * 4 + warps / 4 * group;
}
// Version 2 of the backward (templates/cuda/layer_norm_linear_backward_v2.cuh). Weights
// kernel: per stage 64 rows of dy's slice (128-byte panels), of x (K padded to the
// warpgroups' 64 rows each) and of the statistics; then db's per-part column sums. Rows
// kernel: per stage the block's dy rows and W's rows of a 64-column chunk; then γ.
constexpr int kWeightsV2Stages = 4, kRowsV2Stages = 3, kFinalizeV2Threads = 256;
int weights_v2_warps(const Sizes& z) { return z.k <= 64 ? 4 : 8; }
int weights_v2_shared(const Sizes& z, int block_n) {
  const int warps = weights_v2_warps(z), k_pad = 64 * (warps / 4);
  const int stage = kChunkM * block_n * z.t + kChunkM * (k_pad + 8) * z.t + 2 * kChunkM * 4;
  const int parts = 32 * warps / (block_n / 2);
  return kWeightsV2Stages * stage + parts * block_n * 4;
}
int rows_v2_shared(const Sizes& z, int warps) {
  const int stage = 64 * (warps / 4) * 128 + z.k * 64 * z.t;
  return kRowsV2Stages * stage + z.k * 4;
}
// A Hopper multiprocessor's shared memory, of which each block's reservation takes 1 KiB.
constexpr int kSharedPerMultiprocessor = 228 * 1024, kSharedReservedPerBlock = 1024;

// Accumulators and operand fragments of one thread, as 32-bit words, plus addressing.
int forward_registers(const Sizes& z, int block_n) { return 4 * (block_n / 8) + (z.t == 4 ? 12 : 6) + 40; }
// Version 2 holds a row block's normalised x (K/4 words, twice that while the LayerNorm
// unpacks it) beside the accumulators: fitted to ptxas (K = 128, 128 columns: 168 registers;
// K = 384 spills at 255 even with 128 columns).
int forward_v2_registers(const Sizes& z, int block_n) { return block_n / 2 + z.k / 2 + 40; }
int rows_registers(const Sizes& z) { return 4 * (z.chunk / 8) + (z.t == 4 ? 12 : 6) + 48; }
int weights_registers(const Sizes& z, int block_n) {
  const int row_tiles = (z.k / 16 + kWeightWarps - 1) / kWeightWarps;
  return 4 * row_tiles * (block_n / 8) + (z.t == 4 ? 12 : 6) + 40;
}

// Why version 2 cannot run `op`'s backward with these parameters, or nullopt. K is dh's
// width in the rows kernel (whole 128-byte panels of W, wgmma's N) and the rows of x̂ᵀ·dy
// in the weights kernel (a warpgroup per 64); the weights kernel's accumulators
// (weight_block_n / 2 registers) fit whatever the width.
std::optional<std::string> backward_v2_refusal(const LayerNormLinear& op, const Sizes& z, const Target& target,
                                               int block_n, int weight_block_n) {
  if (target.arch != "sm_90a") return fmt::format("version 2 needs sm_90a (wgmma), not {}", target.arch);
  if (z.t != 2) return std::string("version 2 takes bf16 and f16 tensors");
  if (op.in_features() != 64 && op.in_features() != 128)
    return fmt::format("version 2's backward takes K = 64 or 128, not {}", op.in_features());
  if (block_n != 64) return fmt::format("version 2 reads dy in 64-column chunks: block_n = 64, not {}", block_n);
  if (weight_block_n % 64 != 0)
    return fmt::format("version 2 reads dy in 64-column panels: weight_block_n = {} is not a multiple of 64",
                       weight_block_n);
  return std::nullopt;
}

// Why version 2 cannot run the forward of `op` on `target` with these parameters, or nullopt.
std::optional<std::string> v2_refusal(const LayerNormLinear& op, const Sizes& z, const Target& target, int warps,
                                      int stages) {
  if (target.arch != "sm_90a") return fmt::format("version 2 needs sm_90a (wgmma), not {}", target.arch);
  if (z.t != 2) return std::string("version 2 takes bf16 and f16 tensors");
  if (op.in_features() % 16 != 0)
    return fmt::format("version 2 needs K a multiple of 16, not {}", op.in_features());
  if (warps != 4 && warps != 8) return fmt::format("version 2 needs whole warpgroups: warps = 4 or 8, not {}", warps);
  if (stages != 2) return fmt::format("version 2 double-buffers x: stages = 2, not {}", stages);
  return std::nullopt;
}

void require_valid(const LayerNormLinear& op, const ir::Direction& direction, const ir::TileConfig& config) {
  // Shared memory is checked against the device at launch; a configuration of either
  // vendor's space is valid (AMD's also has 2-warp row blocks; sm_90a's version 2).
  const Target nvidia{"sm_90a", 1, INT_MAX}, amd{"gfx", 1, INT_MAX};
  try {
    LayerNormLinearGenerator::space(op, direction, amd).check(config);
  } catch (const ir::Error&) {
    LayerNormLinearGenerator::space(op, direction, nvidia).check(config);
  }
}

std::string bool_text(bool value) { return value ? "true" : "false"; }

// The configuration struct every LayerNormLinear kernel reads.
std::string config_struct(const char* name, const LayerNormLinear& op, int k, int block_m, int block_n, int warps,
                          int stages, int chunk) {
  const char* gamma_type = element_type(op.gamma.dtype);
  return fmt::format(
      "struct {} {{\n"
      "  using T = {};\n  using GammaT = {};\n  using BetaT = {};\n  using BiasT = {};\n"
      "  static constexpr int kK = {}, kBlockM = {}, kBlockN = {}, kWarps = {}, kStages = {}, kKChunk = {}, "
      "kChunkM = {};\n"
      "  static constexpr bool kWeightNK = {}, kHasBeta = {}, kHasBias = {};\n}};\n",
      name, element_type(op.x.dtype), gamma_type, op.beta ? element_type(op.beta->dtype) : gamma_type,
      op.bias ? element_type(op.bias->dtype) : gamma_type, k, block_m, block_n, warps, stages, chunk, kChunkM,
      bool_text(weight_nk(op)), bool_text(op.beta.has_value()), bool_text(op.bias.has_value()));
}

// Version 2's backward modules: the rows kernel where dx is wanted, the weights kernel and
// the finalize where any parameter gradient is. Each module names only the parameters its
// kernel reads, so configurations share them.
std::vector<GeneratedSource> backward_v2_modules(const LayerNormLinear& op, const ir::Direction& direction,
                                                 const LinearBackwardConfig& config) {
  const Sizes z = sizes_of(op);
  const int k = static_cast<int>(op.in_features());
  std::vector<GeneratedSource> modules;
  auto add = [&](const char* role, const ir::TileConfig& params, const std::string& code, const char* entry_name) {
    modules.push_back(
        generated_module(fmt::format("layer_norm_linear_{}_v2_{}_k{}", role, ir::name_of(op.x.dtype), op.in_features()),
                         params, code, linear_backward_v2_template_text(), {entry_name}));
  };
  if (wants_x(direction)) {
    const int warps = config.warps;
    ir::TileConfig params;
    params.set("warps", warps).set("version", 2);
    add("backward_rows", params,
        config_struct("MfRows", op, k, 64 * (warps / 4), 64, warps, kRowsV2Stages, z.chunk) +
            shared_bytes_assert("LinearRowsV2Layout", "MfRows", rows_v2_shared(z, warps)) +
            // One warpgroup: two blocks a multiprocessor, so that one's epilogue runs under
            // the other's products (two warpgroups at 178 registers fit one block).
            entry("mf_lnl_backward_rows", "MfLinearParams", 32 * warps,
                  "mf::layer_norm_linear_backward_rows_v2<MfRows>(p);", warps == 4 ? 2 : 1),
        "mf_lnl_backward_rows");
  }
  if (wants_parameters(direction)) {
    const int block_n = config.weight_block_n, warps = weights_v2_warps(z);
    ir::TileConfig params;
    params.set("weight_block_n", block_n).set("version", 2);
    add("backward_weights", params,
        config_struct("MfWeights", op, k, kChunkM, block_n, warps, kWeightsV2Stages, z.chunk) +
            shared_bytes_assert("LinearWeightsV2Layout", "MfWeights", weights_v2_shared(z, block_n)) +
            entry("mf_lnl_backward_weights", "MfLinearParams", 32 * warps,
                  "mf::layer_norm_linear_backward_weights_v2<MfWeights>(p);"),
        "mf_lnl_backward_weights");
    ir::TileConfig finalize;
    finalize.set("version", 2);
    add("backward_finalize", finalize,
        config_struct("MfFinalize", op, k, 16, 16, 8, 1, z.chunk) +
            entry("mf_lnl_backward_finalize", "MfLinearParams", kFinalizeV2Threads,
                  "mf::layer_norm_linear_backward_finalize_v2<MfFinalize>(p);"),
        "mf_lnl_backward_finalize");
  }
  return modules;
}

}  // namespace

void LayerNormLinearGenerator::check_supported(const LayerNormLinear& op, const ir::Direction&) {
  element_type(op.x.dtype);
  element_type(op.gamma.dtype);
  if (op.in_features() > kMaxInFeatures)
    ir::fail(ir::ErrorKind::kUnsupported, fmt::format("x: K = {} is past the template generator's limit of {}",
                                                      op.in_features(), kMaxInFeatures));
}

ParameterSpace LayerNormLinearGenerator::space(const LayerNormLinear& op, const ir::Direction& direction,
                                               const Target& target) {
  check_supported(op, direction);
  const Sizes z = sizes_of(op);
  const bool nk = weight_nk(op);
  ParameterSpace space;
  auto too_big = [target](int bytes) -> std::optional<std::string> {
    if (bytes <= target.max_shared_per_block) return std::nullopt;
    return fmt::format("needs {} bytes of shared memory, the device allows {}", bytes, target.max_shared_per_block);
  };
  if (!backward(direction)) {
    // version: 1 = mma.sync kernel (every target), 2 = persistent wgmma kernel (sm_90a).
    const std::vector<std::int64_t> versions =
        target.arch == "sm_90a" ? std::vector<std::int64_t>{1, 2} : std::vector<std::int64_t>{1};
    space.axes = {{"warps", {2, 4, 8}},      {"block_n", {32, 64, 128, 256}}, {"stages", {1, 2}},
                  {"min_blocks", {1, 2, 3}}, {"version", versions}};
    space.reject = [op, z, nk, target, too_big](const ir::TileConfig& tile) -> std::optional<std::string> {
      const auto [version, warps, block_n, stages, min_blocks] = LinearForwardConfig::from(tile);
      if (version == 2) {
        if (auto refusal = v2_refusal(op, z, target, warps, stages)) return refusal;
        if (forward_v2_registers(z, block_n) > register_cap(32 * warps, min_blocks))
          return fmt::format("min_blocks = {} leaves {} registers a thread, too few for block_n = {} and K = {}",
                             min_blocks, register_cap(32 * warps, min_blocks), block_n, z.k);
        const int bytes = forward_v2_shared(z, warps, block_n);
        if (auto refusal = too_big(bytes)) return refusal;
        if (min_blocks * (bytes + kSharedReservedPerBlock) > kSharedPerMultiprocessor)
          return fmt::format("min_blocks = {} blocks of {} bytes do not fit a multiprocessor's shared memory",
                             min_blocks, bytes);
        return std::nullopt;
      }
      if (block_n > 128) return fmt::format("version 1 stages at most 128 columns a tile, not {}", block_n);
      if (forward_registers(z, block_n) > register_cap(32 * warps, min_blocks))
        return fmt::format("min_blocks = {} leaves {} registers a thread, too few for block_n = {}", min_blocks,
                           register_cap(32 * warps, min_blocks), block_n);
      return too_big(forward_shared(z, nk, warps, block_n, stages));
    };
    return space;
  }
  // AMD's 64 KiB of LDS hold the rows kernel's K = 128 tiles only for 32 rows a block.
  const std::vector<std::int64_t> warp_counts =
      target.amd() ? std::vector<std::int64_t>{2, 4, 8} : std::vector<std::int64_t>{4, 8};
  // version: 1 = mma.sync kernels (every target), 2 = wgmma kernels (sm_90a).
  const std::vector<std::int64_t> versions =
      target.arch == "sm_90a" ? std::vector<std::int64_t>{1, 2} : std::vector<std::int64_t>{1};
  space.axes = {{"warps", warp_counts},
                {"block_n", {32, 64}},
                {"weight_block_n", {32, 64, 128, 256}},
                {"version", versions}};
  const bool rows = wants_rows(direction), weights = wants_weights(direction);
  const bool x_gradient = wants_x(direction), parameters = wants_parameters(direction);
  space.reject = [op, z, nk, rows, weights, x_gradient, parameters, target,
                  too_big](const ir::TileConfig& tile) -> std::optional<std::string> {
    const auto [version, warps, block_n, weight_block_n] = LinearBackwardConfig::from(tile);
    if (version == 2) {
      if (auto refusal = backward_v2_refusal(op, z, target, block_n, weight_block_n)) return refusal;
      return too_big(std::max(x_gradient ? rows_v2_shared(z, warps) : 0,
                              parameters ? weights_v2_shared(z, weight_block_n) : 0));
    }
    if (weight_block_n > 128) return fmt::format("version 1 takes at most 128 columns a block, not {}", weight_block_n);
    if (weights && weights_registers(z, weight_block_n) > register_cap(32 * kWeightWarps, 1))
      return fmt::format("weight_block_n = {} with K = {} needs more registers than a thread has", weight_block_n,
                         z.k);
    if (rows && rows_registers(z) > register_cap(32 * warps, 1))
      return fmt::format("K = {} needs more registers than a thread has", z.k);
    return too_big(std::max(rows ? rows_shared(z, nk, warps, block_n) : 0,
                            weights ? weights_shared(z, weight_block_n) : 0));
  };
  return space;
}

ir::TileConfig LayerNormLinearGenerator::default_config(const LayerNormLinear& op, const ir::Direction& direction,
                                                        const Target& target) {
  const ParameterSpace candidates = space(op, direction, target);
  // On sm_90a, version 2 where it was measured faster (N >= 128; an H100, bench/notes/
  // layer_norm_linear.md): N = 640 / 128 / 1024 at M = 147456 in 0.131 / 0.037 / 0.176 ms
  // against version 1's 0.255 / 0.109 / 0.373. Two warpgroups a block (one where two do
  // not fit); 256-column slices
  // where N is a whole number of them, else 128 (no padded columns at N = 640), narrower
  // where K's fragments leave too few registers.
  if (!backward(direction) && op.out_features() >= 128) {
    const std::vector<std::int64_t> widths = op.out_features() % 256 == 0 ? std::vector<std::int64_t>{256, 128, 64}
                                                                          : std::vector<std::int64_t>{128, 64};
    for (std::int64_t width : widths)
      for (int warps : {8, 4}) {  // one warpgroup where two groups' x stages do not fit
        const ir::TileConfig v2 =
            LinearForwardConfig{.version = 2, .warps = warps, .block_n = int(width), .stages = 2, .min_blocks = 1}
                .tile();
        if (!candidates.reject(v2)) return v2;  // refused off sm_90a, for f32, for K % 16 != 0
      }
  }
  // Version 1: the largest row block that fits (x is read once, W once per block), 64
  // columns a tile.
  const int block_n = op.out_features() <= 32 ? 32 : 64;
  // The backward: version 2 on sm_90a where it takes the problem, two warpgroups a rows
  // block, 128 columns a weights block (64 for N <= 64; other widths not measured yet).
  if (backward(direction))
    for (int warps : {8, 4}) {
      const ir::TileConfig config =
          LinearBackwardConfig{
              .version = 2, .warps = warps, .block_n = 64, .weight_block_n = op.out_features() <= 64 ? 64 : 128}
              .tile();
      if (!candidates.reject(config)) return config;
    }
  for (int warps : {8, 4, 2}) {
    const ir::TileConfig config =
        backward(direction)
            ? LinearBackwardConfig{.version = 1, .warps = warps, .block_n = block_n, .weight_block_n = block_n}.tile()
            : LinearForwardConfig{.version = 1, .warps = warps, .block_n = block_n, .stages = 2, .min_blocks = 1}
                  .tile();
    if (!candidates.reject(config)) return config;
  }
  const auto valid = candidates.configs();
  if (valid.empty())
    ir::fail(ir::ErrorKind::kUnsupported,
             fmt::format("no configuration of the template generator fits K = {} in {} bytes of shared memory",
                         op.in_features(), target.max_shared_per_block));
  return valid.front();
}

std::vector<GeneratedSource> LayerNormLinearGenerator::generate(const LayerNormLinear& op,
                                                                const ir::Direction& direction,
                                                                const ir::TileConfig& config) {
  check_supported(op, direction);
  require_valid(op, direction, config);
  const Sizes z = sizes_of(op);
  std::vector<GeneratedSource> modules;
  auto add = [&](const char* role, const ir::TileConfig& params, const std::string& code, const char* entry_name) {
    modules.push_back(
        generated_module(fmt::format("layer_norm_linear_{}_{}_k{}", role, ir::name_of(op.x.dtype), op.in_features()),
                         params, code, linear_template_text(), {entry_name}));
  };
  if (!backward(direction)) {
    const auto [version, warps, block_n, stages, min_blocks] = LinearForwardConfig::from(config);
    if (version == 2) {
      modules.push_back(generated_module(
          fmt::format("layer_norm_linear_forward_v2_{}_k{}", ir::name_of(op.x.dtype), op.in_features()), config,
          config_struct("MfLinear", op, z.k, 64, block_n, warps, 2, z.chunk) +
              shared_bytes_assert("LinearV2Layout", "MfLinear", forward_v2_shared(z, warps, block_n)) +
              entry("mf_lnl_forward", "MfLinearParams", 32 * warps, "mf::layer_norm_linear_forward_v2<MfLinear>(p);",
                    min_blocks),
          linear_v2_template_text(), {"mf_lnl_forward"}));
      return modules;
    }
    // Version 1's instantiation predates the version axis: its text, and so its cached
    // binaries and golden files, do not name it.
    ir::TileConfig v1 = config;
    v1.params.erase("version");
    add("forward", v1,
        config_struct("MfLinear", op, z.k, 16 * warps, block_n, warps, stages, z.chunk) +
            shared_bytes_assert("LinearTiles", "MfLinear", forward_shared(z, weight_nk(op), warps, block_n, stages)) +
            entry("mf_lnl_forward", "MfLinearParams", 32 * warps, "mf::layer_norm_linear_forward<MfLinear>(p);",
                  min_blocks),
        "mf_lnl_forward");
    return modules;
  }
  const LinearBackwardConfig c = LinearBackwardConfig::from(config);
  if (c.version == 2) return backward_v2_modules(op, direction, c);
  if (wants_rows(direction)) {
    ir::TileConfig params;
    params.set("warps", c.warps).set("block_n", c.block_n);
    add("backward_rows", params,
        config_struct("MfRows", op, z.rows_k, 16 * c.warps, c.block_n, c.warps, 2, z.chunk) +
            shared_bytes_assert("LinearRowsTiles", "MfRows", rows_shared(z, weight_nk(op), c.warps, c.block_n)) +
            entry("mf_lnl_backward_rows", "MfLinearParams", 32 * c.warps,
                  "mf::layer_norm_linear_backward_rows<MfRows>(p);"),
        "mf_lnl_backward_rows");
  }
  if (wants_weights(direction)) {
    ir::TileConfig params;
    params.set("weight_block_n", c.weight_block_n);
    add("backward_weights", params,
        config_struct("MfWeights", op, z.k, kChunkM, c.weight_block_n, kWeightWarps, 1, z.chunk) +
            shared_bytes_assert("LinearWeightsTiles", "MfWeights", weights_shared(z, c.weight_block_n)) +
            entry("mf_lnl_backward_weights", "MfLinearParams", 32 * kWeightWarps,
                  "mf::layer_norm_linear_backward_weights<MfWeights>(p);"),
        "mf_lnl_backward_weights");
  }
  if (wants(direction, LayerNormLinear::kGradGamma | LayerNormLinear::kGradBeta | LayerNormLinear::kGradWeight |
                           LayerNormLinear::kGradBias)) {
    // kK is the rows kernel's: the row blocks' dγ/dβ sums are laid out with that stride.
    add("backward_finalize", {},
        config_struct("MfFinalize", op, z.rows_k, 16, 16, 1, 1, z.chunk) +
            entry("mf_lnl_backward_finalize", "MfLinearParams", kFinalizeThreads,
                  "mf::layer_norm_linear_backward_finalize<MfFinalize>(p);"),
        "mf_lnl_backward_finalize");
  }
  return modules;
}

LayerNormLinearLaunchPlan LayerNormLinearGenerator::launch_plan(const LayerNormLinear& op,
                                                                const ir::Direction& direction,
                                                                const ir::TileConfig& config, const Target& target) {
  space(op, direction, target).check(config);
  const Sizes z = sizes_of(op);
  const std::int64_t m = op.rows(), n = op.out_features(), k = op.in_features();
  auto blocks_of = [&](std::int64_t count) {
    if (count > INT_MAX)
      ir::fail(ir::ErrorKind::kOverflow, fmt::format("x: M = {} needs more blocks than a grid holds", m));
    return count;
  };
  LayerNormLinearLaunchPlan plan;
  if (!backward(direction)) {
    const auto [version, warps, block_n, stages, min_blocks] = LinearForwardConfig::from(config);
    if (version == 2) {
      // Persistent: min_blocks blocks a multiprocessor, shared evenly by the column slices
      // (a whole number each), never more than a slice has row blocks for.
      const std::int64_t slices = (n + block_n - 1) / block_n, groups = warps / 4;
      const std::int64_t row_blocks = (m + 63) / 64;
      const std::int64_t per_slice = std::clamp<std::int64_t>(
          std::int64_t{target.multiprocessors} * min_blocks / slices, 1, (row_blocks + groups - 1) / groups);
      plan.kernels.push_back(
          {"mf_lnl_forward", 32 * warps, 1, blocks_of(slices * per_slice), forward_v2_shared(z, warps, block_n)});
      return plan;
    }
    plan.kernels.push_back({"mf_lnl_forward", 32 * warps, 1, blocks_of((m + 16 * warps - 1) / (16 * warps)),
                            forward_shared(z, weight_nk(op), warps, block_n, stages)});
    return plan;
  }
  auto carve = [&plan](std::size_t bytes) {
    const std::size_t offset = plan.workspace_bytes;
    plan.workspace_bytes += (bytes + 255) / 256 * 256;
    return offset;
  };
  const LinearBackwardConfig c = LinearBackwardConfig::from(config);
  if (c.version == 2) {
    if (wants_x(direction)) {
      // A block per 64 rows a warpgroup.
      const int block_m = 64 * (c.warps / 4);
      plan.kernels.push_back({"mf_lnl_backward_rows", 32 * c.warps, 1, blocks_of((m + block_m - 1) / block_m),
                              rows_v2_shared(z, c.warps)});
    }
    if (wants_parameters(direction)) {
      // One wave: a block a multiprocessor, shared evenly by the column slices; groups of
      // whole 64-row chunks. The finalize: a block per row of dW, one for db.
      const int block_n = c.weight_block_n;
      const std::int64_t slices = (n + block_n - 1) / block_n, chunks = (m + kChunkM - 1) / kChunkM;
      const std::int64_t groups = std::clamp<std::int64_t>(target.multiprocessors / slices, 1, chunks);
      plan.rows_per_group = static_cast<int>((chunks + groups - 1) / groups * kChunkM);
      plan.groups = static_cast<int>((m + plan.rows_per_group - 1) / plan.rows_per_group);
      plan.kernels.push_back({"mf_lnl_backward_weights", 32 * weights_v2_warps(z), 1, blocks_of(slices * plan.groups),
                              weights_v2_shared(z, block_n)});
      plan.kernels.push_back({"mf_lnl_backward_finalize", kFinalizeV2Threads, 1, k + 1, 0});
      plan.weight_partial_bytes = static_cast<std::size_t>(plan.groups * k * n) * 4;
      plan.weight_partial_offset = carve(plan.weight_partial_bytes);
      plan.bias_partial_bytes = static_cast<std::size_t>(plan.groups * n) * 4;
      plan.bias_partial_offset = carve(plan.bias_partial_bytes);
    }
    return plan;
  }
  if (wants_rows(direction)) {
    plan.row_blocks = static_cast<int>(blocks_of((m + 16 * c.warps - 1) / (16 * c.warps)));
    plan.kernels.push_back({"mf_lnl_backward_rows", 32 * c.warps, 1, plan.row_blocks,
                            rows_shared(z, weight_nk(op), c.warps, c.block_n)});
    if (wants_norm_params(direction)) {
      plan.gamma_partial_bytes = static_cast<std::size_t>(plan.row_blocks) * 2 * z.rows_k * 4;
      plan.gamma_partial_offset = carve(plan.gamma_partial_bytes);
    }
  }
  if (wants_weights(direction)) {
    const int block_n = c.weight_block_n;
    const std::int64_t col_tiles = (n + block_n - 1) / block_n, chunks = (m + kChunkM - 1) / kChunkM;
    // Enough groups of rows to give every multiprocessor two blocks.
    const std::int64_t groups = std::clamp<std::int64_t>((2 * target.multiprocessors + col_tiles - 1) / col_tiles, 1,
                                                         chunks);
    plan.rows_per_group = static_cast<int>((chunks + groups - 1) / groups * kChunkM);
    plan.groups = static_cast<int>((m + plan.rows_per_group - 1) / plan.rows_per_group);
    plan.kernels.push_back({"mf_lnl_backward_weights", 32 * kWeightWarps, 1, blocks_of(col_tiles * plan.groups),
                            weights_shared(z, block_n)});
    plan.weight_partial_bytes = static_cast<std::size_t>(plan.groups * k * n) * 4;
    plan.weight_partial_offset = carve(plan.weight_partial_bytes);
    plan.bias_partial_bytes = static_cast<std::size_t>(plan.groups * n) * 4;
    plan.bias_partial_offset = carve(plan.bias_partial_bytes);
  }
  if (wants_norm_params(direction) || wants_weights(direction)) {
    const std::int64_t elements = (wants_weights(direction) ? k * n + n : 0) + (wants_norm_params(direction) ? 2 * k : 0);
    plan.kernels.push_back({"mf_lnl_backward_finalize", kFinalizeThreads, 1,
                            std::min<std::int64_t>((elements + kFinalizeThreads - 1) / kFinalizeThreads,
                                                   std::int64_t{target.multiprocessors} * 16),
                            0});
  }
  return plan;
}

const std::string& LayerNormLinearGenerator::source_hash() {
  static const std::string hash = cache_key(
      {kGeneratorVersion, linear_template_text(), linear_v2_template_text(), linear_backward_v2_template_text()});
  return hash;
}

}  // namespace mf::compiler
