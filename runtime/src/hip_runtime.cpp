#include "hip_runtime.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "status.h"

namespace mf::runtime {


namespace {

template <typename Function>
bool resolve(void* library, const std::string& path, const char* symbol, Function& function, std::string& missing) {
  function = reinterpret_cast<Function>(dlsym(library, symbol));
  if (function == nullptr) missing = fmt::format("the HIP runtime {} lacks {}", path, symbol);
  return function != nullptr;
}

std::vector<std::string> candidate_paths() {
  const char* override_path = std::getenv("MFJIT_HIP_RUNTIME");
  if (override_path != nullptr && *override_path != '\0') return {override_path};
  return {"libamdhip64.so.6", "libamdhip64.so.5"};
}

HipRuntime load() {
  HipRuntime hip;
  void* library = nullptr;
  std::string path;
  for (const std::string& candidate : candidate_paths()) {
    // Never closed: the runtime stays loaded for the life of the process.
    library = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library != nullptr) {
      path = candidate;
      break;
    }
    const char* error = dlerror();
    hip.unavailable_reason += fmt::format("{}cannot load the HIP runtime {}: {}", hip.unavailable_reason.empty() ? "" : "; ",
                                          candidate, error != nullptr ? error : "unknown reason");
  }
  if (library == nullptr) return hip;
  hip.unavailable_reason.clear();
  std::string& missing = hip.unavailable_reason;
  if (!(resolve(library, path, "hipInit", hip.init, missing) &&
        resolve(library, path, "hipGetDeviceCount", hip.get_device_count, missing) &&
        resolve(library, path, "hipGetDeviceProperties", hip.get_device_properties, missing) &&
        resolve(library, path, "hipDriverGetVersion", hip.driver_get_version, missing) &&
        resolve(library, path, "hipGetErrorString", hip.get_error_string, missing)))
    return hip;
  auto& run = hip.execution;
  std::string& absent = run.unavailable_reason;
  resolve(library, path, "hipGetDevice", run.get_device, absent) &&
      resolve(library, path, "hipSetDevice", run.set_device, absent) &&
      resolve(library, path, "hipModuleLoadData", run.module_load_data, absent) &&
      resolve(library, path, "hipModuleUnload", run.module_unload, absent) &&
      resolve(library, path, "hipModuleGetFunction", run.module_get_function, absent) &&
      resolve(library, path, "hipModuleLaunchKernel", run.module_launch_kernel, absent) &&
      resolve(library, path, "hipMemsetD32Async", run.memset_d32_async, absent) &&
      resolve(library, path, "hipGetErrorName", run.get_error_name, absent);
  auto& memory = hip.memory;
  std::string& lacking = memory.unavailable_reason;
  resolve(library, path, "hipSetDevice", memory.set_device, lacking) &&
      resolve(library, path, "hipDeviceSynchronize", memory.device_synchronize, lacking) &&
      resolve(library, path, "hipMalloc", memory.alloc, lacking) &&
      resolve(library, path, "hipFree", memory.free, lacking) &&
      resolve(library, path, "hipMemcpyHtoD", memory.memcpy_htod, lacking) &&
      resolve(library, path, "hipMemcpyDtoH", memory.memcpy_dtoh, lacking) &&
      resolve(library, path, "hipMemset", memory.memset, lacking) &&
      resolve(library, path, "hipEventCreate", memory.event_create, lacking) &&
      resolve(library, path, "hipEventDestroy", memory.event_destroy, lacking) &&
      resolve(library, path, "hipEventRecord", memory.event_record, lacking) &&
      resolve(library, path, "hipEventSynchronize", memory.event_synchronize, lacking) &&
      resolve(library, path, "hipEventElapsedTime", memory.event_elapsed_time, lacking) &&
      resolve(library, path, "hipGetErrorName", memory.get_error_name, lacking);
  if (hipError_t result = hip.init(0); result != hipSuccess) hip.unavailable_reason = describe_hip_error(hip, "hipInit", result);
  return hip;
}

const HipRuntime& available_runtime() {
  const HipRuntime& hip = hip_runtime();
  if (!hip.unavailable_reason.empty()) fail(MF_ERROR_BACKEND_UNAVAILABLE, "hip backend unavailable: " + hip.unavailable_reason);
  return hip;
}

}  // namespace

const HipRuntime& hip_runtime() {
  static const HipRuntime hip = load();
  return hip;
}

const std::string& hip_unavailable_reason() { return hip_runtime().unavailable_reason; }

std::string describe_hip_error(const HipRuntime& hip, const char* call, hipError_t result) {
  const char* text = hip.get_error_string != nullptr ? hip.get_error_string(result) : nullptr;
  // hipGetErrorName is in both groups: either may be the one the caller could resolve.
  const auto get_name = hip.execution.get_error_name != nullptr ? hip.execution.get_error_name : hip.memory.get_error_name;
  const char* name = get_name != nullptr ? get_name(result) : nullptr;
  return fmt::format("{} failed with hipError_t {}{} ({})", call, static_cast<int>(result),
                     name != nullptr ? fmt::format(" [{}]", name) : "", text != nullptr ? text : "unknown error");
}

void check_hip(const std::string& call, hipError_t result) {
  if (result == hipSuccess) return;
  const mf_status status = result == hipErrorOutOfMemory ? MF_ERROR_OUT_OF_MEMORY : MF_ERROR_DEVICE;
  fail(status, describe_hip_error(hip_runtime(), call.c_str(), result));
}

int hip_device_count() {
  const HipRuntime& hip = hip_runtime();
  int count = 0;
  if (!hip.unavailable_reason.empty() || hip.get_device_count(&count) != hipSuccess) return 0;
  return count;
}

mf_device_info hip_device_info(int ordinal) {
  const HipRuntime& hip = available_runtime();
  const int count = hip_device_count();
  if (ordinal < 0 || ordinal >= count)
    fail(MF_ERROR_BACKEND_UNAVAILABLE,
         fmt::format("device: HIP device {} requested, but the runtime reports {} device(s)", ordinal, count));
  hipDeviceProp_t properties{};
  if (hipError_t result = hip.get_device_properties(&properties, ordinal); result != hipSuccess)
    fail(MF_ERROR_DEVICE, describe_hip_error(hip, "hipGetDeviceProperties", result));
  mf_device_info info{};
  fmt::format_to_n(info.name, sizeof info.name - 1, "{}", properties.name);
  // "gfx90a:sramecc+:xnack-": the target features after the colons are not the arch.
  const std::string arch(properties.gcnArchName, strnlen(properties.gcnArchName, sizeof properties.gcnArchName));
  fmt::format_to_n(info.arch, sizeof info.arch - 1, "{}", arch.substr(0, arch.find(':')));
  info.multiprocessors = properties.multiProcessorCount;
  info.memory_bytes = static_cast<std::int64_t>(properties.totalGlobalMem);
  info.l2_cache_bytes = properties.l2CacheSize;
  if (hipError_t result = hip.driver_get_version(&info.driver_version); result != hipSuccess)
    fail(MF_ERROR_DEVICE, describe_hip_error(hip, "hipDriverGetVersion", result));
  return info;
}

}  // namespace mf::runtime
