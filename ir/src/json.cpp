#include "mf/ir/json.h"

#include <fmt/format.h>

#include <concepts>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "enum_names.h"
#include "mf/ir/error.h"

// Every descriptor is written and read through one list of its fields (describe_fields),
// so the two directions cannot drift apart. Readers carry the JSON path of the value they
// read ("problem.desc.q.shape[2]") for their messages and check each type before
// converting, so no nlohmann exception is ever thrown for bad input.
namespace mf::ir {
namespace {

using nlohmann::json;

[[noreturn]] void malformed(const std::string& path, std::string_view rule) {
  fail(ErrorKind::kInvalidArgument, fmt::format("{}: {}", path, rule));
}

std::string child_path(const std::string& path, std::string_view key) { return fmt::format("{}.{}", path, key); }

// Every reader, declared up front: the templates below call them for dependent types, and
// argument-dependent lookup would not find overloads in this unnamed namespace.
template <class T>
concept Described = std::same_as<T, TensorDesc> || std::same_as<T, Direction> || std::same_as<T, EvoAttention> ||
    std::same_as<T, LayerNormLinear> || std::same_as<T, Transition>;
template <class T>
concept NamedEnum = std::is_enum_v<T> && !std::same_as<T, DType>;

void read(const json& j, const std::string& path, std::int64_t& out);
void read(const json& j, const std::string& path, std::uint32_t& out);
void read(const json& j, const std::string& path, double& out);
void read(const json& j, const std::string& path, std::string& out);
void read(const json& j, const std::string& path, std::vector<std::int64_t>& out);
void read(const json& j, const std::string& path, DType& out);
template <NamedEnum Enum>
void read(const json& j, const std::string& path, Enum& out);
template <Described T>
void read(const json& j, const std::string& path, T& out);
void read(const json& j, const std::string& path, TileConfig& out);
void read(const json& j, const std::string& path, Problem& out);

// ---- objects -------------------------------------------------------------------------------

// Reads the fields of one JSON object and rejects the fields nobody asked for, so that a
// misspelt optional field is an error instead of a silently absent tensor.
class ObjectReader {
 public:
  ObjectReader(const json& j, std::string path) : json_(j), path_(std::move(path)) {
    if (!j.is_object()) malformed(path_, "expected an object");
  }

  // A field that must be present.
  template <class T>
  void operator()(std::string_view key, T& out) {
    read(required(key), path_of(key), out);
  }

  // An optional field; absent or null reads as std::nullopt.
  template <class T>
  void operator()(std::string_view key, std::optional<T>& out) {
    out.reset();
    const json* value = find(key);
    if (value == nullptr || value->is_null()) return;
    read(*value, path_of(key), out.emplace());
  }

  // A field with a default: absent keeps `out` as it is.
  template <class T>
  void defaulted(std::string_view key, T& out) {
    if (const json* value = find(key)) read(*value, path_of(key), out);
  }

  const json& required(std::string_view key) {
    const json* value = find(key);
    if (value == nullptr) malformed(path_of(key), "missing required field");
    return *value;
  }

  std::string path_of(std::string_view key) const { return child_path(path_, key); }

  void reject_unknown_fields() const {
    for (const auto& [key, value] : json_.items())
      if (!used_.contains(key)) malformed(path_of(key), "unknown field");
  }

 private:
  const json* find(std::string_view key) {
    used_.emplace(key);
    auto it = json_.find(key);
    return it == json_.end() ? nullptr : &*it;
  }

  const json& json_;
  std::string path_;
  std::set<std::string, std::less<>> used_;
};

// Writes the same fields; optional fields only when present, enums by name.
class ObjectWriter {
 public:
  explicit ObjectWriter(json& j) : json_(j) { json_ = json::object(); }

  template <class T>
  void operator()(std::string_view key, const T& value) {
    json_[std::string(key)] = encode(value);
  }
  template <class T>
  void operator()(std::string_view key, const std::optional<T>& value) {
    if (value) (*this)(key, *value);
  }
  template <class T>
  void defaulted(std::string_view key, const T& value) {
    (*this)(key, value);
  }

 private:
  template <class T>
  static json encode(const T& value) {
    if constexpr (NamedEnum<T>)
      return std::string(detail::enum_name(value));
    else
      return value;
  }

  json& json_;
};

// ---- the field lists -----------------------------------------------------------------------
// One list per type serves both directions (Desc is T or const T). Tensors are required or
// optional by their C++ type; scalars with a documented default (scale, eps, the enums,
// gradients) may be omitted.

template <class Desc, class T>
concept ViewOf = std::same_as<std::remove_const_t<Desc>, T>;

template <ViewOf<TensorDesc> Desc, class Fields>
void describe_fields(Desc& desc, Fields& fields) {
  fields("dtype", desc.dtype);
  fields("shape", desc.shape);
  fields("strides", desc.strides);
}

template <ViewOf<Direction> Desc, class Fields>
void describe_fields(Desc& direction, Fields& fields) {
  fields("pass", direction.pass);
  fields.defaulted("gradients", direction.gradients);
}

template <ViewOf<EvoAttention> Desc, class Fields>
void describe_fields(Desc& op, Fields& fields) {
  fields("q", op.q);
  fields("k", op.k);
  fields("v", op.v);
  fields("bias", op.bias);
  fields.defaulted("mask_kind", op.mask_kind);
  fields("mask", op.mask);
  fields.defaulted("scale", op.scale);
  fields("o", op.o);
  fields("lse", op.lse);
  fields("d_o", op.d_o);
  fields("d_q", op.d_q);
  fields("d_k", op.d_k);
  fields("d_v", op.d_v);
  fields("d_bias", op.d_bias);
  fields.defaulted("dbias_mode", op.dbias_mode);
}

template <ViewOf<LayerNormLinear> Desc, class Fields>
void describe_fields(Desc& op, Fields& fields) {
  fields("x", op.x);
  fields("gamma", op.gamma);
  fields("beta", op.beta);
  fields("weight", op.weight);
  fields("bias", op.bias);
  fields.defaulted("eps", op.eps);
  fields("y", op.y);
  fields("mean", op.mean);
  fields("rstd", op.rstd);
  fields("d_y", op.d_y);
  fields("d_x", op.d_x);
  fields("d_gamma", op.d_gamma);
  fields("d_beta", op.d_beta);
  fields("d_weight", op.d_weight);
  fields("d_bias", op.d_bias);
}

template <ViewOf<Transition> Desc, class Fields>
void describe_fields(Desc& op, Fields& fields) {
  fields("x", op.x);
  fields("gamma", op.gamma);
  fields("beta", op.beta);
  fields("w1", op.w1);
  fields("w2", op.w2);
  fields.defaulted("eps", op.eps);
  fields("y", op.y);
  fields("mean", op.mean);
  fields("rstd", op.rstd);
  fields("d_y", op.d_y);
  fields("d_x", op.d_x);
  fields("d_gamma", op.d_gamma);
  fields("d_beta", op.d_beta);
  fields("d_w1", op.d_w1);
  fields("d_w2", op.d_w2);
}

template <class T>
void write_object(json& j, const T& value) {
  ObjectWriter fields(j);
  describe_fields(value, fields);
}

// ---- readers -------------------------------------------------------------------------------

void read(const json& j, const std::string& path, std::int64_t& out) {
  if (!j.is_number_integer()) malformed(path, "expected an integer");
  if (j.is_number_unsigned() &&
      j.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    malformed(path, "integer out of the int64 range");
  out = j.get<std::int64_t>();
}

void read(const json& j, const std::string& path, std::uint32_t& out) {
  const bool fits = j.is_number_unsigned() ? j.get<std::uint64_t>() <= std::numeric_limits<std::uint32_t>::max()
                                           : j.is_number_integer() && j.get<std::int64_t>() >= 0;
  if (!fits) malformed(path, "expected an unsigned 32-bit integer");
  out = static_cast<std::uint32_t>(j.get<std::uint64_t>());
}

void read(const json& j, const std::string& path, double& out) {
  if (!j.is_number()) malformed(path, "expected a number");
  out = j.get<double>();
}

void read(const json& j, const std::string& path, std::string& out) {
  if (!j.is_string()) malformed(path, "expected a string");
  out = j.get<std::string>();
}

void read(const json& j, const std::string& path, std::vector<std::int64_t>& out) {
  if (!j.is_array()) malformed(path, "expected an array of integers");
  out.assign(j.size(), 0);
  for (std::size_t i = 0; i < j.size(); ++i) read(j[i], fmt::format("{}[{}]", path, i), out[i]);
}

void read(const json& j, const std::string& path, DType& out) {
  std::string name;
  read(j, path, name);
  const auto dtype = parse_dtype(name);
  if (!dtype) malformed(path, fmt::format("unknown dtype '{}'; expected {}", name, detail::dtype_choices()));
  out = *dtype;
}

template <NamedEnum Enum>
void read(const json& j, const std::string& path, Enum& out) {
  std::string name;
  read(j, path, name);
  const auto value = detail::parse_enum<Enum>(name);
  if (!value)
    malformed(path, fmt::format("unknown {} '{}'; expected {}", detail::enum_title(Enum{}), name,
                                detail::enum_choices<Enum>()));
  out = *value;
}

// Starts from the default value, so that omitted defaulted fields read as their default.
template <Described T>
void read(const json& j, const std::string& path, T& out) {
  out = T{};
  ObjectReader fields(j, path);
  describe_fields(out, fields);
  fields.reject_unknown_fields();
}

// ---- tile configs and problems ---------------------------------------------------------------

// {"generator": "mlir", "block_q": 64, ...}: integer parameters, and the generator's name
// where one is named.
void read(const json& j, const std::string& path, TileConfig& out) {
  if (!j.is_object()) malformed(path, "expected an object of integer parameters");
  out = TileConfig{};
  for (const auto& [name, value] : j.items()) {
    if (name != "generator") read(value, child_path(path, name), out.params[name]);
    else if (!value.is_string() || value.get<std::string>().empty())
      malformed(child_path(path, name), "expected a generator name (a non-empty string)");
    else out.generator = value.get<std::string>();
  }
}

// The operator whose op_name is `name`, default-constructed; none for an unknown name.
std::optional<Operator> operator_named(std::string_view name) {
  std::optional<Operator> found;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((op_name(Operator(std::in_place_index<I>)) == name ? (void)found.emplace(std::in_place_index<I>) : void()), ...);
  }
  (std::make_index_sequence<std::variant_size_v<Operator>>{});
  return found;
}

std::string operator_names() {
  std::vector<std::string_view> names;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (names.push_back(op_name(Operator(std::in_place_index<I>))), ...);
  }
  (std::make_index_sequence<std::variant_size_v<Operator>>{});
  return detail::choice_list(names);
}

void read(const json& j, const std::string& path, Problem& out) {
  ObjectReader fields(j, path);
  std::string name;
  fields("op", name);
  std::optional<Operator> op = operator_named(name);
  if (!op) malformed(fields.path_of("op"), fmt::format("unknown operator '{}'; expected {}", name, operator_names()));
  std::visit([&](auto& desc) { fields("desc", desc); }, *op);
  out.op = std::move(*op);
  fields("direction", out.direction);
  fields.reject_unknown_fields();
}

// The public entry points: `root` names the top of the JSON path in messages. Any
// nlohmann exception that slipped past the type checks still becomes kInvalidArgument.
template <class T>
void read_root(const json& j, std::string_view root, T& out) {
  try {
    read(j, std::string(root), out);
  } catch (const json::exception& error) {
    malformed(std::string(root), error.what());
  }
}

}  // namespace

void to_json(json& j, const DType& value) { j = std::string(name_of(value)); }
void from_json(const json& j, DType& value) { read_root(j, "dtype", value); }

void to_json(json& j, const TensorDesc& value) { write_object(j, value); }
void from_json(const json& j, TensorDesc& value) { read_root(j, "tensor", value); }

void to_json(json& j, const Direction& value) { write_object(j, value); }
void from_json(const json& j, Direction& value) { read_root(j, "direction", value); }

void to_json(json& j, const TileConfig& value) {
  j = json::object();
  if (!value.generator.empty()) j["generator"] = value.generator;
  for (const auto& [name, parameter] : value.params) j[name] = parameter;
}
void from_json(const json& j, TileConfig& value) { read_root(j, "tile_config", value); }

void to_json(json& j, const EvoAttention& value) { write_object(j, value); }
void from_json(const json& j, EvoAttention& value) { read_root(j, "evo_attention", value); }

void to_json(json& j, const LayerNormLinear& value) { write_object(j, value); }
void from_json(const json& j, LayerNormLinear& value) { read_root(j, "layer_norm_linear", value); }

void to_json(json& j, const Transition& value) { write_object(j, value); }
void from_json(const json& j, Transition& value) { read_root(j, "transition", value); }

void to_json(json& j, const Problem& value) {
  j = json::object();
  j["op"] = std::string(op_name(value.op));
  j["direction"] = value.direction;
  std::visit([&](const auto& desc) { j["desc"] = desc; }, value.op);
}
void from_json(const json& j, Problem& value) { read_root(j, "problem", value); }

}  // namespace mf::ir
