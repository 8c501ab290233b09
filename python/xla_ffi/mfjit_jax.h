/*
 * libmfjit_jax: mfjit's operators as XLA FFI custom calls (docs/jax.md). What the Python
 * package (python/mfjit/jax) calls with ctypes; the XLA FFI handlers themselves are the
 * mfjit_jax_cpu / mfjit_jax_cuda symbols (handlers.cpp), registered with
 * jax.ffi.register_ffi_target.
 *
 * A call is described by the operator's tensors in the order of its C API descriptor
 * (mf_evo_attention_desc: q k v bias mask o lse d_o d_q d_k d_v d_bias;
 * mf_layer_norm_linear_desc / mf_transition_desc: x gamma beta weight|w1 bias|w2 y mean rstd
 * d_y d_x d_gamma d_beta d_weight|d_w1 d_bias|d_w2), each dense and row-major as XLA holds
 * it, in the layout the user holds (mfjit.jax.evo_attention's `layout`): the library turns
 * them into the canonical descriptors (views with strides, never copies), makes the plan
 * and caches it per problem, so that tracing (mfjit_jax_prepare, which sizes the workspace
 * XLA allocates) and every execution share one plan.
 */
#ifndef MFJIT_JAX_H
#define MFJIT_JAX_H

#include <mfjit/mfjit.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MFJIT_JAX_API __attribute__((visibility("default")))

typedef enum mfjit_jax_op {
  MFJIT_JAX_EVO_ATTENTION = 0,
  MFJIT_JAX_LAYER_NORM_LINEAR = 1,
  MFJIT_JAX_TRANSITION = 2
} mfjit_jax_op;

/* EvoAttention layouts, as in python/mfjit/functional.py. */
typedef enum mfjit_jax_layout {
  MFJIT_JAX_CANONICAL = 0,      /* q [B, S, N, H, D], bias [B, S, H, N, N], mask [B, S, 1, 1, N] */
  MFJIT_JAX_SINGLE = 1,         /* q [B, N, H, D], bias [B, H, N, N], mask [B, N] */
  MFJIT_JAX_TRIANGLE_START = 2, /* q [B, I, J, H, D], bias [B, H, J, J], mask [B, I, J] */
  MFJIT_JAX_TRIANGLE_END = 3,   /* q [B, I, J, H, D] (keys along I), bias [B, H, I, I], mask [B, I, J] */
  MFJIT_JAX_MSA_ROW = 4,        /* q [B, S, N, H, D], bias [B, H, N, N], mask [B, S, N] */
  MFJIT_JAX_MSA_COLUMN = 5      /* q [B, S, N, H, D] (keys along S), no bias, mask [B, S, N] */
} mfjit_jax_layout;

typedef struct mfjit_jax_attributes {
  int32_t op;         /* mfjit_jax_op */
  int32_t direction;  /* mf_direction */
  int32_t layout;     /* mfjit_jax_layout (evo_attention) */
  int32_t dbias_mode; /* mf_dbias_mode (evo_attention) */
  double scale;       /* evo_attention; 0 selects D^-1/2 */
  double eps;         /* layer_norm_linear, transition */
} mfjit_jax_attributes;

/* One tensor of a call: dtype (MF_DTYPE_NONE: absent) and dimensions of a dense row-major array. */
typedef struct mfjit_jax_tensor {
  int32_t dtype;
  int32_t rank;
  int64_t dims[MF_MAX_RANK];
} mfjit_jax_tensor;

/* Makes (or finds in the cache) the plan of one call on `backend` ("cpu" or "cuda"; device
 * 0) and writes the bytes of workspace the call's last result must hold. On failure returns
 * the status and writes the message (NUL terminated, truncated to message_size). */
MFJIT_JAX_API int32_t mfjit_jax_prepare(const char* backend, const mfjit_jax_attributes* attributes,
                                        const mfjit_jax_tensor* tensors, int32_t count, uint64_t* workspace_bytes,
                                        char* message, size_t message_size);

/* A JSON array describing every cached plan: [{"backend": "cpu", "device": 0, "plan": {
 * mf_plan_describe's object }}, ...]. *required (may be NULL) receives the size needed with
 * the NUL; MF_ERROR_BUFFER_TOO_SMALL when buffer is NULL or too small. */
MFJIT_JAX_API int32_t mfjit_jax_describe(char* buffer, size_t size, size_t* required);

/* Drops every cached plan (each is destroyed once no running call holds it): the next
 * call of each problem makes its plan again, from the tuning database's current winners. */
MFJIT_JAX_API void mfjit_jax_forget_plans(void);

/* The workspace alignment slack mfjit_jax_prepare includes (the handler aligns the
 * workspace XLA gives up to 16 bytes). */
#define MFJIT_JAX_WORKSPACE_SLACK 16

#ifdef __cplusplus
}
#endif

#endif /* MFJIT_JAX_H */
