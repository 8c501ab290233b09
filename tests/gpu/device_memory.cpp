#include "gpu/device_memory.h"

#include <cuda.h>
#include <dlfcn.h>

#include <stdexcept>
#include <string>

namespace mf::gpu {

struct DeviceMemory::Api {
  decltype(&::cuDevicePrimaryCtxRetain) retain = nullptr;
  decltype(&::cuCtxSetCurrent) set_current = nullptr;
  decltype(&::cuMemAlloc_v2) alloc = nullptr;
  decltype(&::cuMemFree_v2) free = nullptr;
  decltype(&::cuMemcpyHtoD_v2) htod = nullptr;
  decltype(&::cuMemcpyDtoH_v2) dtoh = nullptr;
  decltype(&::cuMemsetD8_v2) memset = nullptr;
  decltype(&::cuCtxSynchronize) synchronize = nullptr;
};

namespace {

void check(CUresult result, const char* call) {
  if (result != CUDA_SUCCESS) throw std::runtime_error(std::string(call) + " failed: " + std::to_string(int(result)));
}

template <class F>
void resolve(void* library, const char* name, F& f) {
  f = reinterpret_cast<F>(dlsym(library, name));
  if (f == nullptr) throw std::runtime_error(std::string("libcuda lacks ") + name);
}

}  // namespace

DeviceMemory::DeviceMemory() : api_(std::make_shared<Api>()) {
  void* library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) throw std::runtime_error("cannot load libcuda.so.1");
  resolve(library, "cuDevicePrimaryCtxRetain", api_->retain);
  resolve(library, "cuCtxSetCurrent", api_->set_current);
  resolve(library, "cuMemAlloc_v2", api_->alloc);
  resolve(library, "cuMemFree_v2", api_->free);
  resolve(library, "cuMemcpyHtoD_v2", api_->htod);
  resolve(library, "cuMemcpyDtoH_v2", api_->dtoh);
  resolve(library, "cuMemsetD8_v2", api_->memset);
  resolve(library, "cuCtxSynchronize", api_->synchronize);
  CUcontext context = nullptr;
  check(api_->retain(&context, 0), "cuDevicePrimaryCtxRetain");
  check(api_->set_current(context), "cuCtxSetCurrent");
}

DeviceBuffer DeviceMemory::allocate(std::size_t bytes) {
  CUdeviceptr address = 0;
  check(api_->alloc(&address, bytes == 0 ? 1 : bytes), "cuMemAlloc");
  auto api = api_;
  return {address, std::shared_ptr<void>(reinterpret_cast<void*>(address), [api](void* p) {
            api->free(reinterpret_cast<CUdeviceptr>(p));
          })};
}

void DeviceMemory::upload(const DeviceBuffer& to, const void* from, std::size_t bytes) {
  check(api_->htod(to.address, from, bytes), "cuMemcpyHtoD");
}

void DeviceMemory::download(void* to, const DeviceBuffer& from, std::size_t bytes) {
  check(api_->dtoh(to, from.address, bytes), "cuMemcpyDtoH");
}

void DeviceMemory::poison(const DeviceBuffer& buffer, std::size_t bytes) {
  check(api_->memset(buffer.address, 0xFF, bytes), "cuMemsetD8");
}

void DeviceMemory::synchronize() { check(api_->synchronize(), "cuCtxSynchronize"); }

}  // namespace mf::gpu
