// The template generator for EvoAttention: IR + TileConfig + target → CUDA C++ for NVRTC,
// its parameter space, and the launch geometry and workspace of the kernels it writes.
//
// Its parameters are EvoForwardConfig's and EvoBackwardConfig's fields
// (evo_attention_config.h). occupancy: the warps per multiprocessor the register cap leaves
// room for (whole blocks: the __launch_bounds__ minimum is occupancy / warps), so that block
// size and occupancy tune independently; rows_per_block: rows s sharing a block and its
// bias tiles.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mf/compiler/generated_source.h"
#include "mf/compiler/kernel_launch.h"
#include "mf/compiler/parameter_space.h"
#include "mf/compiler/target.h"
#include "mf/ir/direction.h"
#include "mf/ir/evo_attention.h"
#include "mf/ir/tile_config.h"

namespace mf::compiler {

// What a plan needs to launch the backward besides the caller's pointers: the order of
// launches, the workspace carve-up (offsets in bytes) and how S is split.
struct EvoAttentionLaunchPlan {
  std::vector<KernelLaunch> kernels;  // in launch order
  std::size_t workspace_bytes = 0;
  std::size_t delta_offset = 0, dq_accum_offset = 0, dq_accum_bytes = 0;
  std::size_t dbias_partial_offset = 0, dbias_partial_bytes = 0;
  bool zero_dq_accum = false, zero_dbias_partial = false;  // fast mode accumulates into them
  int rows_per_group = 1, groups = 1, partial_slots = 1;
  bool dbias_in_shared = false;  // the keys kernel keeps its dBias strip on chip (else: the global-strip entry)
};

class EvoAttentionGenerator {
 public:
  static constexpr const char* kName = "template";

  // Throws ir::Error(kUnsupported) naming the reason when the generator cannot serve the
  // problem (head dim past 128, a dBias the kernels cannot reduce).
  static void check_supported(const ir::EvoAttention& op, const ir::Direction& direction);

  static ParameterSpace space(const ir::EvoAttention& op, const ir::Direction& direction, const Target& target);
  static ir::TileConfig default_config(const ir::EvoAttention& op, const ir::Direction& direction,
                                       const Target& target);
  // The modules of a plan: the forward's one; the backward's row kernels (Δ, dBias
  // finalize, dQ convert: no tile parameter), keys kernel and queries kernel apart, each
  // holding only its own parameters, so that the configurations of a search share the
  // binaries of the kernels they have in common (triangle D = 32: 1350 backward
  // configurations, 121 modules).
  static std::vector<GeneratedSource> generate(const ir::EvoAttention& op, const ir::Direction& direction,
                                               const ir::TileConfig& config);
  static EvoAttentionLaunchPlan launch_plan(const ir::EvoAttention& op, const ir::Direction& direction,
                                            const ir::TileConfig& config, const Target& target);
  // Identifies the generator's output for the binary cache and the tuning database: a
  // hash of the templates and of the generator's version.
  static const std::string& source_hash();
};

}  // namespace mf::compiler
