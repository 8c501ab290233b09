// An AMD device through the HIP runtime (hip_runtime.h): modules load on the device, kernels
// launch on the caller's stream. Each call makes the device current (hipSetDevice) and
// restores the caller's device afterwards.
#pragma once

#include <memory>

#include "gpu_device.h"

namespace mf::runtime {

// Throws MF_ERROR_BACKEND_UNAVAILABLE when the runtime cannot run kernels.
std::shared_ptr<const GpuDevice> open_hip_device(int ordinal);

}  // namespace mf::runtime
