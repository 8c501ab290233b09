// The cpu backend: host memory, executed synchronously by the reference implementation.
#pragma once

#include "backend.h"

namespace mf::runtime {

std::unique_ptr<Backend> create_cpu_backend(int threads);
// The host CPU as a device (shared by the backend and mf_device_get_info).
mf_device_info host_device_info(int threads);

}  // namespace mf::runtime
