#include "descriptor_conversion.h"

#include <fmt/format.h>

#include "c_enum.h"
#include "mf/ir/validate.h"
#include "status.h"

namespace mf::runtime {
namespace {

std::optional<ir::TensorDesc> optional_tensor(const mf_tensor_desc& desc, const char* argument) {
  if (c_enum_value(desc.dtype) == MF_DTYPE_NONE) return std::nullopt;
  if (desc.rank < 1 || desc.rank > MF_MAX_RANK)
    fail(MF_ERROR_INVALID_ARGUMENT,
         fmt::format("{}.rank: {} is outside 1..{}", argument, desc.rank, MF_MAX_RANK));
  ir::TensorDesc result{to_ir(desc.dtype, argument), {}, {}};
  result.shape.assign(desc.shape, desc.shape + desc.rank);
  result.strides.assign(desc.strides, desc.strides + desc.rank);
  return result;
}

ir::TensorDesc required_tensor(const mf_tensor_desc& desc, const char* argument) {
  auto result = optional_tensor(desc, argument);
  if (!result) fail(MF_ERROR_INVALID_ARGUMENT, fmt::format("{}: is required but its dtype is MF_DTYPE_NONE", argument));
  return *result;
}

ir::Direction to_ir(const mf_direction& direction, std::uint32_t gradients) {
  switch (c_enum_value(direction)) {
    case MF_FORWARD: return ir::Direction::forward();
    case MF_BACKWARD: return ir::Direction::backward(gradients);
  }
  fail(MF_ERROR_INVALID_ARGUMENT, fmt::format("direction: {} is not an mf_direction value", c_enum_value(direction)));
}

ir::MaskKind to_ir(const mf_mask_kind& kind) {
  switch (c_enum_value(kind)) {
    case MF_MASK_NONE: return ir::MaskKind::kNone;
    case MF_MASK_BOOLEAN: return ir::MaskKind::kBoolean;
    case MF_MASK_ADDITIVE: return ir::MaskKind::kAdditive;
  }
  fail(MF_ERROR_INVALID_ARGUMENT, fmt::format("desc.mask_kind: {} is not an mf_mask_kind value", c_enum_value(kind)));
}

ir::DBiasMode to_ir(const mf_dbias_mode& mode) {
  switch (c_enum_value(mode)) {
    case MF_DBIAS_DETERMINISTIC: return ir::DBiasMode::kDeterministic;
    case MF_DBIAS_FAST: return ir::DBiasMode::kFast;
  }
  fail(MF_ERROR_INVALID_ARGUMENT, fmt::format("desc.dbias_mode: {} is not an mf_dbias_mode value", c_enum_value(mode)));
}

double eps_or_default(double eps) { return eps == 0.0 ? 1e-5 : eps; }

// Validation names IR fields ("q: ..."); the caller knows them as "desc.q".
ir::Problem validated(ir::Operator op, ir::Direction direction) {
  ir::Problem problem{std::move(op), direction};
  try {
    ir::validate(problem);
  } catch (const ir::Error& error) {
    throw ir::Error(error.kind(), std::string("desc.") + error.what());
  }
  return problem;
}

}  // namespace

ir::DType to_ir(const mf_dtype& dtype, const char* argument) {
  switch (c_enum_value(dtype)) {
    case MF_DTYPE_BOOL: return ir::DType::kBool;
    case MF_DTYPE_F16: return ir::DType::kF16;
    case MF_DTYPE_BF16: return ir::DType::kBF16;
    case MF_DTYPE_F32: return ir::DType::kF32;
    case MF_DTYPE_F64: return ir::DType::kF64;
    case MF_DTYPE_NONE: break;
  }
  fail(MF_ERROR_INVALID_ARGUMENT, fmt::format("{}.dtype: {} is not a tensor dtype", argument, c_enum_value(dtype)));
}

ir::Problem to_problem(const mf_evo_attention_desc& desc, const mf_direction& direction) {
  const ir::Direction pass = to_ir(direction, desc.gradients);
  ir::EvoAttention op;
  op.q = required_tensor(desc.q, "desc.q");
  op.k = required_tensor(desc.k, "desc.k");
  op.v = required_tensor(desc.v, "desc.v");
  op.bias = optional_tensor(desc.bias, "desc.bias");
  op.mask_kind = to_ir(desc.mask_kind);
  op.mask = optional_tensor(desc.mask, "desc.mask");
  op.scale = desc.scale;
  op.o = required_tensor(desc.o, "desc.o");
  op.lse = optional_tensor(desc.lse, "desc.lse");
  if (pass.pass == ir::Pass::kBackward) {
    op.d_o = optional_tensor(desc.d_o, "desc.d_o");
    op.d_q = optional_tensor(desc.d_q, "desc.d_q");
    op.d_k = optional_tensor(desc.d_k, "desc.d_k");
    op.d_v = optional_tensor(desc.d_v, "desc.d_v");
    op.d_bias = optional_tensor(desc.d_bias, "desc.d_bias");
    op.dbias_mode = to_ir(desc.dbias_mode);
  }
  return validated(std::move(op), pass);
}

ir::Problem to_problem(const mf_layer_norm_linear_desc& desc, const mf_direction& direction) {
  const ir::Direction pass = to_ir(direction, desc.gradients);
  ir::LayerNormLinear op;
  op.x = required_tensor(desc.x, "desc.x");
  op.gamma = required_tensor(desc.gamma, "desc.gamma");
  op.beta = optional_tensor(desc.beta, "desc.beta");
  op.weight = required_tensor(desc.weight, "desc.weight");
  op.bias = optional_tensor(desc.bias, "desc.bias");
  op.eps = eps_or_default(desc.eps);
  op.y = required_tensor(desc.y, "desc.y");
  op.mean = optional_tensor(desc.mean, "desc.mean");
  op.rstd = optional_tensor(desc.rstd, "desc.rstd");
  if (pass.pass == ir::Pass::kBackward) {
    op.d_y = optional_tensor(desc.d_y, "desc.d_y");
    op.d_x = optional_tensor(desc.d_x, "desc.d_x");
    op.d_gamma = optional_tensor(desc.d_gamma, "desc.d_gamma");
    op.d_beta = optional_tensor(desc.d_beta, "desc.d_beta");
    op.d_weight = optional_tensor(desc.d_weight, "desc.d_weight");
    op.d_bias = optional_tensor(desc.d_bias, "desc.d_bias");
  }
  return validated(std::move(op), pass);
}

ir::Problem to_problem(const mf_transition_desc& desc, const mf_direction& direction) {
  const ir::Direction pass = to_ir(direction, desc.gradients);
  ir::Transition op;
  op.x = required_tensor(desc.x, "desc.x");
  op.gamma = optional_tensor(desc.gamma, "desc.gamma");
  op.beta = optional_tensor(desc.beta, "desc.beta");
  op.w1 = required_tensor(desc.w1, "desc.w1");
  op.w2 = required_tensor(desc.w2, "desc.w2");
  op.eps = eps_or_default(desc.eps);
  op.y = required_tensor(desc.y, "desc.y");
  op.mean = optional_tensor(desc.mean, "desc.mean");
  op.rstd = optional_tensor(desc.rstd, "desc.rstd");
  if (pass.pass == ir::Pass::kBackward) {
    op.d_y = optional_tensor(desc.d_y, "desc.d_y");
    op.d_x = optional_tensor(desc.d_x, "desc.d_x");
    op.d_gamma = optional_tensor(desc.d_gamma, "desc.d_gamma");
    op.d_beta = optional_tensor(desc.d_beta, "desc.d_beta");
    op.d_w1 = optional_tensor(desc.d_w1, "desc.d_w1");
    op.d_w2 = optional_tensor(desc.d_w2, "desc.d_w2");
  }
  return validated(std::move(op), pass);
}

}  // namespace mf::runtime
