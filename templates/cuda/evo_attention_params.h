// The run-time arguments of every EvoAttention kernel, shared verbatim by the host (which
// fills it) and the generated device code (which receives it by value). Sizes and strides
// are run-time values so that one binary serves every N. Strides are in elements.
#pragma once

// Q, K, V, O, dO, dQ, dK, dV: logical [B, S, N, H, D].
struct MfSeqTensor {
  void* data;
  long long stride_b, stride_s, stride_n, stride_h, stride_d;
  int vector_ok;  // the host checked: stride_d == 1, 16-byte aligned base and row starts
};

// bias and dBias: logical [B, S, H, Nq, Nk], stride 0 on broadcast dimensions.
struct MfPairTensor {
  void* data;
  long long stride_b, stride_s, stride_h, stride_q, stride_k;
  int batch, rows, heads;  // extents along B, S, H (1 where dBias sums over the dimension)
  int vector_ok;           // stride_k == 1, 16-byte aligned base and rows
};

struct MfEvoParams {
  int batch, rows, seq_len, heads, head_dim;
  float scale;       // c
  float scale_log2;  // c · log2(e): logits are formed in base 2 for ex2
  MfSeqTensor q, k, v, o, d_o, d_q, d_k, d_v;
  MfPairTensor bias, d_bias;
  // Key mask [B, S, 1, 1, N]: stride along b, s and key.
  const void* mask;
  long long mask_stride_b, mask_stride_s, mask_stride_k;
  float* lse;  // [B, S, H, N] contiguous, natural log; +inf on fully masked rows
  // Workspace (backward): Δ = rowsum(dO ⊙ O) [B·S·H, N]; dQ accumulator (fast mode)
  // [B·S·H, N, D]; dBias partial sums [groups, B, H, Nk, Nq] (key-major).
  float* delta;
  float* dq_accum;
  float* dbias_partial;
  int rows_per_group;    // s rows reduced on chip by one backward block
  int groups;            // ceil(rows / rows_per_group)
  int partial_slots;     // dBias partials: groups, or 1 when fast mode adds groups atomically
};
