// Where a plan's tile configuration comes from. In this version: the generator's default,
// with the parameters $MFJIT_TILE_CONFIG names replaced (docs/c-api.md). The tuning
// database will provide the exact, then nearest tuned configuration.
#pragma once

#include <string>

#include "backend.h"

namespace mf::runtime {

struct ConfigChoice {
  ir::TileConfig config;
  std::string source;  // "default", later "tuned:exact", "tuned:nearest"
};

class ConfigProvider {
 public:
  virtual ~ConfigProvider() = default;
  virtual ConfigChoice choose(const ir::Problem& problem, const std::string& problem_key,
                              const Backend& backend) = 0;
};

class DefaultConfigProvider final : public ConfigProvider {
 public:
  ConfigChoice choose(const ir::Problem& problem, const std::string& problem_key,
                      const Backend& backend) override;
};

}  // namespace mf::runtime
