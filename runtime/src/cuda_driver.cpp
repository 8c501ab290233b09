#include "cuda_driver.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdlib>

#include "status.h"

namespace mf::runtime {
namespace {

template <typename Function>
bool resolve(void* library, const char* symbol, Function& function, std::string& missing) {
  function = reinterpret_cast<Function>(dlsym(library, symbol));
  if (function == nullptr) missing = std::string("the CUDA driver lacks ") + symbol;
  return function != nullptr;
}

CudaDriver load() {
  CudaDriver driver;
  const char* override_path = std::getenv("MFJIT_CUDA_DRIVER");
  const char* path = override_path != nullptr && *override_path != '\0' ? override_path : "libcuda.so.1";
  // Never closed: the driver stays loaded for the life of the process, as CUDA expects.
  void* library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* reason = dlerror();
    driver.unavailable_reason = std::string("cannot load the CUDA driver ") + path + ": " +
                                (reason != nullptr ? reason : "unknown reason");
    return driver;
  }
  std::string& missing = driver.unavailable_reason;
  resolve(library, "cuInit", driver.init, missing) &&
      resolve(library, "cuDriverGetVersion", driver.driver_get_version, missing) &&
      resolve(library, "cuDeviceGetCount", driver.device_get_count, missing) &&
      resolve(library, "cuDeviceGet", driver.device_get, missing) &&
      resolve(library, "cuDeviceGetName", driver.device_get_name, missing) &&
      resolve(library, "cuDeviceGetAttribute", driver.device_get_attribute, missing) &&
      resolve(library, "cuDeviceTotalMem_v2", driver.device_total_mem, missing) &&
      resolve(library, "cuGetErrorString", driver.get_error_string, missing);
  if (!driver.available()) return driver;
  auto& run = driver.execution;
  std::string& absent = run.unavailable_reason;
  resolve(library, "cuDevicePrimaryCtxRetain", run.primary_ctx_retain, absent) &&
      resolve(library, "cuDevicePrimaryCtxRelease_v2", run.primary_ctx_release, absent) &&
      resolve(library, "cuCtxPushCurrent_v2", run.ctx_push, absent) &&
      resolve(library, "cuCtxPopCurrent_v2", run.ctx_pop, absent) &&
      resolve(library, "cuModuleLoadData", run.module_load_data, absent) &&
      resolve(library, "cuModuleUnload", run.module_unload, absent) &&
      resolve(library, "cuModuleGetFunction", run.module_get_function, absent) &&
      resolve(library, "cuFuncSetAttribute", run.func_set_attribute, absent) &&
      resolve(library, "cuLaunchKernel", run.launch_kernel, absent) &&
      resolve(library, "cuMemsetD32Async", run.memset_d32_async, absent) &&
      resolve(library, "cuGetErrorName", run.get_error_name, absent);
  auto& memory = driver.memory;
  std::string& lacking = memory.unavailable_reason;
  resolve(library, "cuDevicePrimaryCtxRetain", memory.primary_ctx_retain, lacking) &&
      resolve(library, "cuDevicePrimaryCtxRelease_v2", memory.primary_ctx_release, lacking) &&
      resolve(library, "cuCtxSetCurrent", memory.ctx_set_current, lacking) &&
      resolve(library, "cuCtxSynchronize", memory.ctx_synchronize, lacking) &&
      resolve(library, "cuMemAlloc_v2", memory.mem_alloc, lacking) &&
      resolve(library, "cuMemFree_v2", memory.mem_free, lacking) &&
      resolve(library, "cuMemcpyHtoD_v2", memory.memcpy_htod, lacking) &&
      resolve(library, "cuMemcpyDtoH_v2", memory.memcpy_dtoh, lacking) &&
      resolve(library, "cuMemsetD8_v2", memory.memset_d8, lacking) &&
      resolve(library, "cuEventCreate", memory.event_create, lacking) &&
      resolve(library, "cuEventDestroy_v2", memory.event_destroy, lacking) &&
      resolve(library, "cuEventRecord", memory.event_record, lacking) &&
      resolve(library, "cuEventSynchronize", memory.event_synchronize, lacking) &&
      resolve(library, "cuEventElapsedTime", memory.event_elapsed_time, lacking) &&
      resolve(library, "cuGetErrorName", memory.get_error_name, lacking);
  if (CUresult result = driver.init(0); result != CUDA_SUCCESS)
    driver.unavailable_reason = describe_cuda_error(driver, "cuInit", result);
  return driver;
}

}  // namespace

const CudaDriver& cuda_driver() {
  static const CudaDriver driver = load();
  return driver;
}

std::string describe_cuda_error(const CudaDriver& driver, const char* call, CUresult result) {
  const char* text = nullptr;
  if (driver.get_error_string == nullptr || driver.get_error_string(result, &text) != CUDA_SUCCESS ||
      text == nullptr)
    text = "unknown error";
  return std::string(call) + " failed with CUresult " + std::to_string(static_cast<int>(result)) + " (" + text + ")";
}

void check_cuda(const char* call, CUresult result) {
  if (result == CUDA_SUCCESS) return;
  const CudaDriver& driver = cuda_driver();
  // cuGetErrorName is in both groups: either may be the one the caller could resolve.
  const auto get_name = driver.execution.get_error_name != nullptr ? driver.execution.get_error_name
                                                                   : driver.memory.get_error_name;
  const char* name = nullptr;
  if (get_name == nullptr || get_name(result, &name) != CUDA_SUCCESS) name = nullptr;
  const mf_status status = result == CUDA_ERROR_OUT_OF_MEMORY ? MF_ERROR_OUT_OF_MEMORY : MF_ERROR_DEVICE;
  fail(status, describe_cuda_error(driver, call, result) + (name != nullptr ? fmt::format(" [{}]", name) : ""));
}

}  // namespace mf::runtime
