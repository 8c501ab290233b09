#include "mf/ir/transition.h"

#include "mf/ir/error.h"
#include "mf/ir/layer_norm_linear.h"

namespace mf::ir {

std::uint32_t Transition::all_gradients() const {
  return kGradX | kGradW1 | kGradW2 | (gamma ? kGradGamma : 0u) | (beta ? kGradBeta : 0u);
}

Transition transition(std::int64_t rows, std::int64_t dim, std::int64_t expansion,
                      const TransitionOptions& options) {
  const std::int64_t hidden = expansion * dim;
  Transition op;
  op.x = TensorDesc::contiguous(options.dtype, {rows, dim});
  if (options.layer_norm) {
    op.gamma = TensorDesc::contiguous(options.param_dtype.value_or(options.dtype), {dim});
    if (options.with_beta) op.beta = op.gamma;
    op.mean = op.rstd = TensorDesc::contiguous(DType::kF32, {rows});
  }
  if (options.torch_weights) {
    op.w1 = torch_weight(options.dtype, dim, 2 * hidden);
    op.w2 = torch_weight(options.dtype, hidden, dim);
  } else {
    op.w1 = TensorDesc::contiguous(options.dtype, {dim, 2 * hidden});
    op.w2 = TensorDesc::contiguous(options.dtype, {hidden, dim});
  }
  op.y = TensorDesc::contiguous(options.dtype, {rows, dim});
  return op;
}

Transition with_gradients(Transition forward, std::uint32_t gradients) {
  if ((gradients & ~forward.all_gradients()) != 0)
    fail(ErrorKind::kInvalidArgument, "gradients: asks for the gradient of an absent gamma or beta");
  Transition op = std::move(forward);
  op.d_y = op.y;
  if (gradients & Transition::kGradX) op.d_x = op.x;
  if (gradients & Transition::kGradGamma) op.d_gamma = op.gamma;
  if (gradients & Transition::kGradBeta) op.d_beta = op.beta;
  if (gradients & Transition::kGradW1) op.d_w1 = op.w1;
  if (gradients & Transition::kGradW2) op.d_w2 = op.w2;
  return op;
}

}  // namespace mf::ir
