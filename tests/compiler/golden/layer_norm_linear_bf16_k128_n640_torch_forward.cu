// layer_norm_linear_forward_v2_bf16_k128 [block_n=128,min_blocks=1,stages=2,version=2,warps=8]
struct MfLinear {
  using T = mf::bf16;
  using GammaT = mf::bf16;
  using BetaT = mf::bf16;
  using BiasT = mf::bf16;
  static constexpr int kK = 128, kBlockM = 64, kBlockN = 128, kWarps = 8, kStages = 2, kKChunk = 128, kChunkM = 64;
  static constexpr bool kWeightNK = true, kHasBeta = true, kHasBias = true;
};
static_assert(mf::LinearV2Layout<MfLinear>::kBytes == 138752, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(256, 1) mf_lnl_forward(const __grid_constant__ MfLinearParams p) {
  mf::layer_norm_linear_forward_v2<MfLinear>(p);
}
