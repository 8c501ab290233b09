#include "gpu_device.h"

#include <fmt/format.h>

#include <algorithm>

#include "status.h"

namespace mf::runtime {
namespace {

const GpuModule& module_defining(const std::vector<LoadedModule>& modules, const std::string& entry) {
  for (const auto& loaded : modules)
    if (std::find(loaded.entries.begin(), loaded.entries.end(), entry) != loaded.entries.end()) return *loaded.module;
  fail(MF_ERROR_INTERNAL, fmt::format("the generated modules of the plan define no kernel {}", entry));
}

}  // namespace

KernelSequence::KernelSequence(std::shared_ptr<const GpuDevice> device,
                               const std::vector<compiler::KernelLaunch>& launches, std::vector<LoadedModule> modules)
    : device_(std::move(device)), modules_(std::move(modules)) {
  for (const auto& launch : launches)
    kernels_.emplace_back(module_defining(modules_, launch.entry).kernel(launch.entry, launch.shared_bytes), launch);
}

void KernelSequence::launch(void* stream, const void* params, std::size_t params_size) const {
  for (const auto& [kernel, plan] : kernels_)
    device_->launch(kernel, plan.blocks, plan.threads_x, plan.threads_y, plan.shared_bytes, stream, params, params_size);
}

}  // namespace mf::runtime
