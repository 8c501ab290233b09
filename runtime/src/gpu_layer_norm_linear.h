// LayerNormLinear on a GPU backend (cuda, hip): the modules of the template generator and their
// launch plan; execution fills the kernel's parameter block from the caller's pointers and
// launches on the caller's stream.
#pragma once

#include <memory>
#include <vector>

#include "backend.h"
#include "gpu_device.h"
#include "mf/compiler/layer_norm_linear_generator.h"

namespace mf::runtime {

std::unique_ptr<Executable> make_gpu_layer_norm_linear(const ir::LayerNormLinear& op, const ir::Direction& direction,
                                                        compiler::LayerNormLinearLaunchPlan plan,
                                                        std::shared_ptr<const GpuDevice> device,
                                                        std::vector<LoadedModule> modules);

}  // namespace mf::runtime
