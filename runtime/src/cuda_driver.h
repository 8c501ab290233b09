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

  // Device memory and event timing for callers that hold buffers of their own (the tuner's
  // bench, through mf/runtime/device_memory.h): resolved apart from execution, so that a
  // driver lacking them still runs plans, and so that they come from this one dlopen.
  struct Memory {
    decltype(&::cuDevicePrimaryCtxRetain) primary_ctx_retain = nullptr;
    decltype(&::cuDevicePrimaryCtxRelease_v2) primary_ctx_release = nullptr;
    decltype(&::cuCtxSetCurrent) ctx_set_current = nullptr;
    decltype(&::cuCtxSynchronize) ctx_synchronize = nullptr;
    decltype(&::cuMemAlloc_v2) mem_alloc = nullptr;
    decltype(&::cuMemFree_v2) mem_free = nullptr;
    decltype(&::cuMemcpyHtoD_v2) memcpy_htod = nullptr;
    decltype(&::cuMemcpyDtoH_v2) memcpy_dtoh = nullptr;
    decltype(&::cuMemsetD8_v2) memset_d8 = nullptr;
    decltype(&::cuEventCreate) event_create = nullptr;
    decltype(&::cuEventDestroy_v2) event_destroy = nullptr;
    decltype(&::cuEventRecord) event_record = nullptr;
    decltype(&::cuEventSynchronize) event_synchronize = nullptr;
    decltype(&::cuEventElapsedTime) event_elapsed_time = nullptr;
    decltype(&::cuGetErrorName) get_error_name = nullptr;
    std::string unavailable_reason;
    bool available() const { return unavailable_reason.empty(); }
  } memory;
};

// Loads and initialises the driver once per process; never throws.
const CudaDriver& cuda_driver();

// "cuDeviceGetName failed: CUDA_ERROR_INVALID_DEVICE (invalid device ordinal)".
std::string describe_cuda_error(const CudaDriver& driver, const char* call, CUresult result);

// Unless `result` is CUDA_SUCCESS, throws MF_ERROR_DEVICE (MF_ERROR_OUT_OF_MEMORY when the
// device is out of memory) naming `call`, the driver's text and the error's name.
void check_cuda(const char* call, CUresult result);

}  // namespace mf::runtime
