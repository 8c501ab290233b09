// Host tensors for every tensor of an IR problem, handed to the C API: how a C++ tool, test
// or the tuner drives mfjit exactly as a framework would, through mfjit.h.
#pragma once

#include <map>
#include <stdexcept>
#include <string>

#include "mf/ir/problem.h"
#include "mf/reference/host_tensor.h"
#include "mfjit/mfjit.h"

namespace mf::bridge {

struct BoundProblem {
  ir::Problem problem;
  std::map<std::string, reference::HostTensor, std::less<>> tensors;  // by descriptor field name
};

// Allocates every tensor the problem's pass touches: inputs random from `seed`, outputs
// poisoned.
BoundProblem bind_random(const ir::Problem& problem, std::uint64_t seed);

// The same problem with every floating tensor but the f32 statistics in f64, holding the
// same values: what the reference result is computed from.
BoundProblem promoted_to_f64(const BoundProblem& bound);

// A failed C API call: its status and message.
struct CapiError : std::runtime_error {
  CapiError(mf_status failed, const std::string& message) : std::runtime_error(message), status(failed) {}
  mf_status status;
};

// Creates a plan for the problem through the C API, runs it `repeats` times and returns the
// median wall time in milliseconds; throws CapiError.
// For cpu contexts: the tensors are host memory, and so is the plan's workspace, which is
// allocated here when the plan needs one.
double run_through_c_api(mf_context context, BoundProblem& bound, int repeats);

// Runs the reference implementation (mf::reference, fp64 accumulation) on the bound
// tensors: the oracle, independent of every generator.
void run_reference(BoundProblem& bound);

}  // namespace mf::bridge
