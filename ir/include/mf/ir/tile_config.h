// Named integer parameters of one generated kernel ("block_q" = 64, ...) and the generator
// they are parameters of, where a backend offers several for one problem.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace mf::ir {

struct TileConfig {
  // Empty: the backend's first generator for the problem (the one untuned plans use), so
  // that configurations tuned before a backend offered a second generator keep meaning
  // what they meant. Otherwise the generator's name ("mlir", "reference").
  std::string generator;
  std::map<std::string, std::int64_t> params;  // ordered, so printing and keys are stable

  std::optional<std::int64_t> get(const std::string& name) const;
  std::int64_t at(const std::string& name) const;  // throws kInvalidArgument when missing
  TileConfig& set(const std::string& name, std::int64_t value);

  friend bool operator==(const TileConfig&, const TileConfig&) = default;
};

// "block_k=64,block_q=128"; "generator=mlir,..." first where the generator is named.
std::string to_string(const TileConfig& config);

}  // namespace mf::ir
