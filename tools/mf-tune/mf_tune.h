// mf-tune: offline tuning of problems on a device into the tuning database (docs/tuning.md).
// The whole command line as a function, so that tests run it in process.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace mf::tools {

// Runs `mf-tune args...`; returns the exit status (0 ok, 1 failure, 2 bad usage).
int mf_tune(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace mf::tools
