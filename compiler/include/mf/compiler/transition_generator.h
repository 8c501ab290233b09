// The template generator for the SwiGLU Transition: IR + TileConfig + target → CUDA C++
// for NVRTC, its parameter space, and the launch geometry of the kernels it writes.
//
// Forward parameters: warps (16 rows each), block_f (hidden columns a chunk: a and g each),
// block_d (columns of y a block computes), stages (weight chunks in flight, 1 or 2),
// occupancy (warps per multiprocessor the register cap leaves room for, in whole blocks).
// D is a compile-time constant of a module (padded), F too; M is a run-time value.
// The backward has no cuda kernels yet: check_supported says so (kUnsupported).
#pragma once

#include <vector>

#include "mf/compiler/evo_attention_generator.h"  // GeneratedSource, KernelLaunch
#include "mf/compiler/parameter_space.h"
#include "mf/compiler/target.h"
#include "mf/ir/direction.h"
#include "mf/ir/tile_config.h"
#include "mf/ir/transition.h"

namespace mf::compiler {

struct TransitionLaunchPlan {
  std::vector<KernelLaunch> kernels;  // in launch order
  int row_blocks = 0;                 // blocks over M; the grid is row_blocks × column blocks
};

class TransitionGenerator {
 public:
  static constexpr const char* kName = "template";

  // Throws ir::Error(kUnsupported) naming the reason when the generator cannot serve the
  // problem (f64, D past what one block's shared memory holds, the backward).
  static void check_supported(const ir::Transition& op, const ir::Direction& direction);

  static ParameterSpace space(const ir::Transition& op, const ir::Direction& direction, const Target& target);
  static ir::TileConfig default_config(const ir::Transition& op, const ir::Direction& direction,
                                       const Target& target);
  static std::vector<GeneratedSource> generate(const ir::Transition& op, const ir::Direction& direction,
                                               const ir::TileConfig& config);
  static TransitionLaunchPlan launch_plan(const ir::Transition& op, const ir::Direction& direction,
                                          const ir::TileConfig& config, const Target& target);
  static const std::string& source_hash();
};

}  // namespace mf::compiler
