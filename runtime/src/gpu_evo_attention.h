// EvoAttention on a GPU backend (cuda, hip): the modules of the template generator and the launch
// plan that goes with them; execution fills the kernels' parameter block from the caller's
// pointers and launches the plan's kernels in order on the caller's stream.
#pragma once

#include <memory>
#include <vector>

#include "backend.h"
#include "gpu_device.h"
#include "mf/compiler/evo_attention_generator.h"

namespace mf::runtime {

std::unique_ptr<Executable> make_gpu_evo_attention(const ir::EvoAttention& op, const ir::Direction& direction,
                                                    compiler::EvoAttentionLaunchPlan plan,
                                                    std::shared_ptr<const GpuDevice> device,
                                                    std::vector<LoadedModule> modules);

}  // namespace mf::runtime
