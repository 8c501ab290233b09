// LayerNormLinear on the cuda backend: the modules of the template generator and their
// launch plan; execution fills the kernel's parameter block from the caller's pointers and
// launches on the caller's stream.
#pragma once

#include <memory>
#include <vector>

#include "backend.h"
#include "cuda_module.h"
#include "mf/compiler/layer_norm_linear_generator.h"

namespace mf::runtime {

std::unique_ptr<Executable> make_cuda_layer_norm_linear(const ir::LayerNormLinear& op, const ir::Direction& direction,
                                                        compiler::LayerNormLinearLaunchPlan plan,
                                                        std::shared_ptr<const CudaPrimaryContext> context,
                                                        std::vector<LoadedModule> modules);

}  // namespace mf::runtime
