// The run-time arguments of the LayerNormLinear kernels, shared verbatim by the host (which
// fills it) and the generated device code (which receives it by value). Sizes and strides
// (in elements) are run-time values: one binary serves every M and N of its K.
#pragma once

struct MfLinearParams {
  int rows, in_features, out_features;  // M, K, N
  float eps;
  const void* x;  // [M, K]
  long long x_stride_m, x_stride_k;
  int x_vector_ok;  // x_stride_k == 1, 16-byte aligned base and rows
  const void* gamma;  // [K]
  const void* beta;   // [K] or null
  long long gamma_stride, beta_stride;
  const void* weight;  // logical [K, N]
  long long w_stride_k, w_stride_n;
  int w_vector_ok;  // the stride of the layout's inner dimension is 1, aligned base and rows
  const void* bias;  // [N] or null
  long long bias_stride;
  void* y;  // [M, N]
  long long y_stride_m, y_stride_n;
  int y_vector_ok;
  float* mean;  // [M], or null when the forward need not save it
  float* rstd;
  long long mean_stride, rstd_stride;
  // Backward: dy [M, N]; the gradients, each null when not wanted, strided like their primal.
  const void* d_y;
  long long dy_stride_m, dy_stride_n;
  int dy_vector_ok;
  void* d_x;
  long long dx_stride_m, dx_stride_k;
  int dx_vector_ok;
  void* d_gamma;
  void* d_beta;
  long long dgamma_stride, dbeta_stride;
  void* d_weight;
  long long dw_stride_k, dw_stride_n;
  void* d_bias;
  long long dbias_stride;
  // Workspace: per row block, the block's sums of dĥ ⊙ x̂ and dĥ over its rows [row_blocks,
  // 2, K]; per group of rows, the group's dW and db [groups, K, N] and [groups, N]. The
  // finalize kernel adds them in index order, so results do not depend on scheduling.
  float* gamma_partial;
  float* weight_partial;
  float* bias_partial;
  int row_blocks, groups, rows_per_group;
};
