// The run-time arguments of the Transition kernels, shared verbatim by the host (which
// fills it) and the generated device code (which receives it by value). Sizes and strides
// (in elements) are run-time values: one binary serves every M of its D and F.
#pragma once

struct MfTransitionParams {
  int rows, dim, hidden;  // M, D, F (= E·D)
  float eps;
  const void* x;  // [M, D]
  long long x_stride_m, x_stride_d;
  int x_vector_ok;  // x_stride_d == 1, 16-byte aligned base and rows
  const void* gamma;  // [D], or null without the LayerNorm
  const void* beta;   // [D] or null
  long long gamma_stride, beta_stride;
  const void* w1;  // logical [D, 2F]: columns 0..F-1 make a, F..2F-1 make g
  long long w1_stride_d, w1_stride_f;
  int w1_vector_ok;  // unit stride along the dimension the kernel reads rows of, aligned
  const void* w2;  // logical [F, D]
  long long w2_stride_f, w2_stride_d;
  int w2_vector_ok;
  void* y;  // [M, D]
  long long y_stride_m, y_stride_d;
  int y_vector_ok;
  float* mean;  // [M], or null when the forward need not save it
  float* rstd;
  long long mean_stride, rstd_stride;
  int row_blocks;  // blocks over M (forward: block b computes columns (b / row_blocks)·kBlockD.. of y)
  // Backward: dy [M, D]; the gradients, each null when not wanted, strided like their primal.
  const void* d_y;
  long long dy_stride_m, dy_stride_d;
  int dy_vector_ok;
  void* d_x;
  long long dx_stride_m, dx_stride_d;
  void* d_gamma;
  void* d_beta;
  long long dgamma_stride, dbeta_stride;
  void* d_w1;
  long long dw1_stride_d, dw1_stride_f;
  void* d_w2;
  long long dw2_stride_f, dw2_stride_d;
  // Workspace: per row block of the rows kernel, its sums of dh0 ⊙ x̂ and dh0 [row_blocks,
  // 2, kD]; per group of rows of the weights kernel, its dW1 and dW2 [groups, D, 2F] and
  // [groups, F, D]. The finalize kernel adds them in index order: results do not depend on
  // scheduling.
  float* gamma_partial;
  float* w1_partial;
  float* w2_partial;
  int groups, rows_per_group;
};
