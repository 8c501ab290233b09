// A generator's tunable parameters: named axes of candidate values and the constraints a
// combination must meet (shared memory, registers, divisibility).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mf/ir/tile_config.h"

namespace mf::compiler {

struct ParameterSpace {
  // The generator the configurations belong to, as ir::TileConfig::generator names it
  // (empty: the backend's first generator); every configuration of configs() carries it.
  std::string generator;
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> axes;
  // Why a configuration is invalid, or nullopt when it is valid.
  std::function<std::optional<std::string>(const ir::TileConfig&)> reject;

  // Every valid combination, in a fixed order (the axes' odometer, last axis fastest).
  std::vector<ir::TileConfig> configs() const;
  // Throws ir::Error(kInvalidArgument) naming the generator, the parameter or the broken
  // constraint.
  void check(const ir::TileConfig& config) const;
};

}  // namespace mf::compiler
