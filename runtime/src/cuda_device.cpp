#include "cuda_device.h"

#include <fmt/format.h>

#include "cuda_driver.h"
#include "status.h"

namespace mf::runtime {
namespace {

const CudaDriver::Execution& execution() {
  const CudaDriver& driver = cuda_driver();
  if (!driver.available()) fail(MF_ERROR_BACKEND_UNAVAILABLE, "cuda backend unavailable: " + driver.unavailable_reason);
  if (!driver.execution.available())
    fail(MF_ERROR_BACKEND_UNAVAILABLE, "cuda backend cannot run kernels: " + driver.execution.unavailable_reason);
  return driver.execution;
}

// Makes a context current on this thread for a scope, restoring the caller's afterwards.
class ContextScope {
 public:
  explicit ContextScope(CUcontext context) { check_cuda("cuCtxPushCurrent", execution().ctx_push(context)); }
  ~ContextScope() {
    CUcontext popped = nullptr;
    cuda_driver().execution.ctx_pop(&popped);
  }
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;
};

// The device's primary context, retained for the life of the object; modules hold it.
class PrimaryContext {
 public:
  explicit PrimaryContext(int ordinal) {
    const auto& run = execution();
    check_cuda("cuDeviceGet", cuda_driver().device_get(&device_, ordinal));
    check_cuda("cuDevicePrimaryCtxRetain", run.primary_ctx_retain(&context_, device_));
  }
  ~PrimaryContext() {
    if (context_ != nullptr) cuda_driver().execution.primary_ctx_release(device_);
  }
  PrimaryContext(const PrimaryContext&) = delete;
  PrimaryContext& operator=(const PrimaryContext&) = delete;
  CUcontext get() const { return context_; }

 private:
  CUdevice device_ = 0;
  CUcontext context_ = nullptr;
};

class CudaModule final : public GpuModule {
 public:
  CudaModule(std::shared_ptr<const PrimaryContext> context, const std::vector<char>& cubin)
      : context_(std::move(context)) {
    const ContextScope scope(context_->get());
    check_cuda("cuModuleLoadData", execution().module_load_data(&module_, cubin.data()));
  }

  ~CudaModule() override {
    if (module_ == nullptr) return;
    // Unloading needs the module's context current; failures cannot be reported here.
    const auto& run = cuda_driver().execution;
    if (run.ctx_push(context_->get()) != CUDA_SUCCESS) return;
    run.module_unload(module_);
    CUcontext popped = nullptr;
    run.ctx_pop(&popped);
  }
  CudaModule(const CudaModule&) = delete;
  CudaModule& operator=(const CudaModule&) = delete;

  GpuKernel kernel(const std::string& name, int shared_bytes) const override {
    const auto& run = execution();
    const ContextScope scope(context_->get());
    CUfunction function = nullptr;
    check_cuda("cuModuleGetFunction", run.module_get_function(&function, module_, name.c_str()));
    check_cuda("cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)",
               run.func_set_attribute(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, shared_bytes));
    return {function, name};
  }

 private:
  std::shared_ptr<const PrimaryContext> context_;
  CUmodule module_ = nullptr;
};

class CudaDevice final : public GpuDevice {
 public:
  explicit CudaDevice(int ordinal) : context_(std::make_shared<const PrimaryContext>(ordinal)) {}

  std::shared_ptr<const GpuModule> load(const std::vector<char>& code_object) const override {
    return std::make_shared<const CudaModule>(context_, code_object);
  }

  void launch(const GpuKernel& kernel, std::int64_t blocks, int threads_x, int threads_y, int shared_bytes,
              void* stream, const void* params, std::size_t params_size) const override {
    void* config[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, const_cast<void*>(params), CU_LAUNCH_PARAM_BUFFER_SIZE,
                      &params_size, CU_LAUNCH_PARAM_END};
    const ContextScope scope(context_->get());
    const CUresult result = execution().launch_kernel(
        static_cast<CUfunction>(kernel.function), static_cast<unsigned>(blocks), 1, 1, static_cast<unsigned>(threads_x),
        static_cast<unsigned>(threads_y), 1, static_cast<unsigned>(shared_bytes), static_cast<CUstream>(stream),
        nullptr, config);
    if (result != CUDA_SUCCESS) check_cuda(("cuLaunchKernel(" + kernel.name + ")").c_str(), result);
  }

  void zero_async(void* data, std::size_t words, void* stream, const char* what) const override {
    const ContextScope scope(context_->get());
    const CUresult result = execution().memset_d32_async(reinterpret_cast<CUdeviceptr>(data), 0, words,
                                                         static_cast<CUstream>(stream));
    if (result != CUDA_SUCCESS) check_cuda(fmt::format("cuMemsetD32Async({})", what).c_str(), result);
  }

 private:
  std::shared_ptr<const PrimaryContext> context_;
};

}  // namespace

std::shared_ptr<const GpuDevice> open_cuda_device(int ordinal) { return std::make_shared<const CudaDevice>(ordinal); }

}  // namespace mf::runtime
