// transition_forward_bf16_d128 [block_d=128,block_f=32,occupancy=8,stages=2,warps=4]
struct MfTransition {
  using T = mf::bf16;
  using GammaT = mf::bf16;
  using BetaT = mf::bf16;
  static constexpr int kD = 128, kBlockD = 128, kBlockF = 32, kWarps = 4, kStages = 2;
  static constexpr bool kLayerNorm = true, kHasBeta = true, kW1NK = true, kW2NK = true;
};
static_assert(mf::TransitionTiles<MfTransition>::kBytes == 73728, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(128, 2) mf_transition_forward(const __grid_constant__ MfTransitionParams p) {
  mf::transition_forward<MfTransition>(p);
}
