// transition_backward_rows_f16_d64 [block_f=16,occupancy=4,warps=4]
struct MfRows {
  using T = mf::f16;
  using GammaT = mf::f16;
  using BetaT = mf::f16;
  static constexpr int kD = 64, kBlockD = 64, kBlockF = 16, kWarps = 4, kStages = 2;
  static constexpr bool kLayerNorm = true, kHasBeta = true, kW1NK = true, kW2NK = true;
};
static_assert(mf::TransitionRowsTiles<MfRows>::kBytes == 54272, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(128, 1) mf_transition_backward_rows(const __grid_constant__ MfTransitionParams p) {
  mf::transition_backward_rows<MfRows>(p);
}
// transition_backward_weights_f16_d64 [weight_block_f=16,weight_warps=8]
struct MfWeights {
  using T = mf::f16;
  using GammaT = mf::f16;
  using BetaT = mf::f16;
  static constexpr int kD = 64, kBlockD = 64, kBlockF = 16, kWarps = 8, kStages = 1;
  static constexpr bool kLayerNorm = true, kHasBeta = true, kW1NK = true, kW2NK = true;
};
static_assert(mf::TransitionWeightsTiles<MfWeights>::kBytes == 62464, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(256, 1) mf_transition_backward_weights(const __grid_constant__ MfTransitionParams p) {
  mf::transition_backward_weights<MfWeights>(p);
}
// transition_backward_finalize_f16_d64 []
struct MfFinalize {
  using T = mf::f16;
  using GammaT = mf::f16;
  using BetaT = mf::f16;
  static constexpr int kD = 64, kBlockD = 64, kBlockF = 16, kWarps = 1, kStages = 1;
  static constexpr bool kLayerNorm = true, kHasBeta = true, kW1NK = true, kW2NK = true;
};
extern "C" __global__ void __launch_bounds__(256, 1) mf_transition_backward_finalize(const __grid_constant__ MfTransitionParams p) {
  mf::transition_backward_finalize<MfFinalize>(p);
}
