#include "mf/compiler/evo_attention_generator.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <tuple>

#include "mf/compiler/binary_cache.h"
#include "mf/compiler/evo_attention_config.h"
#include "mf/ir/error.h"
#include "cuda_source.h"
#include "template_text.h"

namespace mf::compiler {
namespace {

using ir::EvoAttention;

// Bumped whenever the generator's output changes for the same templates.
constexpr const char* kGeneratorVersion = "evo_attention/4";

constexpr int kFinalizeThreadsX = 32, kFinalizeThreadsY = 8, kElementwiseThreads = 256;
constexpr const char* kKeysGlobalStrip = "mf_evo_backward_keys_global_strip";

int padded_head_dim(const EvoAttention& op) { return round_up(op.head_dim(), 16); }

bool wants_dbias(const EvoAttention& op, const ir::Direction& direction) {
  return op.bias.has_value() && direction.pass == ir::Pass::kBackward && direction.wants(EvoAttention::kGradBias);
}
bool deterministic(const EvoAttention& op) { return op.dbias_mode == ir::DBiasMode::kDeterministic; }
bool wants(const ir::Direction& direction, std::uint32_t gradient) {
  return direction.pass == ir::Pass::kBackward && direction.wants(gradient);
}

// dBias is summed over S on chip when the gradient has extent 1 along S.
bool dbias_summed_over_rows(const EvoAttention& op) { return op.d_bias && op.d_bias->shape[1] == 1; }

// Several rows s can share one block (and its bias tiles) only when the bias is the same
// for every s: broadcast along S, or absent.
bool bias_shared_by_rows(const EvoAttention& op) { return !op.bias || op.bias->shape[1] == 1; }

std::optional<std::string> rows_refusal(const char* name, int rows, bool shared_bias) {
  if (rows > 1 && !shared_bias)
    return fmt::format("{} = {} needs a bias shared by every row s (extent 1 along S)", name, rows);
  return std::nullopt;
}

// Rows s share a block where the bias allows it and the accumulators of two rows fit.
int pair_rows(const EvoAttention& op, int padded_head_dim, bool f32) {
  return bias_shared_by_rows(op) && op.rows() > 1 && padded_head_dim <= 32 && !f32 ? 2 : 1;
}

// ---- shared memory of each kernel (mirrors the layouts in the templates) ---------------
struct Sizes {
  int d;        // padded head dim
  int t;        // bytes of a Q/K/V element
  int bias;     // bytes of a bias element, 0 without bias
};

Sizes sizes_of(const EvoAttention& op) {
  return {padded_head_dim(op), element_bytes(op.q.dtype), op.bias ? element_bytes(op.bias->dtype) : 0};
}

// KeyStage: K, V and mask terms of each row s, one bias tile.
int key_stage_bytes(const Sizes& z, int rows, int block_q, int block_k) {
  return rows * (2 * block_k * (z.d + 8) * z.t + block_k * 4) + (z.bias ? block_q * (block_k + 8) * z.bias : 0);
}
int query_stage_bytes(const Sizes& z, int block_q, int block_k) {
  return 2 * block_q * (z.d + 8) * z.t + (z.bias ? block_q * (block_k + 8) * z.bias : 0) + 2 * block_q * 4;
}
int forward_shared(const Sizes& z, int rows, int warps, int block_k, int stages) {
  const int block_q = 16 * warps;
  return rows * block_q * (z.d + 8) * z.t + stages * key_stage_bytes(z, rows, block_q, block_k);
}
// Version 4 (ForwardV4Layout in evo_attention_forward_v4.cuh): swizzled Q, K and V tiles
// of rows padded to a swizzle width, stages on 1024-byte boundaries, 1024 bytes of slack
// to align the dynamic allocation.
constexpr int kV4Align = 1024;
int v4_layout_dim(const Sizes& z) { return z.d <= 16 ? 16 : z.d <= 32 ? 32 : 64; }
int forward_v4_shared(const Sizes& z, int rows, int warps, int block_k, int stages) {
  const int block_q = 16 * warps, row_bytes = v4_layout_dim(z) * z.t;
  const int stage = rows * (2 * block_k * row_bytes + block_k * 4) + (z.bias ? block_q * (block_k + 8) * z.bias : 0);
  return kV4Align + rows * block_q * row_bytes + stages * round_up(stage, kV4Align);
}
int forward_v4_registers(const Sizes& z, int rows, int block_k) {
  return 4 * (block_k / 8) + 2 * (block_k / 16) + rows * (4 * (v4_layout_dim(z) / 8) + 4);
}
// Why version 4 cannot run a forward on `target`, or nullopt.
std::optional<std::string> v4_refusal(const Sizes& z, const Target& target, int warps) {
  if (target.arch != "sm_90a") return fmt::format("version 4 needs sm_90a (wgmma), not {}", target.arch);
  if (z.t != 2) return std::string("version 4 takes bf16 and f16 tensors");
  if (z.d > 64) return fmt::format("version 4 takes head dims up to 64, not {}", z.d);
  if (warps % 4 != 0) return fmt::format("version 4 needs whole warpgroups: warps = 4 or 8, not {}", warps);
  return std::nullopt;
}

// The keys kernel: K and V tiles, then one region per query group (KeysGroupRegion).
int keys_shared(const Sizes& z, int key_warps, int block_q, int groups, int stages, bool ds_tile) {
  const int block_k = 16 * key_warps;
  const int pipeline = stages * query_stage_bytes(z, block_q, block_k) + (ds_tile ? block_k * (block_q + 8) * z.t : 0);
  const int partials = 2 * block_k * z.d * 4;
  return 2 * block_k * (z.d + 8) * z.t + groups * std::max(pipeline, partials);
}
int queries_shared(const Sizes& z, int rows, int query_warps, int block_k, int stages) {
  const int block_q = 16 * query_warps;
  return 2 * rows * block_q * (z.d + 8) * z.t + stages * key_stage_bytes(z, rows, block_q, block_k);
}
// The keys kernel's dBias strip: its keys × every query block's columns (kBlockQ <= 64).
int strip_bytes(const EvoAttention& op, int key_warps) {
  return 16 * key_warps * (round_up(op.seq_len(), 64) + 8) * 4;
}

// Registers the accumulators and fragments of one thread hold, as 32-bit words: a guard
// against configurations that can only spill.
int pair_words(const Sizes& z) { return z.t == 4 ? 2 : 1; }
// Accumulators, the bias fragments shared by the rows s, and the operand fragments in
// flight. The forward's output has one more tile: the row sums.
int forward_registers(const Sizes& z, int rows, int block_k) {
  return 4 * (block_k / 8) * (z.bias ? 2 : 1) + rows * 4 * (z.d / 8 + 1) + 4 * pair_words(z);
}
int keys_registers(const Sizes& z, int block_q) { return 2 * 4 * (block_q / 8) + 2 * 4 * (z.d / 8); }
int queries_registers(const Sizes& z, int rows, int block_k) {
  return 4 * (block_k / 8) * (z.bias ? 3 : 2) + rows * 4 * (z.d / 8) + 2 * 4 * pair_words(z);
}
// Budgets from the ptxas reports: past them the default tiles spill.
constexpr int kForwardRegisterBudget = 128;
constexpr int kRegisterBudget = 160;

constexpr int kRegisterOverhead = 32;  // addresses, indices, loop state

bool fast_dq(const EvoAttention& op, const ir::Direction& direction) {
  return !deterministic(op) && wants(direction, EvoAttention::kGradQ);
}
// Whether the keys kernel's shared memory holds a dSᵀ tile: in fast mode, whether or not dQ is
// wanted, since the kernel lays out its regions by its mode (KeysGroupRegion::kDsBytes).
bool keys_ds_tile(const EvoAttention& op) { return !deterministic(op); }
bool needs_keys_kernel(const EvoAttention& op, const ir::Direction& direction) {
  return wants(direction, EvoAttention::kGradK) || wants(direction, EvoAttention::kGradV) ||
         wants_dbias(op, direction) || fast_dq(op, direction);
}
bool needs_queries_kernel(const EvoAttention& op, const ir::Direction& direction) {
  return deterministic(op) && wants(direction, EvoAttention::kGradQ);
}

// ---- source ------------------------------------------------------------------------
std::string config_struct(const char* name, const EvoAttention& op, const ir::Direction& direction, int block_q,
                          int block_k, int warps, int stages, int groups = 1, int rows_per_block = 1) {
  const int mask_kind = op.mask_kind == ir::MaskKind::kNone ? 0 : op.mask_kind == ir::MaskKind::kBoolean ? 1 : 2;
  const char* mask_type = op.mask ? element_type(op.mask->dtype) : "mf::u8";
  const char* bias_type = op.bias ? element_type(op.bias->dtype) : element_type(op.q.dtype);
  return fmt::format(
      "struct {} {{\n"
      "  using T = {};\n  using BiasT = {};\n  using MaskT = {};\n"
      "  static constexpr int kHeadDim = {}, kBlockQ = {}, kBlockK = {}, kWarps = {}, kStages = {}, kGroups = {};\n"
      "  static constexpr int kRowsPerBlock = {}, kMaskKind = {};\n"
      "  static constexpr bool kHasBias = {}, kWantDBias = {}, kDeterministic = {};\n}};\n",
      name, element_type(op.q.dtype), bias_type, mask_type, padded_head_dim(op), block_q, block_k, warps, stages,
      groups, rows_per_block, mask_kind, op.bias ? "true" : "false", wants_dbias(op, direction) ? "true" : "false",
      deterministic(op) ? "true" : "false");
}


const std::string& evo_template_text() {
  static const std::string text =
      template_text({"cuda/evo_attention_params.h", "cuda/vendor.cuh", "cuda/tile.cuh", "cuda/evo_attention_common.cuh",
                     "cuda/evo_attention_forward.cuh", "cuda/evo_attention_backward.cuh"});
  return text;
}

// Version 4's forward adds Hopper's warpgroup products; its modules alone carry them.
const std::string& evo_v4_template_text() {
  static const std::string text =
      template_text({"cuda/evo_attention_params.h", "cuda/vendor.cuh", "cuda/tile.cuh", "cuda/wgmma.cuh",
                     "cuda/wgmma_products.cuh", "cuda/evo_attention_common.cuh", "cuda/evo_attention_forward.cuh",
                     "cuda/evo_attention_forward_v4.cuh"});
  return text;
}

void require_valid(const EvoAttention& op, const ir::Direction& direction, const ir::TileConfig& config) {
  // The space's constraints need a target only for shared memory (checked at launch) and
  // for version 4 (sm_90a: the most permissive target).
  Target unlimited{"sm_90a", 1, INT_MAX};
  EvoAttentionGenerator::space(op, direction, unlimited).check(config);
}

}  // namespace

void EvoAttentionGenerator::check_supported(const EvoAttention& op, const ir::Direction& direction) {
  if (op.head_dim() > 128)
    ir::fail(ir::ErrorKind::kUnsupported,
             fmt::format("q: head dim {} is past the template generator's limit of 128", op.head_dim()));
  element_type(op.q.dtype);
  if (wants_dbias(op, direction)) {
    const auto& shape = op.d_bias->shape;
    if (shape[3] != op.seq_len() || shape[4] != op.seq_len())
      ir::fail(ir::ErrorKind::kUnsupported,
               "d_bias: the cuda kernels reduce dBias over B, S and H only; a bias broadcast along queries or "
               "keys needs the cpu backend");
  }
}

ParameterSpace EvoAttentionGenerator::space(const EvoAttention& op, const ir::Direction& direction,
                                            const Target& target) {
  const Sizes z = sizes_of(op);
  const bool shared_bias = bias_shared_by_rows(op);
  ParameterSpace space;
  if (direction.pass == ir::Pass::kForward) {
    // version: 3 = mma.sync kernels (every target), 4 = wgmma kernels (sm_90a).
    const std::vector<std::int64_t> versions = target.arch == "sm_90a" ? std::vector<std::int64_t>{3, 4}
                                                                        : std::vector<std::int64_t>{3};
    space.axes = {{"warps", {2, 4, 8}},
                  {"block_k", {32, 64, 128}},
                  {"stages", {2, 3}},
                  {"occupancy", {4, 8, 12, 16, 24}},
                  {"rows_per_block", {1, 2}},
                  {"version", versions}};
    space.reject = [z, target, shared_bias](const ir::TileConfig& tile) -> std::optional<std::string> {
      const auto [version, warps, block_k, stages, occupancy, rows] = EvoForwardConfig::from(tile);
      if (auto refusal = rows_refusal("rows_per_block", rows, shared_bias)) return refusal;
      const bool v4 = version == 4;
      if (v4)
        if (auto refusal = v4_refusal(z, target, warps)) return refusal;
      const int registers = v4 ? forward_v4_registers(z, rows, block_k) : forward_registers(z, rows, block_k);
      if (registers > kForwardRegisterBudget)
        return fmt::format("block_k = {} with head dim {} and {} rows a block needs more registers than a thread has",
                           block_k, z.d, rows);
      if (occupancy % warps != 0)
        return fmt::format("occupancy = {} is not a whole number of blocks of {} warps", occupancy, warps);
      if (const int cap = register_cap(32 * warps, occupancy / warps); registers + kRegisterOverhead > cap)
        return fmt::format("occupancy = {} leaves {} registers a thread, too few for block_k = {} and {} rows a block",
                           occupancy, cap, block_k, rows);
      const int bytes = v4 ? forward_v4_shared(z, rows, warps, block_k, stages)
                           : forward_shared(z, rows, warps, block_k, stages);
      if (bytes > target.max_shared_per_block)
        return fmt::format("needs {} bytes of shared memory, the device allows {}", bytes,
                           target.max_shared_per_block);
      return std::nullopt;
    };
    return space;
  }
  const bool ds_tile = keys_ds_tile(op);
  // AMD GPUs have one barrier per workgroup, and query groups need one each.
  const std::vector<std::int64_t> group_counts =
      target.amd() ? std::vector<std::int64_t>{1} : std::vector<std::int64_t>{1, 2, 4};
  space.axes = {{"key_warps", {2, 4}},
                {"key_block_q", {16, 32, 64}},
                {"key_groups", group_counts},
                {"query_warps", {2, 4, 8}},
                {"query_block_k", {16, 32, 64}},
                {"query_occupancy", {4, 8, 12, 16, 24}},
                {"query_rows_per_block", {1, 2}},
                {"stages", {2, 3}}};
  space.reject = [z, target, ds_tile, shared_bias](const ir::TileConfig& tile) -> std::optional<std::string> {
    const auto [key_warps, key_block_q, key_groups, query_warps, query_block_k, query_occupancy, query_rows, stages] =
        EvoBackwardConfig::from(tile);
    if (auto refusal = rows_refusal("query_rows_per_block", query_rows, shared_bias)) return refusal;
    if (key_warps * key_groups > 8)
      return fmt::format("key_warps = {} in {} groups is more than the 8 warps a keys block may have", key_warps,
                         key_groups);
    if (query_occupancy % query_warps != 0)
      return fmt::format("query_occupancy = {} is not a whole number of blocks of {} warps", query_occupancy,
                         query_warps);
    if (const int cap = register_cap(32 * query_warps, query_occupancy / query_warps);
        queries_registers(z, query_rows, query_block_k) + kRegisterOverhead > cap)
      return fmt::format(
          "query_occupancy = {} leaves {} registers a thread, too few for query_block_k = {} and {} rows a block",
          query_occupancy, cap, query_block_k, query_rows);
    if (keys_registers(z, key_block_q) > kRegisterBudget)
      return fmt::format("key_block_q = {} with head dim {} needs more registers than a thread has", key_block_q,
                         z.d);
    if (queries_registers(z, query_rows, query_block_k) > kRegisterBudget)
      return fmt::format("query_block_k = {} with head dim {} and {} rows a block needs more registers than a thread has",
                         query_block_k, z.d, query_rows);
    const int bytes = std::max(keys_shared(z, key_warps, key_block_q, key_groups, stages, ds_tile),
                               queries_shared(z, query_rows, query_warps, query_block_k, stages));
    if (bytes > target.max_shared_per_block)
      return fmt::format("needs {} bytes of shared memory, the device allows {}", bytes, target.max_shared_per_block);
    return std::nullopt;
  };
  return space;
}

ir::TileConfig EvoAttentionGenerator::default_config(const EvoAttention& op, const ir::Direction& direction,
                                                     const Target& target) {
  // Tiles as large as fit the registers without spilling (checked by the compile tests);
  // float operands take twice the fragment registers and three products each.
  const int d = padded_head_dim(op);
  const bool f32 = op.q.dtype == ir::DType::kF32;
  const ParameterSpace candidates = space(op, direction, target);
  ir::TileConfig config;
  const int rows = pair_rows(op, d, f32);
  if (direction.pass == ir::Pass::kForward) {
    // At D <= 32: 8 warps (128 query rows: K and V read from L2 once per 128 rows) and 16
    // warps a multiprocessor; two rows s a block (the bias read once per two rows) leave
    // registers for 32-key blocks. Wider heads need the registers one block a multiprocessor leaves.
    const bool narrow = d <= 32 && !f32;
    const EvoForwardConfig v3{.version = 3,
                              .warps = narrow ? 8 : 4,
                              .block_k = rows == 2 ? 32 : d <= 64 && !f32 ? 64 : 32,
                              .stages = 2,
                              .occupancy = narrow ? 16 : 4,
                              .rows_per_block = rows};
    config = v3.tile();
    // On sm_90a, version 4 (wgmma) where it was measured faster: two rows s a block (bias
    // shared along S, D <= 32, bf16/f16), 64-key blocks, 16 warps a multiprocessor —
    // triangle N = 384 / 1024 on an H100: 0.228 / 3.58 ms against version 3's 0.262 / 4.19
    // (bench/notes/evo_attention.md). Elsewhere version 3 until a tuner run says otherwise.
    EvoForwardConfig v4 = v3;
    v4.block_k = 64;
    v4.version = 4;
    if (rows == 2 && narrow && !v4_refusal(sizes_of(op), target, 8) && !candidates.reject(v4.tile()))
      config = v4.tile();
  } else {
    const int key_block_q = f32 || d > 64 ? 16 : d <= 32 ? 64 : 32;
    EvoBackwardConfig backward{.key_warps = 4,
                               .key_block_q = key_block_q,
                               .key_groups = 1,
                               .query_warps = rows == 2 ? 8 : 4,
                               .query_block_k = rows == 2 ? 32 : d <= 64 && !f32 ? 64 : 32,
                               .query_occupancy = rows == 2 ? 16 : 4,
                               .query_rows_per_block = rows,
                               .stages = 2};
    // The keys kernel holds the dBias strip of its keys on chip where it fits, and as many
    // warps as possible beside it: two query groups of 4 key warps, else of 2 key warps.
    // Past D = 64 the dK and dV accumulators fill a thread's registers: one group.
    // AMD targets keep one query group (see space()).
    const bool grouped = !target.amd();
    if (grouped && d <= 64 && wants_dbias(op, direction)) {
      const Sizes z = sizes_of(op);
      const bool ds_tile = keys_ds_tile(op);
      for (const auto& [key_warps, groups, block_q] :
           {std::tuple{4, 2, key_block_q}, std::tuple{4, 2, std::min(key_block_q, 32)}, std::tuple{2, 4, key_block_q},
            std::tuple{2, 4, std::min(key_block_q, 32)}, std::tuple{2, 2, std::min(key_block_q, 32)}}) {
        if (keys_shared(z, key_warps, block_q, groups, 2, ds_tile) + strip_bytes(op, key_warps) <=
            target.max_shared_per_block) {
          backward.key_warps = key_warps;
          backward.key_groups = groups;
          backward.key_block_q = block_q;
          break;
        }
      }
    } else if (grouped && d <= 64) {
      backward.key_groups = 2;
    }
    config = backward.tile();
  }
  if (!candidates.reject || !candidates.reject(config)) return config;
  const auto valid = candidates.configs();
  if (valid.empty())
    ir::fail(ir::ErrorKind::kUnsupported,
             fmt::format("no configuration of the template generator fits the device ({} bytes of shared memory)",
                         target.max_shared_per_block));
  return valid.front();
}

std::vector<GeneratedSource> EvoAttentionGenerator::generate(const EvoAttention& op, const ir::Direction& direction,
                                                             const ir::TileConfig& config) {
  check_supported(op, direction);
  require_valid(op, direction, config);
  const std::string problem = fmt::format("{}_d{}", ir::name_of(op.q.dtype), op.head_dim());
  std::vector<GeneratedSource> modules;
  // A module's instantiation holds only the parameters of its own kernels, so that
  // configurations which share a kernel share its source, and so its cached binary.
  auto add = [&](const char* role, const ir::TileConfig& params, std::string code, std::vector<std::string> entries,
                 const std::string& templates = evo_template_text()) {
    modules.push_back(
        generated_module(fmt::format("evo_attention_{}_{}", role, problem), params, code, templates, std::move(entries)));
  };
  if (direction.pass == ir::Pass::kForward) {
    const auto [version, warps, block_k, stages, occupancy, rows] = EvoForwardConfig::from(config);
    const int min_blocks = occupancy / warps;
    const std::string forward_struct =
        config_struct("MfForward", op, direction, 16 * warps, block_k, warps, stages, 1, rows);
    if (version == 4) {
      add("forward_v4", config,
          forward_struct +
              shared_bytes_assert("ForwardV4Layout", "MfForward", forward_v4_shared(sizes_of(op), rows, warps, block_k, stages)) +
              entry("mf_evo_forward", "MfEvoParams", 32 * warps, "mf::evo_attention_forward_v4<MfForward>(p);",
                    min_blocks),
          {"mf_evo_forward"}, evo_v4_template_text());
      return modules;
    }
    // Version 3's instantiation predates the version axis: its text, and so its cached
    // binaries and golden files, do not name it.
    ir::TileConfig v3 = config;
    v3.params.erase("version");
    add("forward", v3,
        forward_struct +
            shared_bytes_assert("ForwardLayout", "MfForward", forward_shared(sizes_of(op), rows, warps, block_k, stages)) +
            entry("mf_evo_forward", "MfEvoParams", 32 * warps, "mf::evo_attention_forward<MfForward>(p);", min_blocks),
        {"mf_evo_forward"});
    return modules;
  }
  const EvoBackwardConfig c = EvoBackwardConfig::from(config);
  const int stages = c.stages;
  // Δ, the dBias finalize and the fast-mode dQ conversion read no tile parameter.
  std::string rows = config_struct("MfRows", op, direction, 16, 16, 1, 1) +
                     entry("mf_evo_row_delta", "MfEvoParams", kElementwiseThreads, "mf::evo_attention_row_delta<MfRows>(p);");
  std::vector<std::string> row_entries{"mf_evo_row_delta"};
  if (wants_dbias(op, direction)) {
    rows += entry("mf_evo_dbias_finalize", "MfEvoParams", kFinalizeThreadsX * kFinalizeThreadsY,
                  "mf::evo_attention_dbias_finalize<MfRows>(p);");
    row_entries.push_back("mf_evo_dbias_finalize");
  }
  if (fast_dq(op, direction)) {
    rows += entry("mf_evo_dq_convert", "MfEvoParams", kElementwiseThreads, "mf::evo_attention_dq_convert<MfRows>(p);");
    row_entries.push_back("mf_evo_dq_convert");
  }
  add("backward_rows", {}, std::move(rows), std::move(row_entries));
  if (needs_keys_kernel(op, direction)) {
    const int key_warps = c.key_warps, key_groups = c.key_groups;
    const int threads = 32 * key_warps * key_groups;
    std::string keys = config_struct("MfKeys", op, direction, c.key_block_q, 16 * key_warps,
                                     key_warps * key_groups, stages, key_groups) +
                       shared_bytes_assert("KeysLayout", "MfKeys",
                                           keys_shared(sizes_of(op), key_warps, c.key_block_q, key_groups, stages,
                                                       keys_ds_tile(op))) +
                       entry("mf_evo_backward_keys", "MfEvoParams", threads, "mf::evo_attention_backward_keys<MfKeys>(p);");
    std::vector<std::string> key_entries{"mf_evo_backward_keys"};
    if (wants_dbias(op, direction)) {
      // Sequences whose dBias strip does not fit in shared memory add into global memory.
      keys += entry(kKeysGlobalStrip, "MfEvoParams", threads, "mf::evo_attention_backward_keys<MfKeys, false>(p);");
      key_entries.push_back(kKeysGlobalStrip);
    }
    ir::TileConfig params;
    params.set("key_block_q", c.key_block_q).set("key_groups", key_groups).set("key_warps", key_warps);
    params.set("stages", stages);
    add("backward_keys", params, std::move(keys), std::move(key_entries));
  }
  if (needs_queries_kernel(op, direction)) {
    const int query_warps = c.query_warps;
    ir::TileConfig params;
    params.set("query_block_k", c.query_block_k).set("query_occupancy", c.query_occupancy);
    params.set("query_rows_per_block", c.query_rows_per_block).set("query_warps", query_warps).set("stages", stages);
    add("backward_queries", params,
        config_struct("MfQueries", op, direction, 16 * query_warps, c.query_block_k, query_warps, stages, 1,
                      c.query_rows_per_block) +
            shared_bytes_assert("QueriesLayout", "MfQueries",
                                queries_shared(sizes_of(op), c.query_rows_per_block, query_warps, c.query_block_k,
                                               stages)) +
            entry("mf_evo_backward_queries", "MfEvoParams", 32 * query_warps, "mf::evo_attention_backward_queries<MfQueries>(p);",
                  c.query_occupancy / query_warps),
        {"mf_evo_backward_queries"});
  }
  return modules;
}

EvoAttentionLaunchPlan EvoAttentionGenerator::launch_plan(const EvoAttention& op, const ir::Direction& direction,
                                                          const ir::TileConfig& config, const Target& target) {
  check_supported(op, direction);
  space(op, direction, target).check(config);
  const Sizes z = sizes_of(op);
  const std::int64_t b = op.batch(), s = op.rows(), n = op.seq_len(), h = op.heads();
  auto blocks_of = [](std::int64_t count, const char* kernel) {
    if (count > INT_MAX)
      ir::fail(ir::ErrorKind::kOverflow, fmt::format("the problem needs {} blocks of {}, past the grid limit", count,
                                                     kernel));
    return count;
  };
  EvoAttentionLaunchPlan plan;
  if (direction.pass == ir::Pass::kForward) {
    const auto [version, warps, block_k, stages, occupancy, rows] = EvoForwardConfig::from(config);
    plan.kernels.push_back({"mf_evo_forward", 32 * warps, 1,
                            blocks_of(b * ((s + rows - 1) / rows) * h * ((n + 16 * warps - 1) / (16 * warps)),
                                      "the forward"),
                            version == 4 ? forward_v4_shared(z, rows, warps, block_k, stages)
                                         : forward_shared(z, rows, warps, block_k, stages)});
    return plan;
  }
  const EvoBackwardConfig c = EvoBackwardConfig::from(config);
  const int stages = c.stages;

  // Workspace: Δ, then the fast-mode dQ accumulator, then the dBias partial sums.
  auto carve = [&plan](std::size_t bytes) {
    const std::size_t offset = plan.workspace_bytes;
    plan.workspace_bytes += (bytes + 255) / 256 * 256;
    return offset;
  };
  const std::int64_t rows = b * s * h * n;
  plan.delta_offset = carve(static_cast<std::size_t>(rows) * 4);
  plan.kernels.push_back(
      {"mf_evo_row_delta", kElementwiseThreads, 1, blocks_of((rows * 8 + kElementwiseThreads - 1) / kElementwiseThreads, "Δ"), 0});

  const int key_warps = c.key_warps, key_block_q = c.key_block_q;
  const int block_k = 16 * key_warps;
  const std::int64_t key_blocks = (n + block_k - 1) / block_k;
  const bool dbias = wants_dbias(op, direction);
  if (dbias && dbias_summed_over_rows(op)) {
    // Enough groups of rows to give every multiprocessor two blocks.
    const std::int64_t others = b * h * key_blocks;
    const std::int64_t groups = std::clamp<std::int64_t>((2 * target.multiprocessors + others - 1) / others, 1, s);
    plan.rows_per_group = static_cast<int>((s + groups - 1) / groups);
  }
  plan.groups = static_cast<int>((s + plan.rows_per_group - 1) / plan.rows_per_group);
  plan.partial_slots = !deterministic(op) && dbias_summed_over_rows(op) ? 1 : plan.groups;
  if (fast_dq(op, direction)) {
    plan.dq_accum_bytes = static_cast<std::size_t>(rows) * z.d * 4;
    plan.dq_accum_offset = carve(plan.dq_accum_bytes);
    plan.zero_dq_accum = true;
  }
  if (needs_keys_kernel(op, direction)) {
    const int key_groups = c.key_groups;
    const int shared = keys_shared(z, key_warps, key_block_q, key_groups, stages, keys_ds_tile(op));
    plan.dbias_in_shared = dbias && shared + strip_bytes(op, key_warps) <= target.max_shared_per_block;
    plan.kernels.push_back({plan.dbias_in_shared || !dbias ? "mf_evo_backward_keys" : kKeysGlobalStrip,
                            32 * key_warps * key_groups, 1,
                            blocks_of(b * h * key_blocks * plan.groups, "the backward"),
                            shared + (plan.dbias_in_shared ? strip_bytes(op, key_warps) : 0)});
  }
  if (dbias) {
    plan.dbias_partial_bytes = static_cast<std::size_t>(plan.partial_slots * b * h * n * n) * 4;
    plan.dbias_partial_offset = carve(plan.dbias_partial_bytes);
    plan.zero_dbias_partial = !deterministic(op);
  }
  if (needs_queries_kernel(op, direction)) {
    const int query_warps = c.query_warps, query_rows = c.query_rows_per_block;
    plan.kernels.push_back(
        {"mf_evo_backward_queries", 32 * query_warps, 1,
         blocks_of(b * ((s + query_rows - 1) / query_rows) * h * ((n + 16 * query_warps - 1) / (16 * query_warps)),
                   "dQ"),
         queries_shared(z, query_rows, query_warps, c.query_block_k, stages)});
  }
  if (dbias) {
    const auto& shape = op.d_bias->shape;
    const std::int64_t tiles = (n + 31) / 32;
    plan.kernels.push_back({"mf_evo_dbias_finalize", kFinalizeThreadsX, kFinalizeThreadsY,
                            blocks_of(tiles * tiles * shape[0] * shape[1] * shape[2], "dBias"), 0});
  }
  if (fast_dq(op, direction)) {
    const std::int64_t elements = rows * op.head_dim();
    plan.kernels.push_back({"mf_evo_dq_convert", kElementwiseThreads, 1,
                            std::min<std::int64_t>((elements + kElementwiseThreads - 1) / kElementwiseThreads,
                                                   std::int64_t{target.multiprocessors} * 16),
                            0});
  }
  return plan;
}

const std::string& EvoAttentionGenerator::source_hash() {
  static const std::string hash = cache_key({kGeneratorVersion, evo_template_text(), evo_v4_template_text()});
  return hash;
}

}  // namespace mf::compiler
