// One GPU as the runners use it, whichever vendor's runtime drives it (cuda_device.h,
// hip_device.h): modules loaded from compiled code objects, their kernels launched on the
// caller's stream, workspace zeroed on that stream. Every call makes the device current for
// its own duration and restores the caller's device afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mf/compiler/kernel_launch.h"

namespace mf::runtime {

struct GpuKernel {
  void* function = nullptr;  // CUfunction or hipFunction_t
  std::string name;
};

class GpuModule {
 public:
  virtual ~GpuModule() = default;
  // Looks up an entry point and allows it `shared_bytes` of dynamic shared memory; throws
  // MF_ERROR_DEVICE naming the call when the runtime refuses.
  virtual GpuKernel kernel(const std::string& name, int shared_bytes) const = 0;
};

class GpuDevice {
 public:
  virtual ~GpuDevice() = default;
  // Throws MF_ERROR_DEVICE naming the call when the runtime rejects the code object.
  virtual std::shared_ptr<const GpuModule> load(const std::vector<char>& code_object) const = 0;
  // Launches a 1-D grid of `threads_x` × `threads_y` blocks with the kernel's single by-value
  // parameter block.
  virtual void launch(const GpuKernel& kernel, std::int64_t blocks, int threads_x, int threads_y, int shared_bytes,
                      void* stream, const void* params, std::size_t params_size) const = 0;
  // Zeroes `words` 32-bit words at `data`, ordered on `stream`; `what` names the region in errors.
  virtual void zero_async(void* data, std::size_t words, void* stream, const char* what) const = 0;
};

// A loaded module and the entry points it defines: a plan's kernels may come from several.
struct LoadedModule {
  std::shared_ptr<const GpuModule> module;
  std::vector<std::string> entries;
};

// A plan's kernels looked up in its modules (kept loaded while the sequence lives) and
// launched in plan order on a stream, each with the same by-value parameter block.
class KernelSequence {
 public:
  KernelSequence(std::shared_ptr<const GpuDevice> device, const std::vector<compiler::KernelLaunch>& launches,
                 std::vector<LoadedModule> modules);
  void launch(void* stream, const void* params, std::size_t params_size) const;
  const GpuDevice& device() const { return *device_; }

 private:
  std::shared_ptr<const GpuDevice> device_;
  std::vector<LoadedModule> modules_;
  std::vector<std::pair<GpuKernel, compiler::KernelLaunch>> kernels_;
};

// The workspace bytes at `offset` as T*; null when the region is empty (`bytes` 0), so that
// kernels skip what the plan did not carve out.
template <class T>
T* workspace_at(void* workspace, std::size_t offset, std::size_t bytes) {
  return bytes == 0 ? nullptr : reinterpret_cast<T*>(static_cast<unsigned char*>(workspace) + offset);
}

}  // namespace mf::runtime
