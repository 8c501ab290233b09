#include "hip_device.h"

#include <fmt/format.h>

#include "hip_runtime.h"
#include "status.h"

namespace mf::runtime {
namespace {

const HipRuntime::Execution& execution() {
  const HipRuntime& hip = hip_runtime();
  if (!hip.unavailable_reason.empty()) fail(MF_ERROR_BACKEND_UNAVAILABLE, "hip backend unavailable: " + hip.unavailable_reason);
  if (!hip.execution.available())
    fail(MF_ERROR_BACKEND_UNAVAILABLE, "hip backend cannot run kernels: " + hip.execution.unavailable_reason);
  return hip.execution;
}

// Makes `ordinal` the current device on this thread for a scope, restoring the caller's.
class DeviceScope {
 public:
  explicit DeviceScope(int ordinal) {
    const auto& run = execution();
    check_hip("hipGetDevice", run.get_device(&previous_));
    if (previous_ != ordinal) check_hip("hipSetDevice", run.set_device(ordinal));
    else previous_ = -1;  // nothing to restore
  }
  ~DeviceScope() {
    if (previous_ >= 0) static_cast<void>(hip_runtime().execution.set_device(previous_));
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = -1;
};

class HipModule final : public GpuModule {
 public:
  HipModule(int ordinal, const std::vector<char>& code_object) : ordinal_(ordinal) {
    const DeviceScope scope(ordinal_);
    check_hip("hipModuleLoadData", execution().module_load_data(&module_, code_object.data()));
  }
  ~HipModule() override {
    if (module_ == nullptr) return;
    // Failures cannot be reported here.
    const auto& run = hip_runtime().execution;
    int previous = -1;
    if (run.get_device(&previous) != hipSuccess || run.set_device(ordinal_) != hipSuccess) return;
    static_cast<void>(run.module_unload(module_));
    static_cast<void>(run.set_device(previous));
  }
  HipModule(const HipModule&) = delete;
  HipModule& operator=(const HipModule&) = delete;

  // AMD GPUs need no opt-in for dynamic LDS: a workgroup may use all of it (64 KiB), which
  // the generators' AMD parameter spaces respect.
  GpuKernel kernel(const std::string& name, int /*shared_bytes*/) const override {
    const DeviceScope scope(ordinal_);
    hipFunction_t function = nullptr;
    check_hip("hipModuleGetFunction(" + name + ")", execution().module_get_function(&function, module_, name.c_str()));
    return {function, name};
  }

 private:
  int ordinal_;
  hipModule_t module_ = nullptr;
};

class HipDevice final : public GpuDevice {
 public:
  explicit HipDevice(int ordinal) : ordinal_(ordinal) { execution(); }

  std::shared_ptr<const GpuModule> load(const std::vector<char>& code_object) const override {
    return std::make_shared<const HipModule>(ordinal_, code_object);
  }

  void launch(const GpuKernel& kernel, std::int64_t blocks, int threads_x, int threads_y, int shared_bytes,
              void* stream, const void* params, std::size_t params_size) const override {
    void* config[] = {HIP_LAUNCH_PARAM_BUFFER_POINTER, const_cast<void*>(params), HIP_LAUNCH_PARAM_BUFFER_SIZE,
                      &params_size, HIP_LAUNCH_PARAM_END};
    const DeviceScope scope(ordinal_);
    check_hip("hipModuleLaunchKernel(" + kernel.name + ")",
              execution().module_launch_kernel(static_cast<hipFunction_t>(kernel.function),
                                               static_cast<unsigned>(blocks), 1, 1, static_cast<unsigned>(threads_x),
                                               static_cast<unsigned>(threads_y), 1, static_cast<unsigned>(shared_bytes),
                                               static_cast<hipStream_t>(stream), nullptr, config));
  }

  void zero_async(void* data, std::size_t words, void* stream, const char* what) const override {
    const DeviceScope scope(ordinal_);
    check_hip(fmt::format("hipMemsetD32Async({})", what),
              execution().memset_d32_async(data, 0, words, static_cast<hipStream_t>(stream)));
  }

 private:
  int ordinal_;
};

}  // namespace

std::shared_ptr<const GpuDevice> open_hip_device(int ordinal) { return std::make_shared<const HipDevice>(ordinal); }

}  // namespace mf::runtime
