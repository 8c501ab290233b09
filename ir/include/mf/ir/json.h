// JSON round-trip of every IR value (nlohmann/json).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "mf/ir/problem.h"
#include "mf/ir/tile_config.h"

namespace mf::ir {

// from_json throws mf::ir::Error(kInvalidArgument) naming the JSON field that is missing
// or malformed.
void to_json(nlohmann::json& j, const DType& value);
void from_json(const nlohmann::json& j, DType& value);
void to_json(nlohmann::json& j, const TensorDesc& value);
void from_json(const nlohmann::json& j, TensorDesc& value);
void to_json(nlohmann::json& j, const Direction& value);
void from_json(const nlohmann::json& j, Direction& value);
void to_json(nlohmann::json& j, const TileConfig& value);
void from_json(const nlohmann::json& j, TileConfig& value);
void to_json(nlohmann::json& j, const EvoAttention& value);
void from_json(const nlohmann::json& j, EvoAttention& value);
void to_json(nlohmann::json& j, const LayerNormLinear& value);
void from_json(const nlohmann::json& j, LayerNormLinear& value);
void to_json(nlohmann::json& j, const Transition& value);
void from_json(const nlohmann::json& j, Transition& value);
void to_json(nlohmann::json& j, const Problem& value);
void from_json(const nlohmann::json& j, Problem& value);

}  // namespace mf::ir
