#include "mf/bridge/capi.h"

#include <stdexcept>

namespace mf::bridge {

mf_dtype to_c(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::kBool: return MF_DTYPE_BOOL;
    case ir::DType::kF16: return MF_DTYPE_F16;
    case ir::DType::kBF16: return MF_DTYPE_BF16;
    case ir::DType::kF32: return MF_DTYPE_F32;
    case ir::DType::kF64: return MF_DTYPE_F64;
  }
  throw std::logic_error("unknown ir::DType");
}

mf_tensor_desc to_c(const ir::TensorDesc& desc) {
  if (desc.rank() > MF_MAX_RANK) throw std::logic_error("rank above MF_MAX_RANK");
  mf_tensor_desc result{};
  result.dtype = to_c(desc.dtype);
  result.rank = desc.rank();
  for (int d = 0; d < desc.rank(); ++d) {
    result.shape[d] = desc.shape[d];
    result.strides[d] = desc.strides[d];
  }
  return result;
}

mf_tensor_desc to_c(const std::optional<ir::TensorDesc>& desc) { return desc ? to_c(*desc) : mf_tensor_desc{}; }

mf_direction to_c(ir::Pass pass) { return pass == ir::Pass::kForward ? MF_FORWARD : MF_BACKWARD; }

mf_mask_kind to_c(ir::MaskKind kind) {
  switch (kind) {
    case ir::MaskKind::kNone: return MF_MASK_NONE;
    case ir::MaskKind::kBoolean: return MF_MASK_BOOLEAN;
    case ir::MaskKind::kAdditive: return MF_MASK_ADDITIVE;
  }
  throw std::logic_error("unknown ir::MaskKind");
}

mf_dbias_mode to_c(ir::DBiasMode mode) {
  return mode == ir::DBiasMode::kFast ? MF_DBIAS_FAST : MF_DBIAS_DETERMINISTIC;
}

mf_evo_attention_desc to_c(const ir::EvoAttention& op, std::uint32_t gradients) {
  mf_evo_attention_desc d{};
  d.q = to_c(op.q), d.k = to_c(op.k), d.v = to_c(op.v), d.bias = to_c(op.bias), d.mask = to_c(op.mask);
  d.o = to_c(op.o), d.lse = to_c(op.lse);
  d.mask_kind = to_c(op.mask_kind);
  d.scale = op.scale;
  d.d_o = to_c(op.d_o), d.d_q = to_c(op.d_q), d.d_k = to_c(op.d_k), d.d_v = to_c(op.d_v);
  d.d_bias = to_c(op.d_bias);
  d.gradients = gradients;
  d.dbias_mode = to_c(op.dbias_mode);
  return d;
}

mf_layer_norm_linear_desc to_c(const ir::LayerNormLinear& op, std::uint32_t gradients) {
  mf_layer_norm_linear_desc d{};
  d.x = to_c(op.x), d.gamma = to_c(op.gamma), d.beta = to_c(op.beta), d.weight = to_c(op.weight);
  d.bias = to_c(op.bias), d.y = to_c(op.y), d.mean = to_c(op.mean), d.rstd = to_c(op.rstd);
  d.eps = op.eps;
  d.d_y = to_c(op.d_y), d.d_x = to_c(op.d_x), d.d_gamma = to_c(op.d_gamma), d.d_beta = to_c(op.d_beta);
  d.d_weight = to_c(op.d_weight), d.d_bias = to_c(op.d_bias);
  d.gradients = gradients;
  return d;
}

mf_transition_desc to_c(const ir::Transition& op, std::uint32_t gradients) {
  mf_transition_desc d{};
  d.x = to_c(op.x), d.gamma = to_c(op.gamma), d.beta = to_c(op.beta), d.w1 = to_c(op.w1), d.w2 = to_c(op.w2);
  d.y = to_c(op.y), d.mean = to_c(op.mean), d.rstd = to_c(op.rstd);
  d.eps = op.eps;
  d.d_y = to_c(op.d_y), d.d_x = to_c(op.d_x), d.d_gamma = to_c(op.d_gamma), d.d_beta = to_c(op.d_beta);
  d.d_w1 = to_c(op.d_w1), d.d_w2 = to_c(op.d_w2);
  d.gradients = gradients;
  return d;
}

mf_status plan_create(mf_context context, const ir::Problem& problem, mf_plan* plan) {
  const mf_direction direction = to_c(problem.direction.pass);
  const std::uint32_t gradients = problem.direction.gradients;
  return std::visit(
      [&](const auto& op) {
        const auto desc = to_c(op, gradients);
        using Op = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<Op, ir::EvoAttention>)
          return mf_evo_attention_plan_create(context, &desc, direction, plan);
        else if constexpr (std::is_same_v<Op, ir::LayerNormLinear>)
          return mf_layer_norm_linear_plan_create(context, &desc, direction, plan);
        else
          return mf_transition_plan_create(context, &desc, direction, plan);
      },
      problem.op);
}

}  // namespace mf::bridge
