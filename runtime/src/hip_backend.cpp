#include "hip_backend.h"


#include "gpu_backend.h"
#include "hip_device.h"
#include "hip_runtime.h"
#include "mf/compiler/hiprtc.h"
#include "status.h"

namespace mf::runtime {
namespace {

// Every AMD GPU gives a workgroup 64 KiB of LDS.
constexpr int kLdsBytes = 64 * 1024;

// Each compile runs in a worker process of its own (compiler/hiprtc.h), any number at once.
std::vector<char> hiprtc_compile(const std::string& source, const std::string& name, const std::string& arch) {
  return compiler::HipRtc::instance().compile(source, name, arch).code;
}

// Why hipRTC cannot build the templates for `arch` ("" when it can).
std::string templates_unavailable(const std::string& arch) {
  const compiler::HipRtc& hiprtc = compiler::HipRtc::instance();
  if (!hiprtc.available()) return hiprtc.unavailable_reason();
  if (!hiprtc.compiles_for(arch)) return "hipRTC " + hiprtc.version() + " cannot compile for " + arch;
  return "";
}

}  // namespace

std::unique_ptr<Backend> create_hip_backend(int ordinal, const std::string& cache_dir) {
  GpuVendor hip;
  hip.kind = MF_BACKEND_HIP;
  hip.name = "hip";
  hip.device = hip_device_info(ordinal);
  hip.target.arch = hip.device.arch;
  hip.target.multiprocessors = hip.device.multiprocessors;
  hip.target.max_shared_per_block = kLdsBytes;
  hip.compiler = "hiprtc";
  hip.compiler_version = compiler::HipRtc::instance().version();
  hip.compile = [arch = hip.target.arch](const std::string& source, const std::string& name) {
    return hiprtc_compile(source, name, arch);
  };
  hip.templates_unavailable = templates_unavailable(hip.target.arch);
  hip.open = [ordinal] { return open_hip_device(ordinal); };
  return create_gpu_backend(std::move(hip), cache_dir + "/kernels");
}

}  // namespace mf::runtime
