#include "mf/compiler/target.h"

namespace mf::compiler {

std::string nvrtc_arch(int major, int minor) {
  std::string arch = "sm_" + std::to_string(major) + std::to_string(minor);
  // The "a" targets unlock the architecture-specific instructions (wgmma, setmaxnreg).
  if (major == 9 && minor == 0) arch += "a";
  return arch;
}

}  // namespace mf::compiler
