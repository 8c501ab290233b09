// EvoAttention's tile configurations as typed structs, so that the generator reads fields
// instead of string keys. Each converts from and to the ir::TileConfig that plans, the tuner
// and the tuning database carry, under the same names, so configurations stored before
// these structs keep their meaning.
#pragma once

#include "mf/ir/tile_config.h"

namespace mf::compiler {

// The forward (templates/cuda/evo_attention_forward*.cuh).
struct EvoForwardConfig {
  int version;         // 3: mma.sync, every target; 4: wgmma, sm_90a
  int warps;           // 16 query rows each
  int block_k;         // keys a step
  int stages;          // K/V (and bias) tiles in flight
  int occupancy;       // warps a multiprocessor the register cap leaves room for, in whole blocks
  int rows_per_block;  // rows s a block (2 shares each bias tile between them)

  // Throws ir::Error(kInvalidArgument) naming a missing key or a value past int.
  static EvoForwardConfig from(const ir::TileConfig& config);
  ir::TileConfig tile() const;
};

// The backward: the keys kernel (dK, dV, dBias; dQ where it has the only query group) and
// the queries kernel (dQ), tuned as one configuration.
struct EvoBackwardConfig {
  int key_warps;             // 16 keys each
  int key_block_q;           // query rows a step of the keys kernel
  int key_groups;            // groups of key warps that split the query rows
  int query_warps;           // 16 query rows each
  int query_block_k;         // keys a step of the queries kernel
  int query_occupancy;       // the queries kernel's warps a multiprocessor
  int query_rows_per_block;  // rows s a queries block
  int stages;                // tiles in flight, both kernels

  static EvoBackwardConfig from(const ir::TileConfig& config);
  ir::TileConfig tile() const;
};

}  // namespace mf::compiler
