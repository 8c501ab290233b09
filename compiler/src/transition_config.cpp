#include "mf/compiler/transition_config.h"

#include "tile_param.h"

namespace mf::compiler {

TransitionForwardConfig TransitionForwardConfig::from(const ir::TileConfig& config) {
  return {.warps = int_param(config, "warps"),
          .block_f = int_param(config, "block_f"),
          .block_d = int_param(config, "block_d"),
          .stages = int_param(config, "stages"),
          .occupancy = int_param(config, "occupancy")};
}

ir::TileConfig TransitionForwardConfig::tile() const {
  ir::TileConfig config;
  config.set("warps", warps).set("block_f", block_f).set("block_d", block_d).set("stages", stages);
  config.set("occupancy", occupancy);
  return config;
}

TransitionBackwardConfig TransitionBackwardConfig::from(const ir::TileConfig& config) {
  return {.warps = int_param(config, "warps"),
          .block_f = int_param(config, "block_f"),
          .occupancy = int_param(config, "occupancy"),
          .weight_warps = int_param(config, "weight_warps"),
          .weight_block_f = int_param(config, "weight_block_f")};
}

ir::TileConfig TransitionBackwardConfig::tile() const {
  ir::TileConfig config;
  config.set("warps", warps).set("block_f", block_f).set("occupancy", occupancy);
  config.set("weight_warps", weight_warps).set("weight_block_f", weight_block_f);
  return config;
}

}  // namespace mf::compiler
