#include "gpu_transition.h"

#include "kernel_strides.h"
#include "status.h"

namespace mf::runtime {
namespace {

// The kernel's parameter block, shared with the device code.
#include "cuda/transition_params.h"

// The kernel reads a weight's rows along its `in` dimension where that has unit stride
// (the torch nn.Linear layout), else along `out`.
bool torch_layout(const ir::TensorDesc& w) { return w.strides[0] == 1 && w.strides[1] != 1; }

class GpuTransition final : public Executable {
 public:
  GpuTransition(const ir::Transition& op, const ir::Direction& direction, compiler::TransitionLaunchPlan plan,
                 std::shared_ptr<const GpuDevice> device, std::vector<LoadedModule> modules)
      : op_(op), direction_(direction), plan_(std::move(plan)), kernels_(std::move(device), plan_.kernels, std::move(modules)) {}

  std::size_t workspace_size() const override { return plan_.workspace_bytes; }

  void execute(const OperatorArgs& args, void* workspace, void* stream) override {
    const MfTransitionParams params = parameters(std::get<mf_transition_args>(args), workspace);
    kernels_.launch(stream, &params, sizeof params);
  }

 private:
  // The pointer of a wanted gradient, else null (the kernels skip what is null).
  void* gradient(std::uint32_t bit, void* pointer) const {
    return direction_.pass == ir::Pass::kBackward && direction_.wants(bit) ? pointer : nullptr;
  }

  MfTransitionParams parameters(const mf_transition_args& a, void* workspace) const {
    MfTransitionParams p{};
    p.rows = static_cast<int>(op_.rows());
    p.dim = static_cast<int>(op_.dim());
    p.hidden = static_cast<int>(op_.hidden());
    p.eps = static_cast<float>(op_.eps);
    p.x = a.x;
    p.x_stride_m = stride_of(op_.x, 0);
    p.x_stride_d = stride_of(op_.x, 1);
    p.x_vector_ok = vector_ok(op_.x, a.x) ? 1 : 0;
    if (op_.gamma) {
      p.gamma = a.gamma;
      p.gamma_stride = stride_of(*op_.gamma, 0);
    }
    if (op_.beta) {
      p.beta = a.beta;
      p.beta_stride = stride_of(*op_.beta, 0);
    }
    p.w1 = a.w1;
    p.w1_stride_d = stride_of(op_.w1, 0);
    p.w1_stride_f = stride_of(op_.w1, 1);
    const bool w1_nk = torch_layout(op_.w1);
    // In the [D, 2F] layout the g half starts F columns into each row: 16-byte pieces need
    // that offset on a 16-byte boundary too.
    const bool g_aligned = w1_nk || (op_.hidden() * ir::size_of(op_.w1.dtype)) % 16 == 0;
    p.w1_vector_ok = vector_ok(op_.w1, a.w1, w1_nk ? 0 : 1) && g_aligned ? 1 : 0;
    p.w2 = a.w2;
    p.w2_stride_f = stride_of(op_.w2, 0);
    p.w2_stride_d = stride_of(op_.w2, 1);
    p.w2_vector_ok = vector_ok(op_.w2, a.w2, torch_layout(op_.w2) ? 0 : 1) ? 1 : 0;
    p.y = a.y;
    p.y_stride_m = stride_of(op_.y, 0);
    p.y_stride_d = stride_of(op_.y, 1);
    p.y_vector_ok = vector_ok(op_.y, a.y) ? 1 : 0;
    if (op_.mean && a.mean != nullptr && a.rstd != nullptr) {
      p.mean = a.mean;
      p.rstd = a.rstd;
      p.mean_stride = op_.mean->strides[0];
      p.rstd_stride = op_.rstd->strides[0];
    }
    p.row_blocks = plan_.row_blocks;
    if (direction_.pass == ir::Pass::kBackward) backward_parameters(a, workspace, p);
    return p;
  }

  void backward_parameters(const mf_transition_args& a, void* workspace, MfTransitionParams& p) const {
    using X = ir::Transition;
    p.d_y = a.d_y;
    p.dy_stride_m = stride_of(*op_.d_y, 0);
    p.dy_stride_d = stride_of(*op_.d_y, 1);
    p.dy_vector_ok = vector_ok(*op_.d_y, a.d_y) ? 1 : 0;
    if ((p.d_x = gradient(X::kGradX, a.d_x))) {
      p.dx_stride_m = stride_of(*op_.d_x, 0);
      p.dx_stride_d = stride_of(*op_.d_x, 1);
    }
    if ((p.d_gamma = gradient(X::kGradGamma, a.d_gamma))) p.dgamma_stride = stride_of(*op_.d_gamma, 0);
    if ((p.d_beta = gradient(X::kGradBeta, a.d_beta))) p.dbeta_stride = stride_of(*op_.d_beta, 0);
    if ((p.d_w1 = gradient(X::kGradW1, a.d_w1))) {
      p.dw1_stride_d = stride_of(*op_.d_w1, 0);
      p.dw1_stride_f = stride_of(*op_.d_w1, 1);
    }
    if ((p.d_w2 = gradient(X::kGradW2, a.d_w2))) {
      p.dw2_stride_f = stride_of(*op_.d_w2, 0);
      p.dw2_stride_d = stride_of(*op_.d_w2, 1);
    }
    p.gamma_partial = workspace_at<float>(workspace, plan_.gamma_partial_offset, plan_.gamma_partial_bytes);
    p.w1_partial = workspace_at<float>(workspace, plan_.w1_partial_offset, plan_.w1_partial_bytes);
    p.w2_partial = workspace_at<float>(workspace, plan_.w2_partial_offset, plan_.w2_partial_bytes);
    p.groups = plan_.groups;
    p.rows_per_group = plan_.rows_per_group;
  }

  ir::Transition op_;
  ir::Direction direction_;
  compiler::TransitionLaunchPlan plan_;
  KernelSequence kernels_;
};

}  // namespace

std::unique_ptr<Executable> make_gpu_transition(const ir::Transition& op, const ir::Direction& direction,
                                                 compiler::TransitionLaunchPlan plan,
                                                 std::shared_ptr<const GpuDevice> device,
                                                 std::vector<LoadedModule> modules) {
  return std::make_unique<GpuTransition>(op, direction, std::move(plan), std::move(device), std::move(modules));
}

}  // namespace mf::runtime
