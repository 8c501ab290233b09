#include "mf/ir/tile_config.h"

#include <fmt/format.h>

#include "mf/ir/error.h"

namespace mf::ir {

std::optional<std::int64_t> TileConfig::get(const std::string& name) const {
  auto it = params.find(name);
  if (it == params.end()) return std::nullopt;
  return it->second;
}

std::int64_t TileConfig::at(const std::string& name) const {
  auto value = get(name);
  if (!value) fail(ErrorKind::kInvalidArgument, fmt::format("tile config has no parameter '{}'", name));
  return *value;
}

TileConfig& TileConfig::set(const std::string& name, std::int64_t value) {
  params[name] = value;
  return *this;
}

std::string to_string(const TileConfig& config) {
  std::string text = config.generator.empty() ? "" : "generator=" + config.generator;
  for (const auto& [name, value] : config.params) {
    if (!text.empty()) text += ',';
    text += fmt::format("{}={}", name, value);
  }
  return text;
}

}  // namespace mf::ir
