// C++ callers' bridge to the C API: IR problems as C descriptors, and plan creation and
// execution for any operator with pointers looked up by tensor name. Used by the tools
// and tests, which drive mfjit exactly as a framework would, through mfjit.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

#include "mf/ir/problem.h"
#include "mfjit/mfjit.h"

namespace mf::bridge {

// The gradient bits of the C API and the IR are the same numbers.
static_assert(MF_EVO_GRAD_Q == ir::EvoAttention::kGradQ && MF_EVO_GRAD_BIAS == ir::EvoAttention::kGradBias);
static_assert(MF_LNL_GRAD_X == ir::LayerNormLinear::kGradX && MF_LNL_GRAD_BIAS == ir::LayerNormLinear::kGradBias);
static_assert(MF_TRANSITION_GRAD_X == ir::Transition::kGradX && MF_TRANSITION_GRAD_W2 == ir::Transition::kGradW2);

mf_dtype to_c(ir::DType dtype);
mf_tensor_desc to_c(const ir::TensorDesc& desc);
mf_tensor_desc to_c(const std::optional<ir::TensorDesc>& desc);  // absent: MF_DTYPE_NONE
mf_direction to_c(ir::Pass pass);
mf_mask_kind to_c(ir::MaskKind kind);
mf_dbias_mode to_c(ir::DBiasMode mode);
// Every field of the operator, backward fields included (a forward plan ignores them).
mf_evo_attention_desc to_c(const ir::EvoAttention& op, std::uint32_t gradients);
mf_layer_norm_linear_desc to_c(const ir::LayerNormLinear& op, std::uint32_t gradients);
mf_transition_desc to_c(const ir::Transition& op, std::uint32_t gradients);

mf_status plan_create(mf_context context, const ir::Problem& problem, mf_plan* plan);

// Converts to whichever pointer type a field of an argument struct has.
struct AnyPointer {
  void* address;
  template <class T>
  operator T*() const {  // NOLINT: implicit on purpose
    return static_cast<T*>(address);
  }
};

// The pointers `source[name]` in a C argument struct, or in any struct with the same field
// names (the reference backend's data structs). Source: AnyPointer operator[](name).
template <class Pointers, class Source>
Pointers pointers(const ir::EvoAttention&, Source& t) {
  Pointers p{};
  p.q = t["q"], p.k = t["k"], p.v = t["v"], p.bias = t["bias"], p.mask = t["mask"], p.o = t["o"], p.lse = t["lse"];
  p.d_o = t["d_o"], p.d_q = t["d_q"], p.d_k = t["d_k"], p.d_v = t["d_v"], p.d_bias = t["d_bias"];
  return p;
}
template <class Pointers, class Source>
Pointers pointers(const ir::LayerNormLinear&, Source& t) {
  Pointers p{};
  p.x = t["x"], p.gamma = t["gamma"], p.beta = t["beta"], p.weight = t["weight"], p.bias = t["bias"];
  p.y = t["y"], p.mean = t["mean"], p.rstd = t["rstd"];
  p.d_y = t["d_y"], p.d_x = t["d_x"], p.d_gamma = t["d_gamma"], p.d_beta = t["d_beta"];
  p.d_weight = t["d_weight"], p.d_bias = t["d_bias"];
  return p;
}
template <class Pointers, class Source>
Pointers pointers(const ir::Transition&, Source& t) {
  Pointers p{};
  p.x = t["x"], p.gamma = t["gamma"], p.beta = t["beta"], p.w1 = t["w1"], p.w2 = t["w2"];
  p.y = t["y"], p.mean = t["mean"], p.rstd = t["rstd"];
  p.d_y = t["d_y"], p.d_x = t["d_x"], p.d_gamma = t["d_gamma"], p.d_beta = t["d_beta"];
  p.d_w1 = t["d_w1"], p.d_w2 = t["d_w2"];
  return p;
}

// Runs `plan` (made for `problem`) with the pointers of `source` on `stream`.
template <class Source>
mf_status execute(mf_context context, mf_plan plan, const ir::Problem& problem, Source& source, void* workspace,
                  std::size_t workspace_bytes, void* stream) {
  return std::visit(
      [&](const auto& op) {
        using Op = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<Op, ir::EvoAttention>) {
          const auto args = pointers<mf_evo_attention_args>(op, source);
          return mf_evo_attention_execute(context, plan, &args, workspace, workspace_bytes, stream);
        } else if constexpr (std::is_same_v<Op, ir::LayerNormLinear>) {
          const auto args = pointers<mf_layer_norm_linear_args>(op, source);
          return mf_layer_norm_linear_execute(context, plan, &args, workspace, workspace_bytes, stream);
        } else {
          const auto args = pointers<mf_transition_args>(op, source);
          return mf_transition_execute(context, plan, &args, workspace, workspace_bytes, stream);
        }
      },
      problem.op);
}

// The same with no workspace, on the default stream.
template <class Source>
mf_status execute(mf_context context, mf_plan plan, const ir::Problem& problem, Source& source) {
  return execute(context, plan, problem, source, nullptr, 0, nullptr);
}

}  // namespace mf::bridge
