// Which template generator serves each operator: the one place that says it. The runtime's
// GPU backends (plans, the tuner's spaces) and mf-compile reach the generators through
// with_template_generator, so that an operator added to ir::Operator without a generator
// here fails to compile rather than at run time.
#pragma once

#include <type_traits>
#include <variant>

#include "mf/compiler/evo_attention_generator.h"
#include "mf/compiler/layer_norm_linear_generator.h"
#include "mf/compiler/transition_generator.h"
#include "mf/ir/problem.h"

namespace mf::compiler {

template <class Op>
struct TemplateGeneratorOf;
template <>
struct TemplateGeneratorOf<ir::EvoAttention> {
  using type = EvoAttentionGenerator;
};
template <>
struct TemplateGeneratorOf<ir::LayerNormLinear> {
  using type = LayerNormLinearGenerator;
};
template <>
struct TemplateGeneratorOf<ir::Transition> {
  using type = TransitionGenerator;
};

// Returns `on(generator, op)` with the template generator of the problem's operator (the
// generators are stateless: all their members are static) and the operator itself; `on`
// returns one type for every operator.
template <class On>
decltype(auto) with_template_generator(const ir::Problem& problem, On&& on) {
  return std::visit(
      [&](const auto& op) -> decltype(auto) {
        using Generator = typename TemplateGeneratorOf<std::decay_t<decltype(op)>>::type;
        return on(Generator{}, op);
      },
      problem.op);
}

}  // namespace mf::compiler
