#include "gpu_evo_attention.h"

#include <cstdint>
#include <vector>

#include "kernel_strides.h"
#include "status.h"

namespace mf::runtime {
namespace {

// The kernels' parameter block, shared with the device code.
#include "cuda/evo_attention_params.h"

using ir::TensorDesc;

// Q, K, V, O and their gradients: [B, S, N, H, D].
MfSeqTensor seq_tensor(const std::optional<TensorDesc>& desc, const void* data) {
  if (!desc || data == nullptr) return MfSeqTensor{};
  return {const_cast<void*>(data), stride_of(*desc, 0), stride_of(*desc, 1), stride_of(*desc, 2),
          stride_of(*desc, 3),     stride_of(*desc, 4), vector_ok(*desc, data) ? 1 : 0};
}

// bias and dBias: [B, S, H, Nq, Nk].
MfPairTensor pair_tensor(const std::optional<TensorDesc>& desc, const void* data) {
  if (!desc || data == nullptr) return MfPairTensor{};
  return {const_cast<void*>(data),
          stride_of(*desc, 0),
          stride_of(*desc, 1),
          stride_of(*desc, 2),
          stride_of(*desc, 3),
          stride_of(*desc, 4),
          static_cast<int>(desc->shape[0]),
          static_cast<int>(desc->shape[1]),
          static_cast<int>(desc->shape[2]),
          vector_ok(*desc, data) ? 1 : 0};
}

template <typename T>
T* at_offset(void* workspace, std::size_t offset) {
  return reinterpret_cast<T*>(static_cast<unsigned char*>(workspace) + offset);
}

class GpuEvoAttention final : public Executable {
 public:
  GpuEvoAttention(const ir::EvoAttention& op, const ir::Direction& direction, compiler::EvoAttentionLaunchPlan plan,
                  std::shared_ptr<const GpuDevice> device, std::vector<LoadedModule> modules)
      : op_(op), direction_(direction), plan_(std::move(plan)),
        kernels_(std::move(device), plan_.kernels, std::move(modules)) {}

  std::size_t workspace_size() const override { return plan_.workspace_bytes; }

  void execute(const OperatorArgs& args, void* workspace, void* stream) override {
    const MfEvoParams params = parameters(std::get<mf_evo_attention_args>(args), workspace);
    if (plan_.zero_dq_accum) kernels_.device().zero_async(params.dq_accum, plan_.dq_accum_bytes / 4, stream, "dQ accumulator");
    if (plan_.zero_dbias_partial)
      kernels_.device().zero_async(params.dbias_partial, plan_.dbias_partial_bytes / 4, stream, "dBias accumulator");
    kernels_.launch(stream, &params, sizeof params);
  }

 private:
  MfEvoParams parameters(const mf_evo_attention_args& a, void* workspace) const {
    const bool backward = direction_.pass == ir::Pass::kBackward;
    MfEvoParams p{};
    p.batch = static_cast<int>(op_.batch());
    p.rows = static_cast<int>(op_.rows());
    p.seq_len = static_cast<int>(op_.seq_len());
    p.heads = static_cast<int>(op_.heads());
    p.head_dim = static_cast<int>(op_.head_dim());
    p.scale = static_cast<float>(op_.effective_scale());
    p.scale_log2 = static_cast<float>(op_.effective_scale() * 1.4426950408889634);
    p.q = seq_tensor(op_.q, a.q);
    p.k = seq_tensor(op_.k, a.k);
    p.v = seq_tensor(op_.v, a.v);
    p.o = seq_tensor(op_.o, a.o);
    p.bias = pair_tensor(op_.bias, a.bias);
    if (op_.mask && a.mask != nullptr) {
      p.mask = a.mask;
      p.mask_stride_b = stride_of(*op_.mask, 0);
      p.mask_stride_s = stride_of(*op_.mask, 1);
      p.mask_stride_k = stride_of(*op_.mask, 4);
    }
    p.lse = a.lse;
    if (backward) {
      p.d_o = seq_tensor(op_.d_o, a.d_o);
      p.d_q = seq_tensor(op_.d_q, direction_.wants(ir::EvoAttention::kGradQ) ? a.d_q : nullptr);
      p.d_k = seq_tensor(op_.d_k, direction_.wants(ir::EvoAttention::kGradK) ? a.d_k : nullptr);
      p.d_v = seq_tensor(op_.d_v, direction_.wants(ir::EvoAttention::kGradV) ? a.d_v : nullptr);
      p.d_bias = pair_tensor(op_.d_bias, direction_.wants(ir::EvoAttention::kGradBias) ? a.d_bias : nullptr);
      p.delta = at_offset<float>(workspace, plan_.delta_offset);
      if (plan_.dq_accum_bytes > 0) p.dq_accum = at_offset<float>(workspace, plan_.dq_accum_offset);
      if (plan_.dbias_partial_bytes > 0) p.dbias_partial = at_offset<float>(workspace, plan_.dbias_partial_offset);
    }
    p.rows_per_group = plan_.rows_per_group;
    p.groups = plan_.groups;
    p.partial_slots = plan_.partial_slots;
    return p;
  }

  ir::EvoAttention op_;
  ir::Direction direction_;
  compiler::EvoAttentionLaunchPlan plan_;
  KernelSequence kernels_;
};

}  // namespace

std::unique_ptr<Executable> make_gpu_evo_attention(const ir::EvoAttention& op, const ir::Direction& direction,
                                                    compiler::EvoAttentionLaunchPlan plan,
                                                    std::shared_ptr<const GpuDevice> device,
                                                    std::vector<LoadedModule> modules) {
  return std::make_unique<GpuEvoAttention>(op, direction, std::move(plan), std::move(device), std::move(modules));
}

}  // namespace mf::runtime
