// Device memory for the GPU tests, through the CUDA driver loaded with dlopen (the tests,
// like the library, must build and run where no GPU is present).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace mf::gpu {

struct DeviceBuffer {
  std::uint64_t address = 0;
  std::shared_ptr<void> owner;  // frees the allocation
};

class DeviceMemory {
 public:
  // Makes device 0's primary context current on this thread; throws std::runtime_error.
  DeviceMemory();
  DeviceBuffer allocate(std::size_t bytes);
  void upload(const DeviceBuffer& to, const void* from, std::size_t bytes);
  void download(void* to, const DeviceBuffer& from, std::size_t bytes);
  // Every byte 0xFF: floats read as NaN.
  void poison(const DeviceBuffer& buffer, std::size_t bytes);
  void synchronize();

 private:
  struct Api;
  std::shared_ptr<Api> api_;
};

}  // namespace mf::gpu
