// A typed tile configuration's fields, each named once: reading them from a TileConfig and
// writing them back (evo_attention_config.h and the other *_config.h).
#pragma once

#include <fmt/format.h>

#include <array>
#include <climits>
#include <cstddef>

#include "mf/ir/error.h"
#include "mf/ir/tile_config.h"

namespace mf::compiler {

// One int field of `Config` and its key in a TileConfig.
template <class Config>
struct ConfigField {
  const char* name;
  int Config::*member;
};

// Throws ir::Error(kInvalidArgument) naming the parameter when it is missing or past an int.
inline int int_param(const ir::TileConfig& config, const char* name) {
  const std::int64_t value = config.at(name);
  if (value < INT_MIN || value > INT_MAX)
    ir::fail(ir::ErrorKind::kInvalidArgument, fmt::format("config: {} = {} is past an int", name, value));
  return static_cast<int>(value);
}

template <class Config, std::size_t N>
Config read_fields(const ir::TileConfig& tile, const std::array<ConfigField<Config>, N>& fields) {
  Config config{};
  for (const ConfigField<Config>& field : fields) config.*field.member = int_param(tile, field.name);
  return config;
}

template <class Config, std::size_t N>
ir::TileConfig write_fields(const Config& config, const std::array<ConfigField<Config>, N>& fields) {
  ir::TileConfig tile;
  for (const ConfigField<Config>& field : fields) tile.set(field.name, config.*field.member);
  return tile;
}

}  // namespace mf::compiler
