#include "mf/ir/problem.h"

#include <type_traits>

namespace mf::ir {
namespace {

struct OpName {
  std::string_view operator()(const EvoAttention&) const { return "evo_attention"; }
  std::string_view operator()(const LayerNormLinear&) const { return "layer_norm_linear"; }
  std::string_view operator()(const Transition&) const { return "transition"; }
};

}  // namespace

std::string_view op_name(const Operator& op) { return std::visit(OpName{}, op); }

Operator forward_operator(Operator op) {
  std::visit(
      [](auto& o) {
        using Op = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<Op, EvoAttention>) {
          for (auto* t : {&o.d_o, &o.d_q, &o.d_k, &o.d_v, &o.d_bias}) t->reset();
        } else if constexpr (std::is_same_v<Op, LayerNormLinear>) {
          for (auto* t : {&o.d_y, &o.d_x, &o.d_gamma, &o.d_beta, &o.d_weight, &o.d_bias}) t->reset();
        } else {
          for (auto* t : {&o.d_y, &o.d_x, &o.d_gamma, &o.d_beta, &o.d_w1, &o.d_w2}) t->reset();
        }
      },
      op);
  return op;
}

}  // namespace mf::ir
