#include "config_provider.h"

#include <cstdlib>
#include <string_view>

#include "mf/ir/error.h"

namespace mf::runtime {
namespace {

// $MFJIT_TILE_CONFIG ("warps=8,block_k=64"): parameters that replace the default's where
// the default has them, so that one setting can serve a forward and a backward plan. For
// measuring configurations by hand until the tuning database exists; the plan's generator
// still checks the result, so a bad value fails plan creation with the rule it breaks.
void apply_override(ir::TileConfig& config, std::string_view text) {
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const std::size_t equals = item.find('=');
    const std::string name(item.substr(0, equals));
    char* end = nullptr;
    const std::string value = equals == std::string_view::npos ? "" : std::string(item.substr(equals + 1));
    const long long number = std::strtoll(value.c_str(), &end, 10);
    if (name.empty() || value.empty() || *end != '\0')
      ir::fail(ir::ErrorKind::kInvalidArgument,
               "MFJIT_TILE_CONFIG: '" + std::string(item) + "' is not name=integer (example: warps=8,block_k=64)");
    if (config.get(name)) config.set(name, number);
  }
}

}  // namespace

ConfigChoice DefaultConfigProvider::choose(const ir::Problem& problem, const std::string& /*problem_key*/,
                                           const Backend& backend) {
  ConfigChoice choice{backend.default_config(problem), "default"};
  if (const char* text = std::getenv("MFJIT_TILE_CONFIG"); text != nullptr && *text != '\0') {
    const ir::TileConfig before = choice.config;
    apply_override(choice.config, text);
    if (!(choice.config == before)) choice.source = "override";
  }
  return choice;
}

}  // namespace mf::runtime
