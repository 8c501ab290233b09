// layer_norm_linear_backward_rows_f32_k64 [block_n=32,warps=2]
struct MfRows {
  using T = float;
  using GammaT = float;
  using BetaT = float;
  using BiasT = float;
  static constexpr int kK = 64, kBlockM = 32, kBlockN = 32, kWarps = 2, kStages = 2, kKChunk = 64, kChunkM = 64;
  static constexpr bool kWeightNK = true, kHasBeta = true, kHasBias = true;
};
static_assert(mf::LinearRowsTiles<MfRows>::kBytes == 48384, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(64, 1) mf_lnl_backward_rows(const __grid_constant__ MfLinearParams p) {
  mf::layer_norm_linear_backward_rows<MfRows>(p);
}
// layer_norm_linear_backward_weights_f32_k64 [weight_block_n=32]
struct MfWeights {
  using T = float;
  using GammaT = float;
  using BetaT = float;
  using BiasT = float;
  static constexpr int kK = 64, kBlockM = 64, kBlockN = 32, kWarps = 8, kStages = 1, kKChunk = 64, kChunkM = 64;
  static constexpr bool kWeightNK = true, kHasBeta = true, kHasBias = true;
};
static_assert(mf::LinearWeightsTiles<MfWeights>::kBytes == 29696, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(256, 1) mf_lnl_backward_weights(const __grid_constant__ MfLinearParams p) {
  mf::layer_norm_linear_backward_weights<MfWeights>(p);
}
// layer_norm_linear_backward_finalize_f32_k64 []
struct MfFinalize {
  using T = float;
  using GammaT = float;
  using BetaT = float;
  using BiasT = float;
  static constexpr int kK = 64, kBlockM = 16, kBlockN = 16, kWarps = 1, kStages = 1, kKChunk = 64, kChunkM = 64;
  static constexpr bool kWeightNK = true, kHasBeta = true, kHasBias = true;
};
extern "C" __global__ void __launch_bounds__(256, 1) mf_lnl_backward_finalize(const __grid_constant__ MfLinearParams p) {
  mf::layer_norm_linear_backward_finalize<MfFinalize>(p);
}
