// transition_backward_rows_bf16_d128 [block_f=32,occupancy=4,warps=4]
struct MfRows {
  using T = mf::bf16;
  using GammaT = mf::bf16;
  using BetaT = mf::bf16;
  static constexpr int kD = 128, kBlockD = 128, kBlockF = 32, kWarps = 4, kStages = 2;
  static constexpr bool kLayerNorm = true, kHasBeta = true, kW1NK = true, kW2NK = true;
};
static_assert(mf::TransitionRowsTiles<MfRows>::kBytes == 129536, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(128, 1) mf_transition_backward_rows(const __grid_constant__ MfTransitionParams p) {
  mf::transition_backward_rows<MfRows>(p);
}
// transition_backward_weights_bf16_d128 [weight_block_f=32,weight_warps=8]
struct MfWeights {
  using T = mf::bf16;
  using GammaT = mf::bf16;
  using BetaT = mf::bf16;
  static constexpr int kD = 128, kBlockD = 128, kBlockF = 32, kWarps = 8, kStages = 1;
  static constexpr bool kLayerNorm = true, kHasBeta = true, kW1NK = true, kW2NK = true;
};
static_assert(mf::TransitionWeightsTiles<MfWeights>::kBytes == 128000, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(256, 1) mf_transition_backward_weights(const __grid_constant__ MfTransitionParams p) {
  mf::transition_backward_weights<MfWeights>(p);
}
// transition_backward_finalize_bf16_d128 []
struct MfFinalize {
  using T = mf::bf16;
  using GammaT = mf::bf16;
  using BetaT = mf::bf16;
  static constexpr int kD = 128, kBlockD = 128, kBlockF = 16, kWarps = 1, kStages = 1;
  static constexpr bool kLayerNorm = true, kHasBeta = true, kW1NK = true, kW2NK = true;
};
extern "C" __global__ void __launch_bounds__(256, 1) mf_transition_backward_finalize(const __grid_constant__ MfTransitionParams p) {
  mf::transition_backward_finalize<MfFinalize>(p);
}
