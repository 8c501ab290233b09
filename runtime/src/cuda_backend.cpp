#include "cuda_backend.h"

#include <fmt/format.h>

#include <cstdlib>
#include <string_view>

#include "cuda_device.h"
#include "cuda_driver.h"
#include "gpu_backend.h"
#include "mf/compiler/nvrtc.h"
#include "status.h"

namespace mf::runtime {
namespace {

void check(const CudaDriver& driver, const char* call, CUresult result) {
  if (result != CUDA_SUCCESS) fail(MF_ERROR_DEVICE, describe_cuda_error(driver, call, result));
}

int attribute(const CudaDriver& driver, CUdevice device, CUdevice_attribute which, const char* name) {
  int value = 0;
  check(driver, name, driver.device_get_attribute(&value, which, device));
  return value;
}

const CudaDriver& available_driver() {
  const CudaDriver& driver = cuda_driver();
  if (!driver.available()) fail(MF_ERROR_BACKEND_UNAVAILABLE, "cuda backend unavailable: " + driver.unavailable_reason);
  return driver;
}

compiler::Target target_of(int ordinal) {
  const CudaDriver& driver = available_driver();
  CUdevice device = 0;
  check(driver, "cuDeviceGet", driver.device_get(&device, ordinal));
  compiler::Target target;
  target.arch = compiler::nvrtc_arch(
      attribute(driver, device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "cuDeviceGetAttribute"),
      attribute(driver, device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "cuDeviceGetAttribute"));
  target.multiprocessors = attribute(driver, device, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "cuDeviceGetAttribute");
  target.max_shared_per_block =
      attribute(driver, device, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, "cuDeviceGetAttribute");
  return target;
}

// MFJIT_TILE_PRIMITIVES=lanes: the template kernels built with the per-lane products,
// loads and synchronous copies that AMD GPUs run (templates/cuda/vendor.cuh), so that the
// GPU tests check the AMD path's logic on NVIDIA GPUs.
bool lanes_requested() {
  const char* value = std::getenv("MFJIT_TILE_PRIMITIVES");
  return value != nullptr && std::string_view(value) == "lanes";
}

std::vector<char> nvrtc_compile(const std::string& source, const std::string& name, const std::string& arch) {
  const compiler::Nvrtc& nvrtc = compiler::Nvrtc::instance();
  if (!nvrtc.available()) fail(MF_ERROR_BACKEND_UNAVAILABLE, "cuda backend cannot compile: " + nvrtc.unavailable_reason());
  return nvrtc.compile(source, name, arch).cubin;
}

}  // namespace

int cuda_device_count() {
  const CudaDriver& driver = cuda_driver();
  int count = 0;
  if (!driver.available() || driver.device_get_count(&count) != CUDA_SUCCESS) return 0;
  return count;
}

mf_device_info cuda_device_info(int ordinal) {
  const CudaDriver& driver = available_driver();
  const int count = cuda_device_count();
  if (ordinal < 0 || ordinal >= count)
    fail(MF_ERROR_BACKEND_UNAVAILABLE,
         fmt::format("device: CUDA device {} requested, but the driver reports {} device(s)", ordinal, count));
  CUdevice device = 0;
  check(driver, "cuDeviceGet", driver.device_get(&device, ordinal));
  mf_device_info info{};
  check(driver, "cuDeviceGetName", driver.device_get_name(info.name, sizeof info.name, device));
  const int major = attribute(driver, device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "cuDeviceGetAttribute");
  const int minor = attribute(driver, device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "cuDeviceGetAttribute");
  fmt::format_to_n(info.arch, sizeof info.arch - 1, "sm_{}{}", major, minor);
  info.multiprocessors = attribute(driver, device, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "cuDeviceGetAttribute");
  info.l2_cache_bytes = attribute(driver, device, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, "cuDeviceGetAttribute");
  std::size_t memory = 0;
  check(driver, "cuDeviceTotalMem", driver.device_total_mem(&memory, device));
  info.memory_bytes = static_cast<std::int64_t>(memory);
  check(driver, "cuDriverGetVersion", driver.driver_get_version(&info.driver_version));
  return info;
}

std::unique_ptr<Backend> create_cuda_backend(int ordinal, const std::string& cache_dir) {
  GpuVendor cuda;
  cuda.kind = MF_BACKEND_CUDA;
  cuda.name = "cuda";
  cuda.device = cuda_device_info(ordinal);
  cuda.target = target_of(ordinal);
  cuda.compiler = "nvrtc";
  cuda.compiler_version = compiler::Nvrtc::instance().version();
  cuda.compile = [arch = cuda.target.arch](const std::string& source, const std::string& name) {
    return nvrtc_compile(source, name, arch);
  };
  static const bool lanes = lanes_requested();
  if (lanes) cuda.prelude = "#define MF_TILE_LANES 1\n";
  cuda.open = [ordinal] { return open_cuda_device(ordinal); };
  return create_gpu_backend(std::move(cuda), cache_dir + "/kernels");
}

}  // namespace mf::runtime
