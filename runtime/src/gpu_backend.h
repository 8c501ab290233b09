// The GPU backends (cuda, hip): one backend over what each vendor brings — its device, the
// run-time compiler of the template kernels and the runtime that loads and launches them
// (gpu_device.h). The generators, their parameter spaces (sized by the target) and the
// runners are the same for both.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "gpu_device.h"
#include "mf/compiler/target.h"

namespace mf::runtime {

struct GpuVendor {
  mf_backend kind = MF_BACKEND_CUDA;
  std::string name;  // "cuda", "hip": in messages
  mf_device_info device{};
  compiler::Target target;
  // The template kernels' compiler: its name and version ("nvrtc", "13.0"), which key the
  // binary cache and the tuning results, and a compile of one translation unit for
  // target.arch. `templates_unavailable` says why it cannot build for this device ("" when
  // it can); the MLIR generator then serves every problem.
  std::string compiler;
  std::string compiler_version;
  std::function<std::vector<char>(const std::string& source, const std::string& name)> compile;
  std::string templates_unavailable;
  // Prepended to every template source (MFJIT_TILE_PRIMITIVES=lanes on cuda).
  std::string prelude;
  // The device's runtime, opened on first use: plans need it, device queries do not.
  std::function<std::shared_ptr<const GpuDevice>()> open;
};

// Compiled kernels are cached under cache_dir.
std::unique_ptr<Backend> create_gpu_backend(GpuVendor vendor, const std::string& cache_dir);

}  // namespace mf::runtime
