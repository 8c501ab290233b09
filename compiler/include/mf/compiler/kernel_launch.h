// One launch of a generated kernel, as a generator's launch plan lists it and the runtime's
// GPU device launches it; every template generator (and the runtime) speaks it.
#pragma once

#include <cstdint>
#include <string>

namespace mf::compiler {

// One launch of a generated kernel; blocks and shared bytes depend on the problem's sizes.
struct KernelLaunch {
  std::string entry;  // the extern "C" name in the module
  int threads_x = 0, threads_y = 1;
  std::int64_t blocks = 0;
  int shared_bytes = 0;  // dynamic shared memory
};

}  // namespace mf::compiler
