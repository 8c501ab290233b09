#include "problem_file.h"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "mf/ir/json.h"

namespace mf::tools {

std::vector<ir::Problem> read_problem_file(const std::string& path, const std::string& option) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error(fmt::format("{}: cannot read {}", option, path));
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(file);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{}: {} is not JSON: {}", option, path, e.what()));
  }
  if (!document.is_array())
    throw std::runtime_error(fmt::format("{}: the file must hold a JSON array of problems", option));
  std::vector<ir::Problem> problems;
  for (std::size_t i = 0; i < document.size(); ++i) {
    try {
      problems.push_back(document[i].get<ir::Problem>());
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("{}: {}[{}]: {}", option, path, i, e.what()));
    }
  }
  return problems;
}

}  // namespace mf::tools
