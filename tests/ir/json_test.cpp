#include "mf/ir/json.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ir/expect_error.h"
#include "ir/options.h"

namespace mf::ir {
namespace {

using nlohmann::json;
using testing::expect_error;

// to_json, then text, then parse, then from_json.
template <class T>
T round_trip(const T& value) {
  const json written = value;
  const std::string text = written.dump();
  return json::parse(text).get<T>();
}

template <class T>
void expect_round_trip(const T& value) {
  const T restored = round_trip(value);
  EXPECT_TRUE(restored == value) << json(value).dump();
}

template <class T>
void expect_malformed(const json& j, std::string_view substring,
                      std::source_location where = std::source_location::current()) {
  expect_error([&] { (void)j.get<T>(); }, ErrorKind::kInvalidArgument, substring, where);
}

Problem forward(Operator op) { return {std::move(op), Direction::forward()}; }

template <class Op>
Problem backward(Op op, std::uint32_t gradients) {
  return {with_gradients(std::move(op), gradients), Direction::backward(gradients)};
}

// ---- the written form ----------------------------------------------------------------------

TEST(Json, TensorDescIsDTypeShapeStrides) {
  const json j = TensorDesc::contiguous(DType::kBF16, {2, 3});
  EXPECT_EQ(j, json::parse(R"({"dtype": "bf16", "shape": [2, 3], "strides": [3, 1]})"));
}

TEST(Json, DirectionAndEnumsAreLowercaseNames) {
  EXPECT_EQ(json(Direction::backward(5)), json::parse(R"({"pass": "backward", "gradients": 5})"));
  EXPECT_EQ(json(Direction::forward()), json::parse(R"({"pass": "forward", "gradients": 0})"));
  EXPECT_EQ(json(DType::kF64), json("f64"));
  const json evo = single_attention(
      1, 5, 2, 8, testing::with<EvoLayoutOptions>([&](auto& o) { o.mask_kind = MaskKind::kAdditive; }));
  EXPECT_EQ(evo.at("mask_kind"), "additive");
  EXPECT_EQ(evo.at("dbias_mode"), "deterministic");
}

TEST(Json, OptionalTensorsAreOmittedWhenAbsent) {
  const json j = single_attention(1, 5, 2, 8, testing::with<EvoLayoutOptions>([&](auto& o) {
                                    o.with_bias = false;
                                    o.mask_kind = MaskKind::kNone;
                                  }));
  EXPECT_FALSE(j.contains("bias"));
  EXPECT_FALSE(j.contains("mask"));
  EXPECT_FALSE(j.contains("d_o"));
  EXPECT_TRUE(j.contains("lse"));
}

TEST(Json, ProblemHasOpDirectionAndDesc) {
  const json j = forward(transition(4, 8, 2));
  EXPECT_EQ(j.at("op"), "transition");
  EXPECT_EQ(j.at("direction").at("pass"), "forward");
  EXPECT_EQ(j.at("desc").at("x").at("shape"), json::parse("[4, 8]"));
  EXPECT_EQ(j.size(), 3u);
}

TEST(Json, TileConfigIsAnObjectOfIntegers) {
  TileConfig config;
  config.set("block_q", 128).set("warps", 4);
  EXPECT_EQ(json(config), json::parse(R"({"block_q": 128, "warps": 4})"));
  config.generator = "mlir";  // a generator other than the backend's first is named
  EXPECT_EQ(json(config), json::parse(R"({"generator": "mlir", "block_q": 128, "warps": 4})"));
}

// ---- round trips ---------------------------------------------------------------------------

TEST(JsonRoundTrip, ValueTypes) {
  for (DType dtype : {DType::kBool, DType::kF16, DType::kBF16, DType::kF32, DType::kF64}) expect_round_trip(dtype);
  expect_round_trip(TensorDesc::contiguous(DType::kF16, {3, 1, 7}));
  expect_round_trip(TensorDesc{DType::kF32, {4, 5}, {0, 1}});
  expect_round_trip(Direction::forward());
  expect_round_trip(Direction::backward(EvoAttention::kAllGradients));
  expect_round_trip(TileConfig{});
  expect_round_trip(TileConfig{}.set("block_q", 64).set("block_k", -1).set("huge", std::int64_t{1} << 62));
  expect_round_trip(TileConfig{"reference", {}});
  expect_round_trip(TileConfig{"mlir", {{"block_q", 64}}});
}

TEST(JsonRoundTrip, EveryEvoLayoutForwardAndBackward) {
  const std::vector<EvoAttention> layouts = {
      single_attention(2, 17, 4, 16),
      triangle_attention_starting(1, 97, 4, 32, testing::with<EvoLayoutOptions>([&](auto& o) {
                                    o.dtype = DType::kF16;
                                    o.bias_dtype = DType::kF32;
                                  })),
      triangle_attention_ending(1, 97, 4, 32,
                                testing::with<EvoLayoutOptions>([&](auto& o) { o.mask_kind = MaskKind::kAdditive; })),
      msa_row_attention(1, 5, 17, 8, 32, testing::with<EvoLayoutOptions>([&](auto& o) {
                          o.dtype = DType::kF32;
                          o.mask_kind = MaskKind::kAdditive;
                          o.additive_mask_dtype = DType::kF32;
                        })),
      msa_column_attention(1, 5, 17, 8, 32, testing::with<EvoLayoutOptions>([&](auto& o) {
                             o.dtype = DType::kF64;
                             o.mask_kind = MaskKind::kNone;
                           })),
  };
  for (const EvoAttention& op : layouts) {
    expect_round_trip(op);
    expect_round_trip(forward(op));
    expect_round_trip(backward(op, op.all_gradients()));
    EvoAttention fast = with_gradients(op, EvoAttention::kGradV);
    fast.dbias_mode = DBiasMode::kFast;
    fast.scale = 0.1;
    expect_round_trip(Problem{fast, Direction::backward(EvoAttention::kGradV)});
  }
}

TEST(JsonRoundTrip, LinearAndTransitionWithAndWithoutOptionalParts) {
  for (bool optional_parts : {false, true}) {
    const LayerNormLinear linear = layer_norm_linear(33, 24, 40, testing::with<LinearOptions>([&](auto& o) {
                                                       o.param_dtype = DType::kF32;
                                                       o.with_beta = optional_parts;
                                                       o.with_bias = optional_parts;
                                                       o.torch_weight = optional_parts;
                                                     }));
    expect_round_trip(linear);
    expect_round_trip(forward(linear));
    expect_round_trip(backward(linear, linear.all_gradients()));
    LayerNormLinear without_statistics = linear;
    without_statistics.mean.reset();
    without_statistics.rstd.reset();
    expect_round_trip(forward(without_statistics));

    const Transition mlp = transition(33, 16, 4, testing::with<TransitionOptions>([&](auto& o) {
                                        o.layer_norm = optional_parts;
                                        o.torch_weights = optional_parts;
                                      }));
    expect_round_trip(mlp);
    expect_round_trip(forward(mlp));
    expect_round_trip(backward(mlp, mlp.all_gradients()));
  }
}

TEST(JsonRoundTrip, DoublesAreBitExact) {
  const std::vector<double> values = {0.1,
                                      1.0 / 3.0,
                                      1e-5,
                                      0.17677669529663687,  // 32^-1/2
                                      std::numeric_limits<double>::denorm_min(),
                                      std::numeric_limits<double>::min(),
                                      std::numeric_limits<double>::max(),
                                      std::nextafter(1.0, 2.0),
                                      -0.0};
  for (double value : values) {
    EvoAttention op = single_attention(1, 5, 2, 8);
    op.scale = value;
    EXPECT_EQ(std::bit_cast<std::uint64_t>(round_trip(op).scale), std::bit_cast<std::uint64_t>(value)) << value;
    Transition mlp = transition(3, 8, 2);
    mlp.eps = value;
    EXPECT_EQ(std::bit_cast<std::uint64_t>(round_trip(mlp).eps), std::bit_cast<std::uint64_t>(value)) << value;
  }
}

TEST(JsonRoundTrip, ReadingResetsTheTarget) {
  // Fields omitted from the JSON take their defaults, not what the target held before.
  json j = single_attention(1, 5, 2, 8, testing::with<EvoLayoutOptions>([&](auto& o) {
                              o.with_bias = false;
                              o.mask_kind = MaskKind::kNone;
                            }));
  j.erase("scale");
  j.erase("mask_kind");
  j.erase("dbias_mode");
  EvoAttention op = with_gradients(single_attention(1, 5, 2, 8), EvoAttention::kGradQ);
  op.scale = 3.0;
  op.dbias_mode = DBiasMode::kFast;
  from_json(j, op);
  EXPECT_EQ(op.scale, 0.0);
  EXPECT_EQ(op.mask_kind, MaskKind::kNone);
  EXPECT_EQ(op.dbias_mode, DBiasMode::kDeterministic);
  EXPECT_FALSE(op.d_q.has_value());
  EXPECT_FALSE(op.bias.has_value());
}

TEST(JsonRoundTrip, NullOptionalTensorsReadAsAbsent) {
  json j = layer_norm_linear(4, 8, 2);
  j["bias"] = nullptr;
  EXPECT_FALSE(j.get<LayerNormLinear>().bias.has_value());
}

// ---- malformed input -----------------------------------------------------------------------

json evo_problem() { return forward(single_attention(1, 5, 2, 8)); }

TEST(JsonMalformed, NotAnObject) {
  expect_malformed<Problem>(json(nullptr), "problem: expected an object");
  expect_malformed<Problem>(json::array(), "problem: expected an object");
  expect_malformed<TensorDesc>(json(3), "tensor: expected an object");
  expect_malformed<TileConfig>(json("x"), "tile_config: expected an object of integer parameters");
  json j = evo_problem();
  j["desc"] = json::array();
  expect_malformed<Problem>(j, "problem.desc: expected an object");
}

TEST(JsonMalformed, MissingFields) {
  for (const char* field : {"op", "direction", "desc"}) {
    json j = evo_problem();
    j.erase(field);
    expect_malformed<Problem>(j, std::string("problem.") + field + ": missing required field");
  }
  json j = evo_problem();
  j["desc"].erase("q");
  expect_malformed<Problem>(j, "problem.desc.q: missing required field");
  j = evo_problem();
  j["desc"]["k"].erase("strides");
  expect_malformed<Problem>(j, "problem.desc.k.strides: missing required field");
  j = evo_problem();
  j["direction"].erase("pass");
  expect_malformed<Problem>(j, "problem.direction.pass: missing required field");
}

TEST(JsonMalformed, MistypedFields) {
  json j = evo_problem();
  j["desc"]["q"]["shape"] = "1x5x2";
  expect_malformed<Problem>(j, "problem.desc.q.shape: expected an array of integers");
  j = evo_problem();
  j["desc"]["q"]["shape"][1] = 5.5;
  expect_malformed<Problem>(j, "problem.desc.q.shape[1]: expected an integer");
  j = evo_problem();
  j["desc"]["v"]["strides"][0] = "4";
  expect_malformed<Problem>(j, "problem.desc.v.strides[0]: expected an integer");
  j = evo_problem();
  j["desc"]["q"]["shape"][0] = std::numeric_limits<std::uint64_t>::max();
  expect_malformed<Problem>(j, "problem.desc.q.shape[0]: integer out of the int64 range");
  j = evo_problem();
  j["desc"]["scale"] = "0.125";
  expect_malformed<Problem>(j, "problem.desc.scale: expected a number");
  j = evo_problem();
  j["desc"]["q"]["dtype"] = 3;
  expect_malformed<Problem>(j, "problem.desc.q.dtype: expected a string");
  j = evo_problem();
  j["op"] = 1;
  expect_malformed<Problem>(j, "problem.op: expected a string");
  j = evo_problem();
  j["direction"]["gradients"] = -1;
  expect_malformed<Problem>(j, "problem.direction.gradients: expected an unsigned 32-bit integer");
  j["direction"]["gradients"] = std::uint64_t{1} << 32;
  expect_malformed<Problem>(j, "problem.direction.gradients: expected an unsigned 32-bit integer");
  j["direction"]["gradients"] = 1.0;
  expect_malformed<Problem>(j, "problem.direction.gradients: expected an unsigned 32-bit integer");
  json config = json::parse(R"({"block_q": 64, "warps": "four"})");
  expect_malformed<TileConfig>(config, "tile_config.warps: expected an integer");
  expect_malformed<TileConfig>(json::parse(R"({"generator": 2})"),
                               "tile_config.generator: expected a generator name (a non-empty string)");
  expect_malformed<TileConfig>(json::parse(R"({"generator": ""})"),
                               "tile_config.generator: expected a generator name (a non-empty string)");
}

TEST(JsonMalformed, UnknownNames) {
  json j = evo_problem();
  j["op"] = "flash_attention";
  expect_malformed<Problem>(
      j, "problem.op: unknown operator 'flash_attention'; expected evo_attention, layer_norm_linear or transition");
  j = evo_problem();
  j["desc"]["q"]["dtype"] = "fp8";
  expect_malformed<Problem>(j, "problem.desc.q.dtype: unknown dtype 'fp8'; expected bool, f16, bf16, f32 or f64");
  j = evo_problem();
  j["desc"]["mask_kind"] = "Boolean";
  expect_malformed<Problem>(j,
                            "problem.desc.mask_kind: unknown mask kind 'Boolean'; expected none, boolean or additive");
  j = evo_problem();
  j["desc"]["dbias_mode"] = "atomic";
  expect_malformed<Problem>(j, "problem.desc.dbias_mode: unknown dbias mode 'atomic'; expected deterministic or fast");
  j = evo_problem();
  j["direction"]["pass"] = "fwd";
  expect_malformed<Problem>(j, "problem.direction.pass: unknown pass 'fwd'; expected forward or backward");
  expect_malformed<DType>(json("int8"), "dtype: unknown dtype 'int8'");
}

TEST(JsonMalformed, UnknownFields) {
  json j = evo_problem();
  j["desc"]["lse_saved"] = j["desc"]["lse"];
  expect_malformed<Problem>(j, "problem.desc.lse_saved: unknown field");
  j = evo_problem();
  j["version"] = 2;
  expect_malformed<Problem>(j, "problem.version: unknown field");
  j = evo_problem();
  j["desc"]["q"]["layout"] = "nhwc";
  expect_malformed<Problem>(j, "problem.desc.q.layout: unknown field");
}

TEST(JsonMalformed, DescMustMatchTheOperator) {
  json j = evo_problem();
  j["op"] = "layer_norm_linear";
  expect_malformed<Problem>(j, "problem.desc.x: missing required field");
}

TEST(JsonMalformed, EachTypeNamesItsRoot) {
  expect_malformed<EvoAttention>(json::object(), "evo_attention.q: missing required field");
  expect_malformed<LayerNormLinear>(json::object(), "layer_norm_linear.x: missing required field");
  expect_malformed<Transition>(json::object(), "transition.x: missing required field");
  expect_malformed<Direction>(json::object(), "direction.pass: missing required field");
}

}  // namespace
}  // namespace mf::ir
