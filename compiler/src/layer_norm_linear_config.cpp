#include "mf/compiler/layer_norm_linear_config.h"

#include <fmt/format.h>

#include <climits>

#include "mf/ir/error.h"

namespace mf::compiler {
namespace {

int int_param(const ir::TileConfig& config, const char* name) {
  const std::int64_t value = config.at(name);
  if (value < INT_MIN || value > INT_MAX)
    ir::fail(ir::ErrorKind::kInvalidArgument, fmt::format("config: {} = {} is past an int", name, value));
  return static_cast<int>(value);
}

}  // namespace

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
