// LayerNormLinear's tile configurations as typed structs, so that the generator reads
// fields instead of string keys. Each converts from and to the ir::TileConfig that plans,
// the tuner and the tuning database carry, under the same names, so configurations stored
// before these structs keep their meaning.
#pragma once

#include "mf/ir/tile_config.h"

namespace mf::compiler {

// The forward (templates/cuda/layer_norm_linear_forward*.cuh).
struct LinearForwardConfig {
  int version;     // 1: mma.sync, every target; 2: persistent wgmma blocks, sm_90a
  int warps;       // version 1: 16 rows each; version 2: 4 or 8, a warpgroup per 64 rows
  int block_n;     // columns of y a tile; version 2: the slice of W a block keeps resident
  int stages;      // version 1: W tiles in flight (1 or 2); version 2: x stages (2)
  int min_blocks;  // __launch_bounds__' blocks a multiprocessor; version 2: persistent blocks a multiprocessor

  // Throws ir::Error(kInvalidArgument) naming a missing key or a value past int.
  static LinearForwardConfig from(const ir::TileConfig& config);
  ir::TileConfig tile() const;
};

// The backward (templates/cuda/layer_norm_linear_backward*.cuh).
struct LinearBackwardConfig {
  int version;         // 1: mma.sync, every target; 2: wgmma, sm_90a
  int warps;           // the rows kernel's warps (version 2: a warpgroup per 64 rows)
  int block_n;         // the rows kernel's columns of dy a step (version 2: 64)
  int weight_block_n;  // the weights kernel's columns of dW a block

  static LinearBackwardConfig from(const ir::TileConfig& config);
  ir::TileConfig tile() const;
};

}  // namespace mf::compiler
