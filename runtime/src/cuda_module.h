// A compiled module on a CUDA device: loaded into the device's primary context (the one
// PyTorch and the runtime API use, so callers' streams belong to it), its kernels looked
// up once, and launched on the caller's stream.
#pragma once

#include <cuda.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mf/compiler/evo_attention_generator.h"  // KernelLaunch

namespace mf::runtime {

// The device's primary context, retained for the life of the object.
class CudaPrimaryContext {
 public:
  explicit CudaPrimaryContext(int ordinal);
  ~CudaPrimaryContext();
  CudaPrimaryContext(const CudaPrimaryContext&) = delete;
  CudaPrimaryContext& operator=(const CudaPrimaryContext&) = delete;
  CUcontext get() const { return context_; }

 private:
  CUdevice device_ = 0;
  CUcontext context_ = nullptr;
};

// Makes a context current on this thread for a scope, restoring the caller's afterwards.
class CudaContextScope {
 public:
  explicit CudaContextScope(CUcontext context);
  ~CudaContextScope();
  CudaContextScope(const CudaContextScope&) = delete;
  CudaContextScope& operator=(const CudaContextScope&) = delete;
};

struct CudaKernel {
  CUfunction function = nullptr;
  std::string name;
};

class CudaModule {
 public:
  // Throws MF_ERROR_DEVICE naming the call when the driver rejects the binary.
  CudaModule(const CudaPrimaryContext& context, const std::vector<char>& cubin);
  ~CudaModule();
  CudaModule(const CudaModule&) = delete;
  CudaModule& operator=(const CudaModule&) = delete;

  // Looks up an entry point and allows it `shared_bytes` of dynamic shared memory.
  CudaKernel kernel(const std::string& name, int shared_bytes) const;

 private:
  CUcontext context_;
  CUmodule module_ = nullptr;
};

// A loaded module and the entry points it defines: a plan's kernels may come from several.
struct LoadedModule {
  std::shared_ptr<const CudaModule> module;
  std::vector<std::string> entries;
};
// The module of `modules` that defines `entry`; MF_ERROR_INTERNAL when none does.
const CudaModule& module_defining(const std::vector<LoadedModule>& modules, const std::string& entry);

// Launches on `stream` with the kernel's single by-value parameter block.
void launch(const CudaKernel& kernel, std::int64_t blocks, int threads_x, int threads_y, int shared_bytes,
            CUstream stream, const void* params, std::size_t params_size);

// A plan's kernels looked up in its modules (kept loaded while the sequence lives) and
// launched in plan order on a stream, each with the same by-value parameter block.
class KernelSequence {
 public:
  KernelSequence(const std::vector<compiler::KernelLaunch>& launches, std::vector<LoadedModule> modules);
  void launch(CUstream stream, const void* params, std::size_t params_size) const;

 private:
  std::vector<LoadedModule> modules_;
  std::vector<std::pair<CudaKernel, compiler::KernelLaunch>> kernels_;
};

// The workspace bytes at `offset` as T*; null when the region is empty (`bytes` 0), so that
// kernels skip what the plan did not carve out.
template <class T>
T* workspace_at(void* workspace, std::size_t offset, std::size_t bytes) {
  return bytes == 0 ? nullptr : reinterpret_cast<T*>(static_cast<unsigned char*>(workspace) + offset);
}

// Throws MF_ERROR_DEVICE naming `call` unless `result` is success.
void check_cuda(const char* call, CUresult result);

}  // namespace mf::runtime
