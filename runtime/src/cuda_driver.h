// The CUDA driver API, loaded at run time with dlopen so that mfjit loads and runs on the
// cpu where libcuda.so.1 is missing. $MFJIT_CUDA_DRIVER names another library to load
// (for unusual installs, and for the tests' fake driver).
#pragma once

#include <cuda.h>

#include <string>

namespace mf::runtime {

struct CudaDriver {
  decltype(&::cuInit) init = nullptr;
  decltype(&::cuDriverGetVersion) driver_get_version = nullptr;
  decltype(&::cuDeviceGetCount) device_get_count = nullptr;
  decltype(&::cuDeviceGet) device_get = nullptr;
  decltype(&::cuDeviceGetName) device_get_name = nullptr;
  decltype(&::cuDeviceGetAttribute) device_get_attribute = nullptr;
  decltype(&::cuDeviceTotalMem_v2) device_total_mem = nullptr;
  decltype(&::cuGetErrorString) get_error_string = nullptr;

  // Why the driver is not usable ("" when it is).
  std::string unavailable_reason;
  bool available() const { return unavailable_reason.empty(); }

  // Running kernels: resolved separately, so that device discovery works with drivers
  // (and the tests' fake) that only report devices.
  struct Execution {
    decltype(&::cuDevicePrimaryCtxRetain) primary_ctx_retain = nullptr;
    decltype(&::cuDevicePrimaryCtxRelease_v2) primary_ctx_release = nullptr;
    decltype(&::cuCtxPushCurrent_v2) ctx_push = nullptr;
    decltype(&::cuCtxPopCurrent_v2) ctx_pop = nullptr;
    decltype(&::cuModuleLoadData) module_load_data = nullptr;
    decltype(&::cuModuleUnload) module_unload = nullptr;
    decltype(&::cuModuleGetFunction) module_get_function = nullptr;
    decltype(&::cuFuncSetAttribute) func_set_attribute = nullptr;
    decltype(&::cuLaunchKernel) launch_kernel = nullptr;
    decltype(&::cuMemsetD32Async) memset_d32_async = nullptr;
    decltype(&::cuGetErrorName) get_error_name = nullptr;
    std::string unavailable_reason;
    bool available() const { return unavailable_reason.empty(); }
  } execution;
};

// Loads and initialises the driver once per process; never throws.
const CudaDriver& cuda_driver();

// "cuDeviceGetName failed: CUDA_ERROR_INVALID_DEVICE (invalid device ordinal)".
std::string describe_cuda_error(const CudaDriver& driver, const char* call, CUresult result);

}  // namespace mf::runtime
