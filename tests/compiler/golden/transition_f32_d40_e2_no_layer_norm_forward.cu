// transition_forward_f32_d40 [block_d=32,block_f=32,occupancy=8,stages=2,warps=4]
struct MfTransition {
  using T = float;
  using GammaT = float;
  using BetaT = float;
  static constexpr int kD = 48, kBlockD = 32, kBlockF = 32, kWarps = 4, kStages = 2;
  static constexpr bool kLayerNorm = false, kHasBeta = false, kW1NK = false, kW2NK = false;
};
static_assert(mf::TransitionTiles<MfTransition>::kBytes == 52224, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(128, 2) mf_transition_forward(const __grid_constant__ MfTransitionParams p) {
  mf::transition_forward<MfTransition>(p);
}
