// evo_attention_forward_v4_bf16_d32 [block_k=64,occupancy=16,rows_per_block=2,stages=2,version=4,warps=8]
struct MfForward {
  using T = mf::bf16;
  using BiasT = mf::bf16;
  using MaskT = mf::u8;
  static constexpr int kHeadDim = 32, kBlockQ = 128, kBlockK = 64, kWarps = 8, kStages = 2, kGroups = 1;
  static constexpr int kRowsPerBlock = 2, kMaskKind = 1;
  static constexpr bool kHasBias = true, kWantDBias = false, kDeterministic = true;
};
static_assert(mf::ForwardV4Layout<MfForward>::kBytes == 89088, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(256, 2) mf_evo_forward(const __grid_constant__ MfEvoParams p) {
  mf::evo_attention_forward_v4<MfForward>(p);
}
