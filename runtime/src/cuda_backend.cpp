#include "cuda_backend.h"

#include <fmt/format.h>

#include "cuda_driver.h"
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

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int ordinal) : device_(cuda_device_info(ordinal)) {}

  mf_backend kind() const override { return MF_BACKEND_CUDA; }
  const mf_device_info& device() const override { return device_; }
  std::string generator_for(const ir::Problem& problem) const override { no_generator(problem); }
  ir::TileConfig default_config(const ir::Problem& problem) const override { no_generator(problem); }
  std::unique_ptr<Executable> build(const ir::Problem& problem, const ir::TileConfig&) override {
    no_generator(problem);
  }

 private:
  [[noreturn]] static void no_generator(const ir::Problem& problem) {
    fail(MF_ERROR_UNSUPPORTED, fmt::format("the cuda backend has no kernel generator for {} yet; "
                                           "create the context with MF_BACKEND_CPU to run on the host",
                                           ir::op_name(problem.op)));
  }

  mf_device_info device_;
};

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

std::unique_ptr<Backend> create_cuda_backend(int ordinal) { return std::make_unique<CudaBackend>(ordinal); }

}  // namespace mf::runtime
