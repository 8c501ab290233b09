// evo_attention_backward_f32_d24 [key_block_q=16,key_groups=2,key_warps=4,query_block_k=32,query_min_blocks=1,query_warps=4,stages=2]
struct MfKeys {
  using T = float;
  using BiasT = float;
  using MaskT = float;
  static constexpr int kHeadDim = 32, kBlockQ = 16, kBlockK = 64, kWarps = 8, kStages = 2, kGroups = 2;
  static constexpr int kMaskKind = 2;
  static constexpr bool kHasBias = true, kWantDBias = false, kDeterministic = true;
};
extern "C" __global__ void __launch_bounds__(256, 1) mf_evo_row_delta(const __grid_constant__ MfEvoParams p) {
  mf::evo_attention_row_delta<MfKeys>(p);
}
extern "C" __global__ void __launch_bounds__(256, 1) mf_evo_backward_keys(const __grid_constant__ MfEvoParams p) {
  mf::evo_attention_backward_keys<MfKeys>(p);
}
