// Reading one of a TileConfig's parameters into a typed configuration's int field.
#pragma once

#include <fmt/format.h>

#include <climits>

#include "mf/ir/error.h"
#include "mf/ir/tile_config.h"

namespace mf::compiler {

// Throws ir::Error(kInvalidArgument) naming the parameter when it is missing or past an int.
inline int int_param(const ir::TileConfig& config, const char* name) {
  const std::int64_t value = config.at(name);
  if (value < INT_MIN || value > INT_MAX)
    ir::fail(ir::ErrorKind::kInvalidArgument, fmt::format("config: {} = {} is past an int", name, value));
  return static_cast<int>(value);
}

}  // namespace mf::compiler
