// The lowercase names of the IR's enums and the "a, b or c" lists of messages, shared by
// validation, the JSON form and the problem key so that all of them spell every value the
// same way. Private to ir/src.
#pragma once

#include <fmt/format.h>

#include <array>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mf/ir/direction.h"
#include "mf/ir/dtype.h"
#include "mf/ir/error.h"
#include "mf/ir/evo_attention.h"

namespace mf::ir::detail {

template <class Enum>
struct EnumName {
  Enum value;
  std::string_view name;
};

inline constexpr std::array<EnumName<MaskKind>, 3> kMaskKindNames = {{
    {MaskKind::kNone, "none"},
    {MaskKind::kBoolean, "boolean"},
    {MaskKind::kAdditive, "additive"},
}};

inline constexpr std::array<EnumName<DBiasMode>, 2> kDBiasModeNames = {{
    {DBiasMode::kDeterministic, "deterministic"},
    {DBiasMode::kFast, "fast"},
}};

inline constexpr std::array<EnumName<Pass>, 2> kPassNames = {{
    {Pass::kForward, "forward"},
    {Pass::kBackward, "backward"},
}};

inline const auto& names_of(MaskKind) { return kMaskKindNames; }
inline const auto& names_of(DBiasMode) { return kDBiasModeNames; }
inline const auto& names_of(Pass) { return kPassNames; }

// What a value of the enum is called in messages ("mask kind").
inline std::string_view enum_title(MaskKind) { return "mask kind"; }
inline std::string_view enum_title(DBiasMode) { return "dbias mode"; }
inline std::string_view enum_title(Pass) { return "pass"; }

template <class Enum>
std::optional<std::string_view> find_enum_name(Enum value) {
  for (const auto& entry : names_of(value))
    if (entry.value == value) return entry.name;
  return std::nullopt;
}

template <class Enum>
bool is_known_enum(Enum value) {
  return find_enum_name(value).has_value();
}

// Throws kInvalidArgument for a value outside the enum (a cast from a C integer).
template <class Enum>
std::string_view enum_name(Enum value) {
  if (auto name = find_enum_name(value)) return *name;
  fail(ErrorKind::kInvalidArgument,
       fmt::format("{} {} is not a known value", enum_title(value), static_cast<int>(value)));
}

template <class Enum>
std::optional<Enum> parse_enum(std::string_view name) {
  for (const auto& entry : names_of(Enum{}))
    if (entry.name == name) return entry.value;
  return std::nullopt;
}

// "a, b or c": a list of alternatives, for messages.
template <class Range>
std::string choice_list(const Range& names) {
  std::string text;
  const std::size_t count = std::size(names);
  std::size_t i = 0;
  for (const auto& name : names) {
    if (i > 0) text += i + 1 == count ? " or " : ", ";
    text += name;
    ++i;
  }
  return text;
}

inline constexpr std::array<DType, 5> kAllDTypes = {DType::kBool, DType::kF16, DType::kBF16, DType::kF32, DType::kF64};

// "bool, f16, bf16, f32 or f64".
inline std::string dtype_choices() {
  std::vector<std::string_view> names;
  for (DType dtype : kAllDTypes) names.push_back(name_of(dtype));
  return choice_list(names);
}

// "none, boolean or additive": the spellings of an enum's values.
template <class Enum>
std::string enum_choices() {
  std::vector<std::string_view> names;
  for (const auto& entry : names_of(Enum{})) names.push_back(entry.name);
  return choice_list(names);
}

}  // namespace mf::ir::detail
