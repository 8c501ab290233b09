// evo_attention_backward_rows_bf16_d32 []
struct MfRows {
  using T = mf::bf16;
  using BiasT = mf::bf16;
  using MaskT = mf::u8;
  static constexpr int kHeadDim = 32, kBlockQ = 16, kBlockK = 16, kWarps = 1, kStages = 1, kGroups = 1;
  static constexpr int kRowsPerBlock = 1, kMaskKind = 1;
  static constexpr bool kHasBias = true, kWantDBias = true, kDeterministic = true;
};
extern "C" __global__ void __launch_bounds__(256, 1) mf_evo_row_delta(const __grid_constant__ MfEvoParams p) {
  mf::evo_attention_row_delta<MfRows>(p);
}
extern "C" __global__ void __launch_bounds__(256, 1) mf_evo_dbias_finalize(const __grid_constant__ MfEvoParams p) {
  mf::evo_attention_dbias_finalize<MfRows>(p);
}
// evo_attention_backward_keys_bf16_d32 [key_block_q=16,key_groups=1,key_warps=2,stages=2]
struct MfKeys {
  using T = mf::bf16;
  using BiasT = mf::bf16;
  using MaskT = mf::u8;
  static constexpr int kHeadDim = 32, kBlockQ = 16, kBlockK = 32, kWarps = 2, kStages = 2, kGroups = 1;
  static constexpr int kRowsPerBlock = 1, kMaskKind = 1;
  static constexpr bool kHasBias = true, kWantDBias = true, kDeterministic = true;
};
static_assert(mf::KeysLayout<MfKeys>::kBytes == 13312, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(64, 1) mf_evo_backward_keys(const __grid_constant__ MfEvoParams p) {
  mf::evo_attention_backward_keys<MfKeys>(p);
}
extern "C" __global__ void __launch_bounds__(64, 1) mf_evo_backward_keys_global_strip(const __grid_constant__ MfEvoParams p) {
  mf::evo_attention_backward_keys<MfKeys, false>(p);
}
// evo_attention_backward_queries_bf16_d32 [query_block_k=16,query_occupancy=4,query_rows_per_block=1,query_warps=2,stages=2]
struct MfQueries {
  using T = mf::bf16;
  using BiasT = mf::bf16;
  using MaskT = mf::u8;
  static constexpr int kHeadDim = 32, kBlockQ = 32, kBlockK = 16, kWarps = 2, kStages = 2, kGroups = 1;
  static constexpr int kRowsPerBlock = 1, kMaskKind = 1;
  static constexpr bool kHasBias = true, kWantDBias = true, kDeterministic = true;
};
static_assert(mf::QueriesLayout<MfQueries>::kBytes == 13440, "the host's shared memory");
extern "C" __global__ void __launch_bounds__(64, 2) mf_evo_backward_queries(const __grid_constant__ MfEvoParams p) {
  mf::evo_attention_backward_queries<MfQueries>(p);
}
