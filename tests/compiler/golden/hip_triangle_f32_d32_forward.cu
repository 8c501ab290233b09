// evo_attention_forward_f32_d32 [block_k=32,occupancy=4,rows_per_block=1,stages=2,warps=4]
struct MfForward {
  using T = float;
  using BiasT = float;
  using MaskT = mf::u8;
  static constexpr int kHeadDim = 32, kBlockQ = 64, kBlockK = 32, kWarps = 4, kStages = 2, kGroups = 1;
  static constexpr int kRowsPerBlock = 1, kMaskKind = 1;
  static constexpr bool kHasBias = true, kWantDBias = false, kDeterministic = true;
};
static_assert(mf::ForwardLayout<MfForward>::kBytes == 51456, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(128, 1) mf_evo_forward(const __grid_constant__ MfEvoParams p) {
  mf::evo_attention_forward<MfForward>(p);
}
