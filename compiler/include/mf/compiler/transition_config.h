// The SwiGLU Transition's tile configurations as typed structs, so that the generator reads
// fields instead of string keys. Each converts from and to the ir::TileConfig that plans,
// the tuner and the tuning database carry, under the same names, so configurations stored
// before these structs keep their meaning.
#pragma once

#include "mf/ir/tile_config.h"

namespace mf::compiler {

// The forward (templates/cuda/transition_forward.cuh).
struct TransitionForwardConfig {
  int warps;      // 16 rows each
  int block_f;    // hidden columns a chunk (a and g each)
  int block_d;    // columns of y a block computes
  int stages;     // weight chunks in flight, 1 or 2
  int occupancy;  // warps a multiprocessor the register cap leaves room for, in whole blocks

  // Throws ir::Error(kInvalidArgument) naming a missing key or a value past int.
  static TransitionForwardConfig from(const ir::TileConfig& config);
  ir::TileConfig tile() const;
};

// The backward: the rows kernel (dx, dγ, dβ) and the weights kernel (dW1, dW2), tuned as
// one configuration.
struct TransitionBackwardConfig {
  int warps;           // the rows kernel's warps, 16 rows each
  int block_f;         // the rows kernel's hidden columns a chunk
  int occupancy;       // the rows kernel's warps a multiprocessor
  int weight_warps;    // the weights kernel's warps
  int weight_block_f;  // the weights kernel's hidden columns a block

  static TransitionBackwardConfig from(const ir::TileConfig& config);
  ir::TileConfig tile() const;
};

}  // namespace mf::compiler
