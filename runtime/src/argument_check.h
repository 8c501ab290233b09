// Checks of an execution's data pointers against the plan's problem, before any kernel
// runs: every tensor present in the problem has a pointer, each pointer is aligned to its
// element, and no written tensor overlaps another tensor's memory.
#pragma once

#include "backend.h"

namespace mf::runtime {

// Throws MF_ERROR_INVALID_ARGUMENT or MF_ERROR_MISALIGNED naming the field ("args.d_q").
void check_arguments(const ir::Problem& problem, const OperatorArgs& args);

}  // namespace mf::runtime
