// Problem files of the tools (mf-tune --problems, mf-compile --problems): a JSON array of
// problems as mf/ir/json.h writes them.
#pragma once

#include <string>
#include <vector>

#include "mf/ir/problem.h"

namespace mf::tools {

// The problems of the file at `path`; throws std::runtime_error whose message starts with
// `option` (the flag that named the file) and says what is wrong and where ("path[3]: ...").
std::vector<ir::Problem> read_problem_file(const std::string& path, const std::string& option);

}  // namespace mf::tools
