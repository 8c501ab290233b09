// For callers that hold device buffers of their own — the tuner's bench, which allocates a
// problem's tensors and times plans on them: one GPU's memory and event timing through the
// driver the runtime already loaded (CUDA driver API, HIP runtime), so that each vendor
// library is opened once per process and the tests' fake drivers ($MFJIT_CUDA_DRIVER,
// $MFJIT_HIP_RUNTIME) stand in for it everywhere.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "mfjit/mfjit.h"

namespace mf::runtime {

// Failures throw an exception derived from std::exception that names the driver call and
// its error (the runtime's own error type, as the C API reports it).
class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;
  // At least one byte, so that an empty tensor still gets an address of its own.
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void free(void* buffer) = 0;
  virtual void upload(void* to, const void* from, std::size_t bytes) = 0;
  virtual void download(void* to, const void* from, std::size_t bytes) = 0;
  // Every byte of [buffer, buffer + bytes) set to `value`.
  virtual void fill(void* buffer, unsigned char value, std::size_t bytes) = 0;
  // Microseconds between events recorded on the default stream before and after `run`
  // (waits for the second): the time of the work `run` puts on that stream.
  virtual double time_us(const std::function<void()>& run) = 0;
  // Waits for all work on the device.
  virtual void synchronize() = 0;
};

// The memory of device `ordinal` of a GPU backend (MF_BACKEND_CUDA or MF_BACKEND_HIP),
// made current on the calling thread, where the copies and the timing must then run.
// Throws when the backend has no device memory (the cpu) or its driver lacks what this needs.
std::unique_ptr<DeviceMemory> open_device_memory(mf_backend backend, int ordinal);

}  // namespace mf::runtime
