// What the GPU tests of the tile primitives share: the CUDA driver entry points they need
// to load a module compiled from the templates and launch its kernels (loaded with dlopen,
// so that the tests build and skip where no GPU is present), and element encodings.
#pragma once

#include <cuda.h>

#include <string>
#include <vector>

namespace mf::gpu {

struct Driver {
  decltype(&::cuInit) init;
  decltype(&::cuDeviceGetAttribute) attribute;
  decltype(&::cuModuleLoadData) load;
  decltype(&::cuModuleGetFunction) function;
  decltype(&::cuFuncSetAttribute) set_attribute;
  decltype(&::cuLaunchKernel) launch;
};

// The driver of device 0; throws std::runtime_error where there is none.
Driver driver();
// Throws std::runtime_error naming the call when result is not CUDA_SUCCESS.
void check(CUresult result, const char* call);
// "sm_90a"-style NVRTC architecture of device 0.
std::string device_arch(const Driver& d);
// Values as bf16, f16 (2 bytes each) or f32 (4 bytes), by type name.
std::vector<char> encode(const std::vector<float>& values, const std::string& type);

}  // namespace mf::gpu
