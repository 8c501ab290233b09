// The device a generator writes code for.
#pragma once

#include <string>

namespace mf::compiler {

struct Target {
  std::string arch;                      // NVRTC's name ("sm_90a", "sm_80") or hipRTC's ("gfx90a")
  int multiprocessors = 1;               // sizes the backward's split over S (AMD: compute units)
  int max_shared_per_block = 48 * 1024;  // the opt-in limit of the device (AMD: 64 KiB of LDS)

  // An AMD GPU: the templates compile as HIP C++ (templates/cuda/vendor.cuh).
  bool amd() const { return arch.rfind("gfx", 0) == 0; }
};

// The architecture to compile for on a device of compute capability major.minor:
// Hopper gets sm_90a so that wgmma and setmaxnreg are available.
std::string nvrtc_arch(int major, int minor);

}  // namespace mf::compiler
