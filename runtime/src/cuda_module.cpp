#include "cuda_module.h"

#include <fmt/format.h>

#include <algorithm>

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

}  // namespace

void check_cuda(const char* call, CUresult result) {
  if (result == CUDA_SUCCESS) return;
  const CudaDriver& driver = cuda_driver();
  const char* name = nullptr;
  if (driver.execution.get_error_name == nullptr || driver.execution.get_error_name(result, &name) != CUDA_SUCCESS)
    name = nullptr;
  const mf_status status = result == CUDA_ERROR_OUT_OF_MEMORY ? MF_ERROR_OUT_OF_MEMORY : MF_ERROR_DEVICE;
  fail(status, describe_cuda_error(driver, call, result) + (name != nullptr ? fmt::format(" [{}]", name) : ""));
}

CudaPrimaryContext::CudaPrimaryContext(int ordinal) {
  const auto& run = execution();
  check_cuda("cuDeviceGet", cuda_driver().device_get(&device_, ordinal));
  check_cuda("cuDevicePrimaryCtxRetain", run.primary_ctx_retain(&context_, device_));
}

CudaPrimaryContext::~CudaPrimaryContext() {
  if (context_ != nullptr) cuda_driver().execution.primary_ctx_release(device_);
}

CudaContextScope::CudaContextScope(CUcontext context) { check_cuda("cuCtxPushCurrent", execution().ctx_push(context)); }

CudaContextScope::~CudaContextScope() {
  CUcontext popped = nullptr;
  cuda_driver().execution.ctx_pop(&popped);
}

CudaModule::CudaModule(const CudaPrimaryContext& context, const std::vector<char>& cubin) : context_(context.get()) {
  const CudaContextScope scope(context_);
  check_cuda("cuModuleLoadData", execution().module_load_data(&module_, cubin.data()));
}

CudaModule::~CudaModule() {
  if (module_ == nullptr) return;
  // Unloading needs the module's context current; failures cannot be reported here.
  const auto& run = cuda_driver().execution;
  if (run.ctx_push(context_) != CUDA_SUCCESS) return;
  run.module_unload(module_);
  CUcontext popped = nullptr;
  run.ctx_pop(&popped);
}

CudaKernel CudaModule::kernel(const std::string& name, int shared_bytes) const {
  const auto& run = execution();
  const CudaContextScope scope(context_);
  CudaKernel kernel{nullptr, name};
  check_cuda("cuModuleGetFunction", run.module_get_function(&kernel.function, module_, name.c_str()));
  check_cuda("cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)",
             run.func_set_attribute(kernel.function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, shared_bytes));
  return kernel;
}

const CudaModule& module_defining(const std::vector<LoadedModule>& modules, const std::string& entry) {
  for (const auto& loaded : modules)
    if (std::find(loaded.entries.begin(), loaded.entries.end(), entry) != loaded.entries.end()) return *loaded.module;
  fail(MF_ERROR_INTERNAL, fmt::format("the generated modules of the plan define no kernel {}", entry));
}

void launch(const CudaKernel& kernel, std::int64_t blocks, int threads_x, int threads_y, int shared_bytes,
            CUstream stream, const void* params, std::size_t params_size) {
  void* config[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, const_cast<void*>(params), CU_LAUNCH_PARAM_BUFFER_SIZE,
                    &params_size, CU_LAUNCH_PARAM_END};
  const CUresult result = execution().launch_kernel(kernel.function, static_cast<unsigned>(blocks), 1, 1,
                                                    static_cast<unsigned>(threads_x), static_cast<unsigned>(threads_y),
                                                    1, static_cast<unsigned>(shared_bytes), stream, nullptr, config);
  if (result != CUDA_SUCCESS) check_cuda(("cuLaunchKernel(" + kernel.name + ")").c_str(), result);
}

KernelSequence::KernelSequence(const std::vector<compiler::KernelLaunch>& launches, std::vector<LoadedModule> modules)
    : modules_(std::move(modules)) {
  for (const auto& launch : launches)
    kernels_.emplace_back(module_defining(modules_, launch.entry).kernel(launch.entry, launch.shared_bytes), launch);
}

void KernelSequence::launch(CUstream stream, const void* params, std::size_t params_size) const {
  for (const auto& [kernel, plan] : kernels_)
    mf::runtime::launch(kernel, plan.blocks, plan.threads_x, plan.threads_y, plan.shared_bytes, stream, params,
                        params_size);
}

}  // namespace mf::runtime
