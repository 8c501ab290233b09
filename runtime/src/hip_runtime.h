// The HIP runtime, loaded at run time with dlopen so that mfjit loads and runs where ROCm
// is missing. $MFJIT_HIP_RUNTIME names the library to load instead of libamdhip64.so.6 and
// libamdhip64.so.5 (for unusual installs, and for the tests).
//
// Today it finds and describes devices; running kernels on them (module load, launch on
// the caller's stream, events) is the hip backend's next step (docs/hip.md).
#pragma once

#include <string>

#include "mfjit/mfjit.h"

namespace mf::runtime {

struct HipRuntime;

// Loads and initialises the runtime once per process; never throws.
const HipRuntime& hip_runtime();
// Why the HIP runtime cannot be used ("" when it can): the library missing or incomplete,
// or hipInit failing (no device, no driver).
const std::string& hip_unavailable_reason();

// 0 where the runtime is missing or reports no device.
int hip_device_count();
// Throws MF_ERROR_BACKEND_UNAVAILABLE naming why when the runtime or the device is absent.
mf_device_info hip_device_info(int ordinal);

}  // namespace mf::runtime
