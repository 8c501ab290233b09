// The template generator for LayerNormLinear: IR + TileConfig + target → CUDA C++ for
// NVRTC, its parameter space, and the launch geometry of the kernels it writes.
//
// Its parameters are LinearForwardConfig's and LinearBackwardConfig's fields
// (layer_norm_linear_config.h): the forward's version, warps, block_n, stages and
// min_blocks; the backward's version, warps and block_n of the rows kernel (dx, and dγ, dβ
// in version 1) and weight_block_n of the weights kernel (dW, db). K is a compile-time
// constant of a module (padded); M and N are run-time values.
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
