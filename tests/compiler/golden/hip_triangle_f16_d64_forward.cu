// evo_attention_forward_f16_d64 [block_k=64,occupancy=4,rows_per_block=1,stages=2,warps=4]
struct MfForward {
  using T = mf::f16;
  using BiasT = mf::f16;
  using MaskT = mf::u8;
  static constexpr int kHeadDim = 64, kBlockQ = 64, kBlockK = 64, kWarps = 4, kStages = 2, kGroups = 1;
  static constexpr int kRowsPerBlock = 1, kMaskKind = 1;
  static constexpr bool kHasBias = true, kWantDBias = false, kDeterministic = true;
};
static_assert(mf::ForwardLayout<MfForward>::kBytes == 65024, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(128, 1) mf_evo_forward(const __grid_constant__ MfEvoParams p) {
  mf::evo_attention_forward<MfForward>(p);
}
