#include "mf/compiler/evo_attention_config.h"

#include "tile_param.h"

namespace mf::compiler {

EvoForwardConfig EvoForwardConfig::from(const ir::TileConfig& config) {
  return {.version = int_param(config, "version"),
          .warps = int_param(config, "warps"),
          .block_k = int_param(config, "block_k"),
          .stages = int_param(config, "stages"),
          .occupancy = int_param(config, "occupancy"),
          .rows_per_block = int_param(config, "rows_per_block")};
}

ir::TileConfig EvoForwardConfig::tile() const {
  ir::TileConfig config;
  config.set("version", version).set("warps", warps).set("block_k", block_k).set("stages", stages);
  config.set("occupancy", occupancy).set("rows_per_block", rows_per_block);
  return config;
}

EvoBackwardConfig EvoBackwardConfig::from(const ir::TileConfig& config) {
  return {.key_warps = int_param(config, "key_warps"),
          .key_block_q = int_param(config, "key_block_q"),
          .key_groups = int_param(config, "key_groups"),
          .query_warps = int_param(config, "query_warps"),
          .query_block_k = int_param(config, "query_block_k"),
          .query_occupancy = int_param(config, "query_occupancy"),
          .query_rows_per_block = int_param(config, "query_rows_per_block"),
          .stages = int_param(config, "stages")};
}

ir::TileConfig EvoBackwardConfig::tile() const {
  ir::TileConfig config;
  config.set("key_warps", key_warps).set("key_block_q", key_block_q).set("key_groups", key_groups);
  config.set("query_warps", query_warps).set("query_block_k", query_block_k);
  config.set("query_occupancy", query_occupancy).set("query_rows_per_block", query_rows_per_block);
  config.set("stages", stages);
  return config;
}

}  // namespace mf::compiler
