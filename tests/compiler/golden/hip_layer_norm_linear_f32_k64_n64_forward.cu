// layer_norm_linear_forward_f32_k64 [block_n=64,min_blocks=1,stages=2,warps=2]
struct MfLinear {
  using T = float;
  using GammaT = float;
  using BetaT = float;
  using BiasT = float;
  static constexpr int kK = 64, kBlockM = 32, kBlockN = 64, kWarps = 2, kStages = 2, kKChunk = 64, kChunkM = 64;
  static constexpr bool kWeightNK = true, kHasBeta = true, kHasBias = true;
};
static_assert(mf::LinearTiles<MfLinear>::kBytes == 55808, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(64, 1) mf_lnl_forward(const __grid_constant__ MfLinearParams p) {
  mf::layer_norm_linear_forward<MfLinear>(p);
}
