#include "gpu/raw_kernels.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "mf/compiler/target.h"

namespace mf::gpu {
namespace {

template <class F>
void resolve(void* library, const char* name, F& f) {
  f = reinterpret_cast<F>(dlsym(library, name));
  if (f == nullptr) throw std::runtime_error(std::string("libcuda lacks ") + name);
}

}  // namespace

Driver driver() {
  void* library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) throw std::runtime_error("cannot load libcuda.so.1");
  Driver d{};
  resolve(library, "cuInit", d.init);
  resolve(library, "cuDeviceGetAttribute", d.attribute);
  resolve(library, "cuModuleLoadData", d.load);
  resolve(library, "cuModuleGetFunction", d.function);
  resolve(library, "cuFuncSetAttribute", d.set_attribute);
  resolve(library, "cuLaunchKernel", d.launch);
  if (d.init(0) != CUDA_SUCCESS) throw std::runtime_error("cuInit failed: no device");
  return d;
}

void check(CUresult result, const char* call) {
  if (result != CUDA_SUCCESS) throw std::runtime_error(fmt::format("{} failed: {}", call, int(result)));
}

std::string device_arch(const Driver& d) {
  int major = 0, minor = 0;
  check(d.attribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0), "cuDeviceGetAttribute");
  check(d.attribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0), "cuDeviceGetAttribute");
  return compiler::nvrtc_arch(major, minor);
}

std::vector<char> encode(const std::vector<float>& values, const std::string& type) {
  std::vector<char> bytes;
  for (float x : values) {
    if (type == "f32") {
      bytes.insert(bytes.end(), reinterpret_cast<const char*>(&x), reinterpret_cast<const char*>(&x) + 4);
    } else {
      std::uint16_t bits = 0;
      if (type == "bf16") {
        std::uint32_t all = 0;
        std::memcpy(&all, &x, 4);
        bits = std::uint16_t(all >> 16);
      } else {
        const _Float16 h = static_cast<_Float16>(x);
        std::memcpy(&bits, &h, 2);
      }
      bytes.insert(bytes.end(), reinterpret_cast<const char*>(&bits), reinterpret_cast<const char*>(&bits) + 2);
    }
  }
  return bytes;
}

}  // namespace mf::gpu
