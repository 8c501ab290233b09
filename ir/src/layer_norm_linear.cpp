#include "mf/ir/layer_norm_linear.h"

#include "mf/ir/error.h"

namespace mf::ir {

std::uint32_t LayerNormLinear::all_gradients() const {
  return kGradX | kGradGamma | kGradWeight | (beta ? kGradBeta : 0u) | (bias ? kGradBias : 0u);
}

TensorDesc torch_weight(DType dtype, std::int64_t in_features, std::int64_t out_features) {
  return TensorDesc::contiguous(dtype, {out_features, in_features}).permuted({1, 0});
}

LayerNormLinear layer_norm_linear(std::int64_t rows, std::int64_t in_features, std::int64_t out_features,
                                  const LinearOptions& options) {
  const DType param_dtype = options.param_dtype.value_or(options.dtype);
  LayerNormLinear op;
  op.x = TensorDesc::contiguous(options.dtype, {rows, in_features});
  op.gamma = TensorDesc::contiguous(param_dtype, {in_features});
  if (options.with_beta) op.beta = op.gamma;
  op.weight = options.torch_weight ? torch_weight(options.dtype, in_features, out_features)
                                   : TensorDesc::contiguous(options.dtype, {in_features, out_features});
  if (options.with_bias) op.bias = TensorDesc::contiguous(param_dtype, {out_features});
  op.y = TensorDesc::contiguous(options.dtype, {rows, out_features});
  op.mean = op.rstd = TensorDesc::contiguous(DType::kF32, {rows});
  return op;
}

LayerNormLinear with_gradients(LayerNormLinear forward, std::uint32_t gradients) {
  if ((gradients & ~forward.all_gradients()) != 0)
    fail(ErrorKind::kInvalidArgument, "gradients: asks for the gradient of an absent beta or bias");
  LayerNormLinear op = std::move(forward);
  op.d_y = op.y;
  if (gradients & LayerNormLinear::kGradX) op.d_x = op.x;
  if (gradients & LayerNormLinear::kGradGamma) op.d_gamma = op.gamma;
  if (gradients & LayerNormLinear::kGradBeta) op.d_beta = op.beta;
  if (gradients & LayerNormLinear::kGradWeight) op.d_weight = op.weight;
  if (gradients & LayerNormLinear::kGradBias) op.d_bias = op.bias;
  return op;
}

}  // namespace mf::ir
