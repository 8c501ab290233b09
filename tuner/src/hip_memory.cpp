// An AMD GPU's bench memory: device allocations, copies and fills through the HIP runtime
// (loaded with dlopen from $MFJIT_HIP_RUNTIME, libamdhip64.so.6 or .so.5, as the runtime
// loads it), and event timing on the default stream, which the bench's executions use.
#define __HIP_PLATFORM_AMD__ 1
#include <dlfcn.h>
#include <fmt/format.h>
#include <hip/hip_runtime_api.h>

#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "mf/tuner/capi_bench.h"

namespace mf::tuner {
namespace {

struct Hip {
  decltype(&::hipSetDevice) set_device = nullptr;
  decltype(&::hipDeviceSynchronize) synchronize = nullptr;
  hipError_t (*alloc)(void**, std::size_t) = nullptr;  // hipMalloc: C++ adds a template overload
  decltype(&::hipFree) free = nullptr;
  decltype(&::hipMemcpyHtoD) htod = nullptr;
  decltype(&::hipMemcpyDtoH) dtoh = nullptr;
  decltype(&::hipMemset) memset = nullptr;
  decltype(&::hipEventCreate) event_create = nullptr;
  decltype(&::hipEventDestroy) event_destroy = nullptr;
  decltype(&::hipEventRecord) event_record = nullptr;
  decltype(&::hipEventSynchronize) event_synchronize = nullptr;
  decltype(&::hipEventElapsedTime) event_elapsed = nullptr;
  decltype(&::hipGetErrorName) error_name = nullptr;
};

template <class F>
void resolve(void* library, const char* name, F& f) {
  f = reinterpret_cast<F>(dlsym(library, name));
  if (f == nullptr) throw std::runtime_error(fmt::format("the HIP runtime lacks {}, which the tuner's bench needs", name));
}

void* open_runtime() {
  const char* path = std::getenv("MFJIT_HIP_RUNTIME");
  const std::vector<std::string> candidates = path != nullptr && *path != '\0'
                                                  ? std::vector<std::string>{path}
                                                  : std::vector<std::string>{"libamdhip64.so.6", "libamdhip64.so.5"};
  std::string reasons;
  for (const auto& candidate : candidates) {
    if (void* library = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL)) return library;
    const char* error = dlerror();
    reasons += fmt::format("{}{}", reasons.empty() ? "" : "; ", error != nullptr ? error : candidate);
  }
  throw std::runtime_error("cannot load the HIP runtime: " + reasons);
}

const Hip& hip() {
  static const Hip loaded = [] {
    void* library = open_runtime();  // never closed, as the runtime's own copy
    Hip h;
    resolve(library, "hipSetDevice", h.set_device);
    resolve(library, "hipDeviceSynchronize", h.synchronize);
    resolve(library, "hipMalloc", h.alloc);
    resolve(library, "hipFree", h.free);
    resolve(library, "hipMemcpyHtoD", h.htod);
    resolve(library, "hipMemcpyDtoH", h.dtoh);
    resolve(library, "hipMemset", h.memset);
    resolve(library, "hipEventCreate", h.event_create);
    resolve(library, "hipEventDestroy", h.event_destroy);
    resolve(library, "hipEventRecord", h.event_record);
    resolve(library, "hipEventSynchronize", h.event_synchronize);
    resolve(library, "hipEventElapsedTime", h.event_elapsed);
    resolve(library, "hipGetErrorName", h.error_name);
    return h;
  }();
  return loaded;
}

void check(hipError_t result, const char* call) {
  if (result == hipSuccess) return;
  const char* name = hip().error_name(result);
  throw std::runtime_error(fmt::format("{} failed: {}", call, name != nullptr ? name : std::to_string(int(result))));
}

class HipMemory final : public BenchMemory {
 public:
  HipMemory(int ordinal, std::size_t flush_bytes) : h_(hip()), ordinal_(ordinal), flush_bytes_(flush_bytes) {
    check(h_.set_device(ordinal_), "hipSetDevice");
    try {
      check(h_.event_create(&start_), "hipEventCreate");
      check(h_.event_create(&stop_), "hipEventCreate");
      flush_ = allocate(flush_bytes_);
    } catch (...) {
      free_all();  // the destructor does not run for a constructor that throws
      throw;
    }
  }
  ~HipMemory() override { free_all(); }

  void* allocate(std::size_t bytes) override {
    void* address = nullptr;
    check(h_.alloc(&address, bytes == 0 ? 1 : bytes), "hipMalloc");
    buffers_.emplace(address, bytes);
    return address;
  }
  void release(void* buffer) override {
    if (buffers_.erase(buffer) > 0) check(h_.free(buffer), "hipFree");
  }
  void upload(void* to, const void* from, std::size_t bytes) override {
    check(h_.htod(to, const_cast<void*>(from), bytes), "hipMemcpyHtoD");
  }
  void download(void* to, const void* from, std::size_t bytes) override {
    check(h_.dtoh(to, const_cast<void*>(from), bytes), "hipMemcpyDtoH");
  }
  void poison(void* buffer, std::size_t bytes) override { check(h_.memset(buffer, 0xFF, bytes), "hipMemset"); }
  void flush_caches() override { check(h_.memset(flush_, ++flush_value_, flush_bytes_), "hipMemset"); }
  double time_us(const std::function<void()>& run) override {
    check(h_.event_record(start_, nullptr), "hipEventRecord");
    run();
    check(h_.event_record(stop_, nullptr), "hipEventRecord");
    check(h_.event_synchronize(stop_), "hipEventSynchronize");
    float ms = 0.0f;
    check(h_.event_elapsed(&ms, start_, stop_), "hipEventElapsedTime");
    return double(ms) * 1000.0;
  }
  void synchronize() override { check(h_.synchronize(), "hipDeviceSynchronize"); }

 private:
  void free_all() {
    for (const auto& [address, bytes] : buffers_) static_cast<void>(h_.free(address));
    if (start_ != nullptr) static_cast<void>(h_.event_destroy(start_));
    if (stop_ != nullptr) static_cast<void>(h_.event_destroy(stop_));
  }

  const Hip& h_;
  int ordinal_;
  std::size_t flush_bytes_;
  hipEvent_t start_ = nullptr, stop_ = nullptr;
  void* flush_ = nullptr;
  int flush_value_ = 0;
  std::map<void*, std::size_t> buffers_;
};

}  // namespace

std::unique_ptr<BenchMemory> make_hip_memory(int ordinal, std::size_t flush_bytes) {
  return std::make_unique<HipMemory>(ordinal, flush_bytes);
}

}  // namespace mf::tuner
