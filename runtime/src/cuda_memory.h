// A CUDA device's memory and event timing through the driver API (cuda_driver.h), for
// mf/runtime/device_memory.h.
#pragma once

#include <memory>

#include "mf/runtime/device_memory.h"

namespace mf::runtime {

// Throws MF_ERROR_BACKEND_UNAVAILABLE when the driver lacks what device memory needs.
std::unique_ptr<DeviceMemory> open_cuda_memory(int ordinal);

}  // namespace mf::runtime
