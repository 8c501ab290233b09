#include "cuda_memory.h"

#include "cuda_driver.h"
#include "status.h"

namespace mf::runtime {
namespace {

const CudaDriver::Memory& available_memory() {
  const CudaDriver& driver = cuda_driver();
  if (!driver.available()) fail(MF_ERROR_BACKEND_UNAVAILABLE, "cuda backend unavailable: " + driver.unavailable_reason);
  if (!driver.memory.available())
    fail(MF_ERROR_BACKEND_UNAVAILABLE, driver.memory.unavailable_reason + ", which device memory needs");
  return driver.memory;
}

// The device's primary context — the one plans load their modules into, so that the copies
// and events here order with their launches on the default stream — retained for the
// object's life and made current on the creating thread once, as the default stream needs.
class CudaMemory final : public DeviceMemory {
 public:
  explicit CudaMemory(int ordinal) : driver_(available_memory()) {
    check_cuda("cuDeviceGet", cuda_driver().device_get(&device_, ordinal));
    check_cuda("cuDevicePrimaryCtxRetain", driver_.primary_ctx_retain(&context_, device_));
    try {
      check_cuda("cuCtxSetCurrent", driver_.ctx_set_current(context_));
      check_cuda("cuEventCreate", driver_.event_create(&start_, CU_EVENT_DEFAULT));
      check_cuda("cuEventCreate", driver_.event_create(&stop_, CU_EVENT_DEFAULT));
    } catch (...) {
      release_all();  // the destructor does not run for a constructor that throws
      throw;
    }
  }
  ~CudaMemory() override { release_all(); }
  CudaMemory(const CudaMemory&) = delete;
  CudaMemory& operator=(const CudaMemory&) = delete;

  void* allocate(std::size_t bytes) override {
    CUdeviceptr address = 0;
    check_cuda("cuMemAlloc", driver_.mem_alloc(&address, bytes == 0 ? 1 : bytes));
    return reinterpret_cast<void*>(address);
  }
  void free(void* buffer) override { check_cuda("cuMemFree", driver_.mem_free(reinterpret_cast<CUdeviceptr>(buffer))); }
  void upload(void* to, const void* from, std::size_t bytes) override {
    check_cuda("cuMemcpyHtoD", driver_.memcpy_htod(reinterpret_cast<CUdeviceptr>(to), from, bytes));
  }
  void download(void* to, const void* from, std::size_t bytes) override {
    check_cuda("cuMemcpyDtoH", driver_.memcpy_dtoh(to, reinterpret_cast<CUdeviceptr>(from), bytes));
  }
  void fill(void* buffer, unsigned char value, std::size_t bytes) override {
    check_cuda("cuMemsetD8", driver_.memset_d8(reinterpret_cast<CUdeviceptr>(buffer), value, bytes));
  }
  double time_us(const std::function<void()>& run) override {
    check_cuda("cuEventRecord", driver_.event_record(start_, nullptr));
    run();
    check_cuda("cuEventRecord", driver_.event_record(stop_, nullptr));
    check_cuda("cuEventSynchronize", driver_.event_synchronize(stop_));
    float ms = 0.0f;
    check_cuda("cuEventElapsedTime", driver_.event_elapsed_time(&ms, start_, stop_));
    return double(ms) * 1000.0;
  }
  void synchronize() override { check_cuda("cuCtxSynchronize", driver_.ctx_synchronize()); }

 private:
  // Failures cannot be reported here.
  void release_all() {
    if (start_ != nullptr) driver_.event_destroy(start_);
    if (stop_ != nullptr) driver_.event_destroy(stop_);
    driver_.primary_ctx_release(device_);
  }

  const CudaDriver::Memory& driver_;
  CUdevice device_ = 0;
  CUcontext context_ = nullptr;
  CUevent start_ = nullptr, stop_ = nullptr;
};

}  // namespace

std::unique_ptr<DeviceMemory> open_cuda_memory(int ordinal) { return std::make_unique<CudaMemory>(ordinal); }

}  // namespace mf::runtime
