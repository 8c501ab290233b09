// An AMD device's memory and event timing through the HIP runtime (hip_runtime.h), for
// mf/runtime/device_memory.h.
#pragma once

#include <memory>

#include "mf/runtime/device_memory.h"

namespace mf::runtime {

// Throws MF_ERROR_BACKEND_UNAVAILABLE when the runtime lacks what device memory needs.
std::unique_ptr<DeviceMemory> open_hip_memory(int ordinal);

}  // namespace mf::runtime
