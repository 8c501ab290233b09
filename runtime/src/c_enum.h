// Enum values that come from C callers. C lets an enum object hold any int, but in C++
// reading an enum whose value lies outside its enumerators' range is undefined (UBSan
// aborts on it), so the C API inspects such values as the integer they hold.
#pragma once

#include <cstring>
#include <type_traits>

namespace mf::runtime {

template <typename Enum>
int c_enum_value(const Enum& value) {
  static_assert(std::is_enum_v<Enum> && sizeof(Enum) == sizeof(int));
  int raw = 0;
  std::memcpy(&raw, &value, sizeof raw);
  return raw;
}

}  // namespace mf::runtime
