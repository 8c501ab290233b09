// The Transition on a GPU backend (cuda, hip): the module of the template generator and its launch
// plan; execution fills the kernel's parameter block from the caller's pointers and
// launches on the caller's stream.
#pragma once

#include <memory>
#include <vector>

#include "backend.h"
#include "gpu_device.h"
#include "mf/compiler/transition_generator.h"

namespace mf::runtime {

std::unique_ptr<Executable> make_gpu_transition(const ir::Transition& op, const ir::Direction& direction,
                                                 compiler::TransitionLaunchPlan plan,
                                                 std::shared_ptr<const GpuDevice> device,
                                                 std::vector<LoadedModule> modules);

}  // namespace mf::runtime
