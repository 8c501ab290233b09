// evo_attention_forward_bf16_d32 [block_k=32,occupancy=16,rows_per_block=2,stages=2,warps=8]
struct MfForward {
  using T = mf::bf16;
  using BiasT = mf::bf16;
  using MaskT = mf::u8;
  static constexpr int kHeadDim = 32, kBlockQ = 128, kBlockK = 32, kWarps = 8, kStages = 2, kGroups = 1;
  static constexpr int kRowsPerBlock = 2, kMaskKind = 1;
  static constexpr bool kHasBias = true, kWantDBias = false, kDeterministic = false;
};
static_assert(mf::ForwardLayout<MfForward>::kBytes == 61952, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(256, 2) mf_evo_forward(const __grid_constant__ MfEvoParams p) {
  mf::evo_attention_forward<MfForward>(p);
}
