// layer_norm_linear_forward_bf16_k128 [block_n=64,min_blocks=1,stages=2,warps=4]
struct MfLinear {
  using T = mf::bf16;
  using GammaT = mf::bf16;
  using BetaT = mf::bf16;
  using BiasT = mf::bf16;
  static constexpr int kK = 128, kBlockM = 64, kBlockN = 64, kWarps = 4, kStages = 2, kKChunk = 128, kChunkM = 64;
  static constexpr bool kWeightNK = true, kHasBeta = true, kHasBias = true;
};
static_assert(mf::LinearTiles<MfLinear>::kBytes == 62464, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(128, 1) mf_lnl_forward(const __grid_constant__ MfLinearParams p) {
  mf::layer_norm_linear_forward<MfLinear>(p);
}
