// The template generator for the SwiGLU Transition: IR + TileConfig + target → CUDA C++
// for NVRTC, its parameter space, and the launch geometry of the kernels it writes.
//
// Its parameters are TransitionForwardConfig's and TransitionBackwardConfig's fields
// (transition_config.h): the forward's warps, block_f, block_d, stages and occupancy; the
// backward's warps, block_f and occupancy of the rows kernel (dx, dγ, dβ) and weight_warps
// and weight_block_f of the weights kernel (dW1, dW2). D is a compile-time constant of a
// module (padded); M and F are run-time values.
#pragma once

#include <cstddef>
#include <vector>

#include "mf/compiler/generated_source.h"
#include "mf/compiler/kernel_launch.h"
#include "mf/compiler/parameter_space.h"
#include "mf/compiler/target.h"
#include "mf/ir/direction.h"
#include "mf/ir/tile_config.h"
#include "mf/ir/transition.h"

namespace mf::compiler {

struct TransitionLaunchPlan {
  std::vector<KernelLaunch> kernels;  // in launch order
  // Blocks over M: the forward's grid is row_blocks × column blocks; the backward's rows
  // kernel has one block a row block.
  int row_blocks = 0;
  // Backward workspace (bytes): the rows kernel's dγ/dβ sums per row block, the weights
  // kernel's dW1 and dW2 sums per group of rows; 0 where the gradients are not wanted.
  std::size_t workspace_bytes = 0;
  std::size_t gamma_partial_offset = 0, gamma_partial_bytes = 0;
  std::size_t w1_partial_offset = 0, w1_partial_bytes = 0;
  std::size_t w2_partial_offset = 0, w2_partial_bytes = 0;
  int groups = 0, rows_per_group = 0;
};

class TransitionGenerator {
 public:
  static constexpr const char* kName = "template";

  // Throws ir::Error(kUnsupported) naming the reason when the generator cannot serve the
  // problem (f64, D past the generator's limit).
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
