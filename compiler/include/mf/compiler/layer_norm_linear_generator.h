// The template generator for LayerNormLinear: IR + TileConfig + target → CUDA C++ for
// NVRTC, its parameter space, and the launch geometry of the kernels it writes.
//
// Forward parameters: version (1 = mma.sync, every target; 2 = persistent wgmma blocks that
// keep a slice of W resident, sm_90a with 16-bit tensors and K a multiple of 16), warps
// (version 1: 16 rows each; version 2: 4 or 8, one or two warpgroups of 64 rows), block_n
// (columns of y per tile; version 2: the resident slice, up to 256), stages (weight tiles
// in flight, 1 or 2; version 2 double-buffers x: 2), min_blocks (the __launch_bounds__
// minimum of blocks per SM; version 2: the persistent blocks per SM).
// Backward: warps and block_n of the rows kernel (dx, dγ, dβ), weight_block_n of the
// weights kernel (dW, db). K is a compile-time constant of a module (padded); M and N are
// run-time values.
#pragma once

#include <cstddef>
#include <vector>

#include "mf/compiler/generated_source.h"
#include "mf/compiler/kernel_launch.h"
#include "mf/compiler/parameter_space.h"
#include "mf/compiler/target.h"
#include "mf/ir/direction.h"
#include "mf/ir/layer_norm_linear.h"
#include "mf/ir/tile_config.h"

namespace mf::compiler {

struct LayerNormLinearLaunchPlan {
  std::vector<KernelLaunch> kernels;  // in launch order
  // Backward workspace (bytes): the rows kernel's dγ/dβ sums per row block, the weights
  // kernel's dW and db sums per group of rows; 0 where the gradients are not wanted.
  std::size_t workspace_bytes = 0;
  std::size_t gamma_partial_offset = 0, gamma_partial_bytes = 0;
  std::size_t weight_partial_offset = 0, weight_partial_bytes = 0;
  std::size_t bias_partial_offset = 0, bias_partial_bytes = 0;
  int row_blocks = 0, groups = 0, rows_per_group = 0;
};

class LayerNormLinearGenerator {
 public:
  static constexpr const char* kName = "template";

  // Throws ir::Error(kUnsupported) naming the reason when the generator cannot serve the
  // problem (f64, K past what one block's shared memory holds).
  static void check_supported(const ir::LayerNormLinear& op, const ir::Direction& direction);

  static ParameterSpace space(const ir::LayerNormLinear& op, const ir::Direction& direction, const Target& target);
  static ir::TileConfig default_config(const ir::LayerNormLinear& op, const ir::Direction& direction,
                                       const Target& target);
  static std::vector<GeneratedSource> generate(const ir::LayerNormLinear& op, const ir::Direction& direction,
                                               const ir::TileConfig& config);
  static LayerNormLinearLaunchPlan launch_plan(const ir::LayerNormLinear& op, const ir::Direction& direction,
                                               const ir::TileConfig& config, const Target& target);
  static const std::string& source_hash();
};

}  // namespace mf::compiler
