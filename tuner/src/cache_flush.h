// How many bytes a bench writes between trials so that no input is left in the device's
// caches: twice the last-level cache. That is L2 on NVIDIA GPUs and on MI200; MI300's
// Infinity Cache (256 MB, the last level, behind the 4 MB L2s) is not reported by
// hipDeviceProp_t, hence a table by arch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mf::tuner {

// The last-level cache of a device of `arch` ("sm_90", "gfx942") whose runtime reports
// `l2_bytes` of L2.
std::int64_t last_level_cache_bytes(std::string_view arch, std::int64_t l2_bytes);

// Twice the last-level cache, at least 2 MiB.
std::size_t cache_flush_bytes(std::string_view arch, std::int64_t l2_bytes);

}  // namespace mf::tuner
