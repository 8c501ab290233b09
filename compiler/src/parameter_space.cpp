#include "mf/compiler/parameter_space.h"

#include <algorithm>

#include "mf/ir/error.h"

namespace mf::compiler {

std::vector<ir::TileConfig> ParameterSpace::configs() const {
  std::vector<ir::TileConfig> result;
  std::vector<std::size_t> digit(axes.size(), 0);
  if (std::any_of(axes.begin(), axes.end(), [](const auto& axis) { return axis.second.empty(); })) return result;
  for (;;) {
    ir::TileConfig config;
    config.generator = generator;
    for (std::size_t i = 0; i < axes.size(); ++i) config.set(axes[i].first, axes[i].second[digit[i]]);
    if (!reject || !reject(config)) result.push_back(std::move(config));
    std::size_t i = axes.size();
    while (i > 0 && ++digit[i - 1] == axes[i - 1].second.size()) digit[--i] = 0;
    if (i == 0) return result;
  }
}

void ParameterSpace::check(const ir::TileConfig& config) const {
  if (config.generator != generator)
    ir::fail(ir::ErrorKind::kInvalidArgument,
             "config: generator '" + config.generator + "' is not this space's generator '" + generator + "'");
  for (const auto& [name, values] : axes) {
    const auto value = config.get(name);
    if (!value) ir::fail(ir::ErrorKind::kInvalidArgument, "config: parameter " + name + " is missing");
    if (std::find(values.begin(), values.end(), *value) == values.end())
      ir::fail(ir::ErrorKind::kInvalidArgument,
               "config: " + name + " = " + std::to_string(*value) + " is not one of the generator's values");
  }
  for (const auto& [name, value] : config.params) {
    const bool known = std::any_of(axes.begin(), axes.end(), [&](const auto& axis) { return axis.first == name; });
    if (!known) ir::fail(ir::ErrorKind::kInvalidArgument, "config: unknown parameter " + name);
  }
  if (reject) {
    if (auto reason = reject(config)) ir::fail(ir::ErrorKind::kInvalidArgument, "config: " + *reason);
  }
}

}  // namespace mf::compiler
