// A CUDA device through the driver API: modules load into the device's primary context
// (the one PyTorch and the runtime API use, so callers' streams belong to it), retained
// for the life of the device object.
#pragma once

#include <memory>

#include "gpu_device.h"

namespace mf::runtime {

// Throws MF_ERROR_BACKEND_UNAVAILABLE when the driver cannot run kernels.
std::shared_ptr<const GpuDevice> open_cuda_device(int ordinal);

}  // namespace mf::runtime
