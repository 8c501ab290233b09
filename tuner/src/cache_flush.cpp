#include "cache_flush.h"

#include <algorithm>

namespace mf::tuner {

std::int64_t last_level_cache_bytes(std::string_view arch, std::int64_t l2_bytes) {
  // gfx940, gfx941, gfx942: MI300A/X, 256 MiB of Infinity Cache.
  constexpr std::int64_t kMi300InfinityCache = std::int64_t{256} << 20;
  if (arch.starts_with("gfx94")) return std::max(l2_bytes, kMi300InfinityCache);
  return l2_bytes;
}

std::size_t cache_flush_bytes(std::string_view arch, std::int64_t l2_bytes) {
  return static_cast<std::size_t>(std::max<std::int64_t>(last_level_cache_bytes(arch, l2_bytes), 1 << 20)) * 2;
}

}  // namespace mf::tuner
