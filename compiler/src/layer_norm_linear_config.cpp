#include "mf/compiler/layer_norm_linear_config.h"

#include "tile_param.h"

namespace mf::compiler {

LinearForwardConfig LinearForwardConfig::from(const ir::TileConfig& config) {
  return {.version = int_param(config, "version"),
          .warps = int_param(config, "warps"),
          .block_n = int_param(config, "block_n"),
          .stages = int_param(config, "stages"),
          .min_blocks = int_param(config, "min_blocks")};
}

ir::TileConfig LinearForwardConfig::tile() const {
  ir::TileConfig config;
  config.set("version", version).set("warps", warps).set("block_n", block_n).set("stages", stages);
  config.set("min_blocks", min_blocks);
  return config;
}

LinearBackwardConfig LinearBackwardConfig::from(const ir::TileConfig& config) {
  return {.version = int_param(config, "version"),
          .warps = int_param(config, "warps"),
          .block_n = int_param(config, "block_n"),
          .weight_block_n = int_param(config, "weight_block_n")};
}

ir::TileConfig LinearBackwardConfig::tile() const {
  ir::TileConfig config;
  config.set("version", version).set("warps", warps).set("block_n", block_n).set("weight_block_n", weight_block_n);
  return config;
}

}  // namespace mf::compiler
