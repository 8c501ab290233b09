// A GPU's bench memory: the runtime's device memory (mf/runtime/device_memory.h: the CUDA
// driver or the HIP runtime it loaded, events on the default stream, which the bench's
// executions use), with what the bench adds — buffers freed with the memory, poisoning, and
// a cache flush over a buffer of its own.
#include <map>
#include <memory>

#include "mf/runtime/device_memory.h"
#include "mf/tuner/capi_bench.h"

namespace mf::tuner {
namespace {

class GpuMemory final : public BenchMemory {
 public:
  GpuMemory(mf_backend backend, int ordinal, std::size_t flush_bytes)
      : device_(runtime::open_device_memory(backend, ordinal)), flush_bytes_(flush_bytes),
        flush_(allocate(flush_bytes_)) {}
  ~GpuMemory() override { free_all(); }
  GpuMemory(const GpuMemory&) = delete;
  GpuMemory& operator=(const GpuMemory&) = delete;

  void* allocate(std::size_t bytes) override {
    void* address = device_->allocate(bytes);
    buffers_.emplace(address, bytes);
    return address;
  }
  void release(void* buffer) override {
    if (buffers_.erase(buffer) > 0) device_->free(buffer);
  }
  void upload(void* to, const void* from, std::size_t bytes) override { device_->upload(to, from, bytes); }
  void download(void* to, const void* from, std::size_t bytes) override { device_->download(to, from, bytes); }
  void poison(void* buffer, std::size_t bytes) override { device_->fill(buffer, 0xFF, bytes); }
  void flush_caches() override { device_->fill(flush_, ++flush_value_, flush_bytes_); }
  double time_us(const std::function<void()>& run) override { return device_->time_us(run); }
  void synchronize() override { device_->synchronize(); }

 private:
  // Errors cannot be reported here; the device memory's own teardown follows.
  void free_all() noexcept {
    for (const auto& [address, bytes] : buffers_) {
      try {
        device_->free(address);
      } catch (...) {
      }
    }
    buffers_.clear();
  }

  std::unique_ptr<runtime::DeviceMemory> device_;
  std::map<void*, std::size_t> buffers_;  // before flush_, which is one of them
  std::size_t flush_bytes_;
  void* flush_;
  unsigned char flush_value_ = 0;
};

}  // namespace

std::unique_ptr<BenchMemory> make_gpu_memory(mf_backend backend, int ordinal, std::size_t flush_bytes) {
  return std::make_unique<GpuMemory>(backend, ordinal, flush_bytes);
}

}  // namespace mf::tuner
