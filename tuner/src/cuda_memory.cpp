// A GPU's bench memory: device allocations, copies and fills through the CUDA driver
// (loaded with dlopen, as the runtime loads it), and device-event timing on the stream
// the bench's executions use (the default stream).
#include <cuda.h>
#include <dlfcn.h>

#include <fmt/format.h>

#include <map>
#include <stdexcept>

#include "mf/tuner/capi_bench.h"

namespace mf::tuner {
namespace {

struct Driver {
  decltype(&::cuInit) init = nullptr;
  decltype(&::cuDeviceGet) device_get = nullptr;
  decltype(&::cuDevicePrimaryCtxRetain) retain = nullptr;
  decltype(&::cuDevicePrimaryCtxRelease_v2) release = nullptr;
  decltype(&::cuCtxSetCurrent) set_current = nullptr;
  decltype(&::cuCtxSynchronize) synchronize = nullptr;
  decltype(&::cuMemAlloc_v2) alloc = nullptr;
  decltype(&::cuMemFree_v2) free = nullptr;
  decltype(&::cuMemcpyHtoD_v2) htod = nullptr;
  decltype(&::cuMemcpyDtoH_v2) dtoh = nullptr;
  decltype(&::cuMemsetD8_v2) memset = nullptr;
  decltype(&::cuEventCreate) event_create = nullptr;
  decltype(&::cuEventDestroy_v2) event_destroy = nullptr;
  decltype(&::cuEventRecord) event_record = nullptr;
  decltype(&::cuEventSynchronize) event_synchronize = nullptr;
  decltype(&::cuEventElapsedTime) event_elapsed = nullptr;
  decltype(&::cuGetErrorName) error_name = nullptr;
};

template <class F>
void resolve(void* library, const char* name, F& f) {
  f = reinterpret_cast<F>(dlsym(library, name));
  if (f == nullptr) throw std::runtime_error(fmt::format("the CUDA driver lacks {}, which the tuner's bench needs", name));
}

const Driver& driver() {
  static const Driver loaded = [] {
    const char* path = std::getenv("MFJIT_CUDA_DRIVER");
    void* library = dlopen(path != nullptr && *path != '\0' ? path : "libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) throw std::runtime_error(fmt::format("cannot load the CUDA driver: {}", dlerror()));
    Driver d;
    resolve(library, "cuInit", d.init);
    resolve(library, "cuDeviceGet", d.device_get);
    resolve(library, "cuDevicePrimaryCtxRetain", d.retain);
    resolve(library, "cuDevicePrimaryCtxRelease_v2", d.release);
    resolve(library, "cuCtxSetCurrent", d.set_current);
    resolve(library, "cuCtxSynchronize", d.synchronize);
    resolve(library, "cuMemAlloc_v2", d.alloc);
    resolve(library, "cuMemFree_v2", d.free);
    resolve(library, "cuMemcpyHtoD_v2", d.htod);
    resolve(library, "cuMemcpyDtoH_v2", d.dtoh);
    resolve(library, "cuMemsetD8_v2", d.memset);
    resolve(library, "cuEventCreate", d.event_create);
    resolve(library, "cuEventDestroy_v2", d.event_destroy);
    resolve(library, "cuEventRecord", d.event_record);
    resolve(library, "cuEventSynchronize", d.event_synchronize);
    resolve(library, "cuEventElapsedTime", d.event_elapsed);
    resolve(library, "cuGetErrorName", d.error_name);
    return d;
  }();
  return loaded;
}

void check(CUresult result, const char* call) {
  if (result == CUDA_SUCCESS) return;
  const char* name = nullptr;
  driver().error_name(result, &name);
  throw std::runtime_error(fmt::format("{} failed: {}", call, name != nullptr ? name : std::to_string(int(result))));
}

class CudaMemory final : public BenchMemory {
 public:
  CudaMemory(int ordinal, std::size_t flush_bytes) : d_(driver()), flush_bytes_(flush_bytes) {
    check(d_.init(0), "cuInit");
    check(d_.device_get(&device_, ordinal), "cuDeviceGet");
    check(d_.retain(&context_, device_), "cuDevicePrimaryCtxRetain");
    try {
      check(d_.set_current(context_), "cuCtxSetCurrent");
      check(d_.event_create(&start_, CU_EVENT_DEFAULT), "cuEventCreate");
      check(d_.event_create(&stop_, CU_EVENT_DEFAULT), "cuEventCreate");
      flush_ = reinterpret_cast<CUdeviceptr>(allocate(flush_bytes_));
    } catch (...) {
      free_all();  // the destructor does not run for a constructor that throws
      throw;
    }
  }
  ~CudaMemory() override { free_all(); }

  void* allocate(std::size_t bytes) override {
    CUdeviceptr address = 0;
    check(d_.alloc(&address, bytes == 0 ? 1 : bytes), "cuMemAlloc");
    buffers_.emplace(address, bytes);
    return reinterpret_cast<void*>(address);
  }
  void release(void* buffer) override {
    const auto address = reinterpret_cast<CUdeviceptr>(buffer);
    if (buffers_.erase(address) > 0) check(d_.free(address), "cuMemFree");
  }
  void upload(void* to, const void* from, std::size_t bytes) override {
    check(d_.htod(reinterpret_cast<CUdeviceptr>(to), from, bytes), "cuMemcpyHtoD");
  }
  void download(void* to, const void* from, std::size_t bytes) override {
    check(d_.dtoh(to, reinterpret_cast<CUdeviceptr>(from), bytes), "cuMemcpyDtoH");
  }
  void poison(void* buffer, std::size_t bytes) override {
    check(d_.memset(reinterpret_cast<CUdeviceptr>(buffer), 0xFF, bytes), "cuMemsetD8");
  }
  void flush_caches() override { check(d_.memset(flush_, ++flush_value_, flush_bytes_), "cuMemsetD8"); }
  double time_us(const std::function<void()>& run) override {
    check(d_.event_record(start_, nullptr), "cuEventRecord");
    run();
    check(d_.event_record(stop_, nullptr), "cuEventRecord");
    check(d_.event_synchronize(stop_), "cuEventSynchronize");
    float ms = 0.0f;
    check(d_.event_elapsed(&ms, start_, stop_), "cuEventElapsedTime");
    return double(ms) * 1000.0;
  }
  void synchronize() override { check(d_.synchronize(), "cuCtxSynchronize"); }

 private:
  void free_all() {
    for (const auto& [address, bytes] : buffers_) d_.free(address);
    if (start_ != nullptr) d_.event_destroy(start_);
    if (stop_ != nullptr) d_.event_destroy(stop_);
    d_.release(device_);
  }

  const Driver& d_;
  CUdevice device_ = 0;
  CUcontext context_ = nullptr;
  CUevent start_ = nullptr, stop_ = nullptr;
  std::size_t flush_bytes_;
  CUdeviceptr flush_ = 0;
  unsigned char flush_value_ = 0;
  std::map<CUdeviceptr, std::size_t> buffers_;
};

}  // namespace

std::unique_ptr<BenchMemory> make_cuda_memory(int ordinal, std::size_t flush_bytes) {
  return std::make_unique<CudaMemory>(ordinal, flush_bytes);
}

}  // namespace mf::tuner
