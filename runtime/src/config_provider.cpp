#include "config_provider.h"

namespace mf::runtime {

ConfigChoice DefaultConfigProvider::choose(const ir::Problem& problem, const std::string& /*problem_key*/,
                                           const Backend& backend) {
  return {backend.default_config(problem), "default"};
}

}  // namespace mf::runtime
