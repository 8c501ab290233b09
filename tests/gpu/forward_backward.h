// The GPU check of an operator's forward and backward plans shared by the LayerNormLinear
// and Transition tests: random inputs, every output and the workspace poisoned, forward
// then backward on the device, the same through the fp64 reference, and each written
// tensor compared; and the bitwise-reproducibility check of the deterministic backward.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gpu/gpu_fixture.h"
#include "mf/ir/problem.h"

namespace mf::gpu {

// One line per tensor whose relative error passes `limit` (or why nothing ran). `backward`
// is the backward problem; the forward is the same operator forward. The forward's outputs
// (y and the saved statistics) are compared with the reference forward, the gradients with
// the reference backward.
std::vector<std::string> check_forward_backward(mf_context cuda, DeviceMemory& memory,
                                                mf_plan forward_plan, mf_plan backward_plan,
                                                const ir::Problem& backward, std::uint64_t seed, double limit);

// Runs forward and backward twice on the same inputs; the names of `outputs` whose bits
// differ between the runs (empty when reproducible), or why nothing ran.
std::vector<std::string> differing_between_runs(mf_context cuda, DeviceMemory& memory, mf_plan forward_plan,
                                                mf_plan backward_plan, const ir::Problem& backward,
                                                const std::vector<std::string>& outputs);

}  // namespace mf::gpu
