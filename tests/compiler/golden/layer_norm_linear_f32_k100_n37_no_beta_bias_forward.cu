// layer_norm_linear_forward_f32_k100 [block_n=64,min_blocks=1,stages=2,warps=8]
struct MfLinear {
  using T = float;
  using GammaT = float;
  using BetaT = float;
  using BiasT = float;
  static constexpr int kK = 112, kBlockM = 128, kBlockN = 64, kWarps = 8, kStages = 2, kKChunk = 112, kChunkM = 64;
  static constexpr bool kWeightNK = false, kHasBeta = false, kHasBias = false;
};
static_assert(mf::LinearTiles<MfLinear>::kBytes == 163712, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(256, 1) mf_lnl_forward(const __grid_constant__ MfLinearParams p) {
  mf::layer_norm_linear_forward<MfLinear>(p);
}
