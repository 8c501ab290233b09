// The HIP runtime, loaded at run time with dlopen so that mfjit loads and runs where ROCm
// is missing. $MFJIT_HIP_RUNTIME names the library to load instead of libamdhip64.so.6 and
// libamdhip64.so.5 (for unusual installs, and for the tests).
#pragma once

#ifndef __HIP_PLATFORM_AMD__
#define __HIP_PLATFORM_AMD__ 1
#endif
#include <hip/hip_runtime_api.h>

#include <cstddef>
#include <string>

#include "mfjit/mfjit.h"

namespace mf::runtime {

struct HipRuntime {
  decltype(&::hipInit) init = nullptr;
  decltype(&::hipGetDeviceCount) get_device_count = nullptr;
  // hipDeviceProp_t as HIP 5 lays it out; ROCm 6 keeps exporting this symbol with that
  // layout (its own is hipGetDevicePropertiesR0600).
  decltype(&::hipGetDeviceProperties) get_device_properties = nullptr;
  decltype(&::hipDriverGetVersion) driver_get_version = nullptr;
  decltype(&::hipGetErrorString) get_error_string = nullptr;
  std::string unavailable_reason;

  // Running kernels: resolved separately, so that device discovery works with runtimes
  // (and the tests' fake) that only report devices.
  struct Execution {
    decltype(&::hipGetDevice) get_device = nullptr;
    decltype(&::hipSetDevice) set_device = nullptr;
    decltype(&::hipModuleLoadData) module_load_data = nullptr;
    decltype(&::hipModuleUnload) module_unload = nullptr;
    decltype(&::hipModuleGetFunction) module_get_function = nullptr;
    decltype(&::hipModuleLaunchKernel) module_launch_kernel = nullptr;
    decltype(&::hipMemsetD32Async) memset_d32_async = nullptr;
    decltype(&::hipGetErrorName) get_error_name = nullptr;
    std::string unavailable_reason;
    bool available() const { return unavailable_reason.empty(); }
  } execution;

  // Device memory and event timing for callers that hold buffers of their own (the tuner's
  // bench, through mf/runtime/device_memory.h): resolved apart from execution, so that a
  // runtime lacking them still runs plans, and so that they come from this one dlopen.
  struct Memory {
    decltype(&::hipSetDevice) set_device = nullptr;
    decltype(&::hipDeviceSynchronize) device_synchronize = nullptr;
    hipError_t (*alloc)(void**, std::size_t) = nullptr;  // hipMalloc: C++ adds a template overload
    decltype(&::hipFree) free = nullptr;
    decltype(&::hipMemcpyHtoD) memcpy_htod = nullptr;
    decltype(&::hipMemcpyDtoH) memcpy_dtoh = nullptr;
    decltype(&::hipMemset) memset = nullptr;
    decltype(&::hipEventCreate) event_create = nullptr;
    decltype(&::hipEventDestroy) event_destroy = nullptr;
    decltype(&::hipEventRecord) event_record = nullptr;
    decltype(&::hipEventSynchronize) event_synchronize = nullptr;
    decltype(&::hipEventElapsedTime) event_elapsed_time = nullptr;
    decltype(&::hipGetErrorName) get_error_name = nullptr;
    std::string unavailable_reason;
    bool available() const { return unavailable_reason.empty(); }
  } memory;
};

// Loads and initialises the runtime once per process; never throws.
const HipRuntime& hip_runtime();
// Why the HIP runtime cannot be used ("" when it can): the library missing or incomplete,
// or hipInit failing (no device, no driver).
const std::string& hip_unavailable_reason();

// 0 where the runtime is missing or reports no device.
int hip_device_count();
// Throws MF_ERROR_BACKEND_UNAVAILABLE naming why when the runtime or the device is absent.
mf_device_info hip_device_info(int ordinal);

// "hipModuleLoadData failed with hipError_t 200 [hipErrorInvalidImage] (invalid image)".
std::string describe_hip_error(const HipRuntime& hip, const char* call, hipError_t result);

// Unless `result` is hipSuccess, throws MF_ERROR_DEVICE (MF_ERROR_OUT_OF_MEMORY when the
// device is out of memory) naming `call` and the runtime's error.
void check_hip(const std::string& call, hipError_t result);

}  // namespace mf::runtime
