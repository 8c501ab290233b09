#include "mf/runtime/device_memory.h"

#include "cuda_memory.h"
#include "hip_memory.h"
#include "status.h"

namespace mf::runtime {

std::unique_ptr<DeviceMemory> open_device_memory(mf_backend backend, int ordinal) {
  if (backend == MF_BACKEND_CUDA) return open_cuda_memory(ordinal);
  if (backend == MF_BACKEND_HIP) return open_hip_memory(ordinal);
  fail(MF_ERROR_INVALID_ARGUMENT, "device memory: only the GPU backends (cuda, hip) have device memory");
}

}  // namespace mf::runtime
