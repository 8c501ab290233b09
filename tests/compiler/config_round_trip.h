// The check every typed tile configuration (compiler/include/mf/compiler/*_config.h) must
// pass: each configuration of a space reads into the struct and writes back the same keys
// and values, so that the tuning databases' stored configurations keep their meaning.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>

#include "mf/compiler/parameter_space.h"
#include "mf/ir/tile_config.h"

namespace mf::compiler {

// How many configurations of `space` round-tripped through `Config` (each failure is an
// EXPECT naming the configuration).
template <class Config>
std::size_t expect_round_trips(const ParameterSpace& space) {
  std::size_t count = 0;
  for (const ir::TileConfig& config : space.configs()) {
    EXPECT_EQ(Config::from(config).tile(), config) << ir::to_string(config);
    ++count;
  }
  return count;
}

}  // namespace mf::compiler
