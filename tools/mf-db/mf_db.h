// mf-db: inspect and maintain the tuning database (docs/tuning.md). The whole command
// line as a function, so that tests run it in process.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace mf::tools {

// Runs `mf-db args...`; returns the exit status (0 ok, 1 failure, 2 bad usage).
int mf_db(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace mf::tools
