// The reference backend: every operator, forward and backward, exactly as DESIGN.md §1
// defines it, accumulating in double. It is the oracle of every test and the fallback of
// the cpu backend. It favours obviously-right over fast, but is multithreaded.
#pragma once

#include "mf/ir/problem.h"
#include "mf/reference/thread_pool.h"

namespace mf::reference {

// Host pointers of one execution, one per tensor of the descriptor; pointers of absent
// tensors are ignored.
struct EvoAttentionData {
  const void *q = nullptr, *k = nullptr, *v = nullptr, *bias = nullptr, *mask = nullptr;
  void* o = nullptr;
  float* lse = nullptr;
  const void* d_o = nullptr;
  void *d_q = nullptr, *d_k = nullptr, *d_v = nullptr, *d_bias = nullptr;
};

struct LayerNormLinearData {
  const void *x = nullptr, *gamma = nullptr, *beta = nullptr, *weight = nullptr, *bias = nullptr;
  void* y = nullptr;
  float *mean = nullptr, *rstd = nullptr;
  const void* d_y = nullptr;
  void *d_x = nullptr, *d_gamma = nullptr, *d_beta = nullptr, *d_weight = nullptr, *d_bias = nullptr;
};

struct TransitionData {
  const void *x = nullptr, *gamma = nullptr, *beta = nullptr, *w1 = nullptr, *w2 = nullptr;
  void* y = nullptr;
  float *mean = nullptr, *rstd = nullptr;
  const void* d_y = nullptr;
  void *d_x = nullptr, *d_gamma = nullptr, *d_beta = nullptr, *d_w1 = nullptr, *d_w2 = nullptr;
};

// The problem must have passed ir::validate. The backward recomputes the forward in
// double from the inputs; it does not read o, lse, mean or rstd, so its gradients are
// exact for the given inputs whatever precision the forward was stored in. A row of
// EvoAttention whose logits are all -inf outputs 0, saves lse = +inf and has zero
// gradients: with lse = +inf, the P = exp(L - lse) of a backward that reads the saved lse
// is 0 for every key, so its gradients are zero from the formula itself (the
// FlashAttention convention; lse = -inf would give exp(-inf + inf) = NaN). Gradients are
// written, not accumulated.
void run(const ir::EvoAttention& op, const ir::Direction& direction, const EvoAttentionData& data,
         ThreadPool& pool);
void run(const ir::LayerNormLinear& op, const ir::Direction& direction, const LayerNormLinearData& data,
         ThreadPool& pool);
void run(const ir::Transition& op, const ir::Direction& direction, const TransitionData& data,
         ThreadPool& pool);

}  // namespace mf::reference
