// layer_norm_linear_backward_rows_bf16_k384 [block_n=64,warps=4]
struct MfRows {
  using T = mf::bf16;
  using GammaT = mf::bf16;
  using BetaT = mf::bf16;
  using BiasT = mf::bf16;
  static constexpr int kK = 384, kBlockM = 64, kBlockN = 64, kWarps = 4, kStages = 2, kKChunk = 128, kChunkM = 64;
  static constexpr bool kWeightNK = false, kHasBeta = true, kHasBias = true;
};
static_assert(mf::LinearRowsTiles<MfRows>::kBytes == 211456, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(128, 1) mf_lnl_backward_rows(const __grid_constant__ MfLinearParams p) {
  mf::layer_norm_linear_backward_rows<MfRows>(p);
}
// layer_norm_linear_backward_weights_bf16_k384 [weight_block_n=64]
struct MfWeights {
  using T = mf::bf16;
  using GammaT = mf::bf16;
  using BetaT = mf::bf16;
  using BiasT = mf::bf16;
  static constexpr int kK = 384, kBlockM = 64, kBlockN = 64, kWarps = 8, kStages = 1, kKChunk = 128, kChunkM = 64;
  static constexpr bool kWeightNK = false, kHasBeta = true, kHasBias = true;
};
static_assert(mf::LinearWeightsTiles<MfWeights>::kBytes == 62976, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(256, 1) mf_lnl_backward_weights(const __grid_constant__ MfLinearParams p) {
  mf::layer_norm_linear_backward_weights<MfWeights>(p);
}
// layer_norm_linear_backward_finalize_bf16_k384 []
struct MfFinalize {
  using T = mf::bf16;
  using GammaT = mf::bf16;
  using BetaT = mf::bf16;
  using BiasT = mf::bf16;
  static constexpr int kK = 384, kBlockM = 16, kBlockN = 16, kWarps = 1, kStages = 1, kKChunk = 128, kChunkM = 64;
  static constexpr bool kWeightNK = false, kHasBeta = true, kHasBias = true;
};
extern "C" __global__ void __launch_bounds__(256, 1) mf_lnl_backward_finalize(const __grid_constant__ MfLinearParams p) {
  mf::layer_norm_linear_backward_finalize<MfFinalize>(p);
}
