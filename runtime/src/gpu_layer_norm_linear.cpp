#include "gpu_layer_norm_linear.h"

#include "kernel_strides.h"
#include "status.h"

namespace mf::runtime {
namespace {

// The kernel's parameter block, shared with the device code.
#include "cuda/layer_norm_linear_params.h"

class GpuLayerNormLinear final : public Executable {
 public:
  GpuLayerNormLinear(const ir::LayerNormLinear& op, const ir::Direction& direction,
                      compiler::LayerNormLinearLaunchPlan plan, std::shared_ptr<const GpuDevice> device,
                      std::vector<LoadedModule> modules)
      : op_(op), direction_(direction), plan_(std::move(plan)), kernels_(std::move(device), plan_.kernels, std::move(modules)) {}

  std::size_t workspace_size() const override { return plan_.workspace_bytes; }

  void execute(const OperatorArgs& args, void* workspace, void* stream) override {
    const MfLinearParams params = parameters(std::get<mf_layer_norm_linear_args>(args), workspace);
    kernels_.launch(stream, &params, sizeof params);
  }

 private:
  // The pointer of a wanted gradient, else null (the kernels skip what is null).
  void* gradient(std::uint32_t bit, void* pointer) const {
    return direction_.pass == ir::Pass::kBackward && direction_.wants(bit) ? pointer : nullptr;
  }

  MfLinearParams parameters(const mf_layer_norm_linear_args& a, void* workspace) const {
    MfLinearParams p{};
    p.rows = static_cast<int>(op_.rows());
    p.in_features = static_cast<int>(op_.in_features());
    p.out_features = static_cast<int>(op_.out_features());
    p.eps = static_cast<float>(op_.eps);
    p.x = a.x;
    p.x_stride_m = stride_of(op_.x, 0);
    p.x_stride_k = stride_of(op_.x, 1);
    p.x_vector_ok = vector_ok(op_.x, a.x) ? 1 : 0;
    p.gamma = a.gamma;
    p.gamma_stride = stride_of(op_.gamma, 0);
    if (op_.beta) {
      p.beta = a.beta;
      p.beta_stride = stride_of(*op_.beta, 0);
    }
    p.weight = a.weight;
    p.w_stride_k = stride_of(op_.weight, 0);
    p.w_stride_n = stride_of(op_.weight, 1);
    // The kernel reads W along K where K has unit stride (the torch layout), else along N.
    const bool nk = op_.weight.strides[0] == 1 && op_.weight.strides[1] != 1;
    p.w_vector_ok = vector_ok(op_.weight, a.weight, nk ? 0 : 1) ? 1 : 0;
    if (op_.bias) {
      p.bias = a.bias;
      p.bias_stride = stride_of(*op_.bias, 0);
    }
    p.y = a.y;
    p.y_stride_m = stride_of(op_.y, 0);
    p.y_stride_n = stride_of(op_.y, 1);
    p.y_vector_ok = vector_ok(op_.y, a.y) ? 1 : 0;
    if (op_.mean && a.mean != nullptr && a.rstd != nullptr) {
      p.mean = a.mean;
      p.rstd = a.rstd;
      p.mean_stride = op_.mean->strides[0];
      p.rstd_stride = op_.rstd->strides[0];
    }
    if (direction_.pass == ir::Pass::kBackward) backward_parameters(a, workspace, p);
    return p;
  }

  void backward_parameters(const mf_layer_norm_linear_args& a, void* workspace, MfLinearParams& p) const {
    using L = ir::LayerNormLinear;
    p.d_y = a.d_y;
    p.dy_stride_m = stride_of(*op_.d_y, 0);
    p.dy_stride_n = stride_of(*op_.d_y, 1);
    p.dy_vector_ok = vector_ok(*op_.d_y, a.d_y) ? 1 : 0;
    if ((p.d_x = gradient(L::kGradX, a.d_x))) {
      p.dx_stride_m = stride_of(*op_.d_x, 0);
      p.dx_stride_k = stride_of(*op_.d_x, 1);
      p.dx_vector_ok = vector_ok(*op_.d_x, a.d_x) ? 1 : 0;
    }
    if ((p.d_gamma = gradient(L::kGradGamma, a.d_gamma))) p.dgamma_stride = stride_of(*op_.d_gamma, 0);
    if ((p.d_beta = gradient(L::kGradBeta, a.d_beta))) p.dbeta_stride = stride_of(*op_.d_beta, 0);
    if ((p.d_weight = gradient(L::kGradWeight, a.d_weight))) {
      p.dw_stride_k = stride_of(*op_.d_weight, 0);
      p.dw_stride_n = stride_of(*op_.d_weight, 1);
    }
    if ((p.d_bias = gradient(L::kGradBias, a.d_bias))) p.dbias_stride = stride_of(*op_.d_bias, 0);
    p.gamma_partial = workspace_at<float>(workspace, plan_.gamma_partial_offset, plan_.gamma_partial_bytes);
    p.weight_partial = workspace_at<float>(workspace, plan_.weight_partial_offset, plan_.weight_partial_bytes);
    p.bias_partial = workspace_at<float>(workspace, plan_.bias_partial_offset, plan_.bias_partial_bytes);
    p.row_blocks = plan_.row_blocks;
    p.groups = plan_.groups;
    p.rows_per_group = plan_.rows_per_group;
  }

  ir::LayerNormLinear op_;
  ir::Direction direction_;
  compiler::LayerNormLinearLaunchPlan plan_;
  KernelSequence kernels_;
};

}  // namespace

std::unique_ptr<Executable> make_gpu_layer_norm_linear(const ir::LayerNormLinear& op, const ir::Direction& direction,
                                                        compiler::LayerNormLinearLaunchPlan plan,
                                                        std::shared_ptr<const GpuDevice> device,
                                                        std::vector<LoadedModule> modules) {
  return std::make_unique<GpuLayerNormLinear>(op, direction, std::move(plan), std::move(device), std::move(modules));
}

}  // namespace mf::runtime
