// What the template generators' CUDA C++ has in common: element type names, sizes, the
// register cap a launch bound sets, and the extern "C" entry points they write.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mf/compiler/generated_source.h"
#include "mf/ir/dtype.h"
#include "mf/ir/tile_config.h"

namespace mf::compiler {

int round_up(std::int64_t value, std::int64_t multiple);
// The templates' name of an element type ("mf::bf16"); throws kUnsupported for f64.
const char* element_type(ir::DType dtype);
int element_bytes(ir::DType dtype);
// The registers a thread may use when min_blocks blocks of `threads` share a
// multiprocessor's 64K; a cap far under the live accumulators can only spill.
int register_cap(int threads, int min_blocks);
// extern "C" __global__ void __launch_bounds__(threads, min_blocks) name(params p) { body }.
// The minimum of blocks per multiprocessor sets ptxas's register cap: 1 lifts the default
// cap (under which the fused kernels spill), more trade registers for occupancy.
std::string entry(const char* name, const char* params_type, int threads, const char* body, int min_blocks = 1);
// The module's check that a kernel's shared memory, as its template lays it out
// (mf::<layout><config>::kBytes), is what the host's launch plan allocates: a layout changed
// on one side only fails to compile instead of overrunning or wasting the allocation.
std::string shared_bytes_assert(const char* layout, const char* config_name, int bytes);
// A module named `name`: its instantiation is a line naming it and `params` (the only
// parameters its kernels read, so that configurations sharing a kernel share its source
// and cached binary) followed by `code`; its text is `templates` then the instantiation.
GeneratedSource generated_module(std::string name, const ir::TileConfig& params, const std::string& code,
                                 const std::string& templates, std::vector<std::string> entries);

}  // namespace mf::compiler
