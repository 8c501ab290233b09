// The hip backend: AMD devices found and described through the HIP runtime, template kernels
// compiled with hipRTC where it builds for the device's arch (the MLIR generator's kernels
// everywhere), run through the HIP runtime (gpu_backend.h).
#pragma once

#include <memory>
#include <string>

#include "backend.h"

namespace mf::runtime {

// Compiled kernels are cached under <cache_dir>/kernels. Throws MF_ERROR_BACKEND_UNAVAILABLE
// naming why when the runtime or the device is absent.
std::unique_ptr<Backend> create_hip_backend(int ordinal, const std::string& cache_dir);

}  // namespace mf::runtime
