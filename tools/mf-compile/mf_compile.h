// mf-compile: what a generator makes of one problem — the template generator's CUDA source
// and its ptxas resource report, the MLIR generator's module before and after lowering.
// The whole command line as a function, so that tests run it in process.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace mf::tools {

// Runs `mf-compile args...`; returns the exit status (0 ok, 1 failure, 2 bad usage).
int mf_compile(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace mf::tools
