#include "mf/ir/problem.h"

namespace mf::ir {
namespace {

struct OpName {
  std::string_view operator()(const EvoAttention&) const { return "evo_attention"; }
  std::string_view operator()(const LayerNormLinear&) const { return "layer_norm_linear"; }
  std::string_view operator()(const Transition&) const { return "transition"; }
};

}  // namespace

std::string_view op_name(const Operator& op) { return std::visit(OpName{}, op); }

}  // namespace mf::ir
