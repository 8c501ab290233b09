// The cuda backend: device discovery and reporting through the driver API. Kernel
// generators for it arrive with the GPU operator issues; until then plan creation on it
// reports MF_ERROR_UNSUPPORTED.
#pragma once

#include "backend.h"

namespace mf::runtime {

// Devices the driver sees; 0 when the driver is missing or has none. Never throws.
int cuda_device_count();
// Throws MF_ERROR_BACKEND_UNAVAILABLE when the ordinal does not name a device.
mf_device_info cuda_device_info(int ordinal);
// Compiled kernels are cached under <cache_dir>/kernels.
std::unique_ptr<Backend> create_cuda_backend(int ordinal, const std::string& cache_dir);

}  // namespace mf::runtime
