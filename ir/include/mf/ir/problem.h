// One operator instance plus the pass to run: what a plan is made for.
#pragma once

#include <string_view>
#include <variant>

#include "mf/ir/direction.h"
#include "mf/ir/evo_attention.h"
#include "mf/ir/layer_norm_linear.h"
#include "mf/ir/transition.h"

namespace mf::ir {

using Operator = std::variant<EvoAttention, LayerNormLinear, Transition>;

struct Problem {
  Operator op;
  Direction direction;

  friend bool operator==(const Problem&, const Problem&) = default;
};

std::string_view op_name(const Operator& op);  // "evo_attention", "layer_norm_linear", "transition"

// The operator without its backward tensors (d_o / d_y and every gradient): what the
// forward of a backward problem runs, the inverse of with_gradients.
Operator forward_operator(Operator op);

}  // namespace mf::ir
