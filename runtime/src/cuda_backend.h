// The cuda backend: NVIDIA devices found and described through the driver API, kernels
// compiled with NVRTC and run through the driver (gpu_backend.h).
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
