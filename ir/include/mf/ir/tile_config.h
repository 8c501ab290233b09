// Named integer parameters of one generated kernel ("block_q" = 64, ...).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace mf::ir {

struct TileConfig {
  std::map<std::string, std::int64_t> params;  // ordered, so printing and keys are stable

  std::optional<std::int64_t> get(const std::string& name) const;
  std::int64_t at(const std::string& name) const;  // throws kInvalidArgument when missing
  TileConfig& set(const std::string& name, std::int64_t value);

  friend bool operator==(const TileConfig&, const TileConfig&) = default;
};

std::string to_string(const TileConfig& config);  // "block_k=64,block_q=128"

}  // namespace mf::ir
