// transition_forward_f16_d64 [block_d=64,block_f=32,occupancy=8,stages=2,warps=4]
struct MfTransition {
  using T = mf::f16;
  using GammaT = mf::f16;
  using BetaT = mf::f16;
  static constexpr int kD = 64, kBlockD = 64, kBlockF = 32, kWarps = 4, kStages = 2;
  static constexpr bool kLayerNorm = true, kHasBeta = true, kW1NK = true, kW2NK = true;
};
static_assert(mf::TransitionTiles<MfTransition>::kBytes == 38400, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(128, 2) mf_transition_forward(const __grid_constant__ MfTransitionParams p) {
  mf::transition_forward<MfTransition>(p);
}
