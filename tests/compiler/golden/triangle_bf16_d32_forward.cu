// evo_attention_forward_bf16_d32 [block_k=64,min_blocks=3,stages=2,warps=4]
struct MfForward {
  using T = mf::bf16;
  using BiasT = mf::bf16;
  using MaskT = mf::u8;
  static constexpr int kHeadDim = 32, kBlockQ = 64, kBlockK = 64, kWarps = 4, kStages = 2, kGroups = 1;
  static constexpr int kMaskKind = 1;
  static constexpr bool kHasBias = true, kWantDBias = false, kDeterministic = true;
};
extern "C" __global__ void __launch_bounds__(128, 3) mf_evo_forward(const __grid_constant__ MfEvoParams p) {
  mf::evo_attention_forward<MfForward>(p);
}
