#include "hip_memory.h"

#include "hip_runtime.h"
#include "status.h"

namespace mf::runtime {
namespace {

const HipRuntime::Memory& available_memory() {
  const HipRuntime& hip = hip_runtime();
  if (!hip.unavailable_reason.empty()) fail(MF_ERROR_BACKEND_UNAVAILABLE, "hip backend unavailable: " + hip.unavailable_reason);
  if (!hip.memory.available())
    fail(MF_ERROR_BACKEND_UNAVAILABLE, hip.memory.unavailable_reason + ", which device memory needs");
  return hip.memory;
}

// The device is made current on the creating thread once (hipSetDevice), so that the copies,
// fills and default-stream events here, and the plans the caller runs between them, go to it.
class HipMemory final : public DeviceMemory {
 public:
  explicit HipMemory(int ordinal) : hip_(available_memory()) {
    check_hip("hipSetDevice", hip_.set_device(ordinal));
    try {
      check_hip("hipEventCreate", hip_.event_create(&start_));
      check_hip("hipEventCreate", hip_.event_create(&stop_));
    } catch (...) {
      release_all();  // the destructor does not run for a constructor that throws
      throw;
    }
  }
  ~HipMemory() override { release_all(); }
  HipMemory(const HipMemory&) = delete;
  HipMemory& operator=(const HipMemory&) = delete;

  void* allocate(std::size_t bytes) override {
    void* address = nullptr;
    check_hip("hipMalloc", hip_.alloc(&address, bytes == 0 ? 1 : bytes));
    return address;
  }
  void free(void* buffer) override { check_hip("hipFree", hip_.free(buffer)); }
  void upload(void* to, const void* from, std::size_t bytes) override {
    check_hip("hipMemcpyHtoD", hip_.memcpy_htod(to, const_cast<void*>(from), bytes));
  }
  void download(void* to, const void* from, std::size_t bytes) override {
    check_hip("hipMemcpyDtoH", hip_.memcpy_dtoh(to, const_cast<void*>(from), bytes));
  }
  void fill(void* buffer, unsigned char value, std::size_t bytes) override {
    check_hip("hipMemset", hip_.memset(buffer, value, bytes));
  }
  double time_us(const std::function<void()>& run) override {
    check_hip("hipEventRecord", hip_.event_record(start_, nullptr));
    run();
    check_hip("hipEventRecord", hip_.event_record(stop_, nullptr));
    check_hip("hipEventSynchronize", hip_.event_synchronize(stop_));
    float ms = 0.0f;
    check_hip("hipEventElapsedTime", hip_.event_elapsed_time(&ms, start_, stop_));
    return double(ms) * 1000.0;
  }
  void synchronize() override { check_hip("hipDeviceSynchronize", hip_.device_synchronize()); }

 private:
  // Failures cannot be reported here.
  void release_all() {
    if (start_ != nullptr) static_cast<void>(hip_.event_destroy(start_));
    if (stop_ != nullptr) static_cast<void>(hip_.event_destroy(stop_));
  }

  const HipRuntime::Memory& hip_;
  hipEvent_t start_ = nullptr, stop_ = nullptr;
};

}  // namespace

std::unique_ptr<DeviceMemory> open_hip_memory(int ordinal) { return std::make_unique<HipMemory>(ordinal); }

}  // namespace mf::runtime
