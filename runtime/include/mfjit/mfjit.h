/*
 * mfjit — tuned fused kernels for AlphaFold3-style training. The C API.
 *
 * Conventions (docs/c-api.md has the full reference):
 * - Every function returns an mf_status. On failure, mf_last_error() returns a message for
 *   the calling thread that names the argument and the rule it broke. No function aborts,
 *   throws or writes through a null pointer.
 * - Problems are described once, at plan creation, by tensor descriptors (dtype, shape,
 *   element strides; a stride of 0 broadcasts). Execution takes only data pointers, which
 *   must match the descriptors the plan was made with.
 * - Handles are opaque. A plan belongs to the context that made it and is executed with it.
 *   A handle of the wrong kind is reported (MF_ERROR_INVALID_HANDLE); using a destroyed
 *   handle is undefined behaviour, as with free().
 * - Contexts and plans may be used from several threads, but one plan must not be executed
 *   concurrently with itself, and a handle must not be destroyed while another thread uses
 *   it. Executions on one cpu context run one at a time (they share its worker threads).
 */
#ifndef MFJIT_MFJIT_H
#define MFJIT_MFJIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define MF_API __declspec(dllexport)
#else
#define MF_API __attribute__((visibility("default")))
#endif

#define MF_VERSION_MAJOR 0
#define MF_VERSION_MINOR 1
#define MF_VERSION_PATCH 0

/* ---- status ------------------------------------------------------------------------- */

typedef enum mf_status {
  MF_SUCCESS = 0,
  MF_ERROR_INVALID_ARGUMENT = 1,    /* a null pointer, an enum or option out of range */
  MF_ERROR_INVALID_HANDLE = 2,      /* a null handle, or one that is not of the expected kind */
  MF_ERROR_SHAPE_MISMATCH = 3,      /* shapes disagree, or a tensor does not broadcast */
  MF_ERROR_UNSUPPORTED = 4,         /* dtype, head dim or operation the backend lacks */
  MF_ERROR_OVERFLOW = 5,            /* an element count or offset that does not fit */
  MF_ERROR_MISALIGNED = 6,          /* a pointer or stride breaks a required alignment */
  MF_ERROR_CONTEXT_MISMATCH = 7,    /* a plan executed with a context it does not belong to */
  MF_ERROR_BACKEND_UNAVAILABLE = 8, /* the requested backend or device is not present */
  MF_ERROR_DEVICE = 9,              /* the device driver reported an error */
  MF_ERROR_WORKSPACE = 10,          /* the workspace given is smaller than the plan needs */
  MF_ERROR_BUFFER_TOO_SMALL = 11,   /* an output string buffer is too small */
  MF_ERROR_OUT_OF_MEMORY = 12,
  MF_ERROR_INTERNAL = 13,           /* a bug in mfjit: please report it with the message */
  MF_ERROR_COMPILE = 14             /* the run-time compiler rejected generated code (message has its log) */
} mf_status;

/* A static English name of the status, e.g. "MF_ERROR_SHAPE_MISMATCH". Never NULL. */
MF_API const char* mf_status_string(mf_status status);

/* The message of the last failed call on this thread ("" when none). Valid until the next
 * mfjit call on this thread. Never NULL. */
MF_API const char* mf_last_error(void);

/* ---- version ------------------------------------------------------------------------ */

/* The library's version; any out-pointer may be NULL. Compare with MF_VERSION_* to detect
 * a header/library mismatch. */
MF_API void mf_version(int* major, int* minor, int* patch);
/* "0.1.0" */
MF_API const char* mf_version_string(void);

/* ---- tensors ------------------------------------------------------------------------ */

typedef enum mf_dtype {
  MF_DTYPE_NONE = 0, /* marks an absent optional tensor */
  MF_DTYPE_BOOL = 1, /* one byte, nonzero is true; boolean masks only */
  MF_DTYPE_F16 = 2,
  MF_DTYPE_BF16 = 3,
  MF_DTYPE_F32 = 4,
  MF_DTYPE_F64 = 5 /* cpu backend only */
} mf_dtype;

#define MF_MAX_RANK 8

/* A strided tensor. Strides are in elements, not bytes, and must be >= 0; a stride of 0
 * broadcasts the dimension. A descriptor whose dtype is MF_DTYPE_NONE is absent. */
typedef struct mf_tensor_desc {
  mf_dtype dtype;
  int32_t rank;
  int64_t shape[MF_MAX_RANK];
  int64_t strides[MF_MAX_RANK];
} mf_tensor_desc;

/* Fills *desc with a row-major contiguous tensor. */
MF_API mf_status mf_tensor_desc_contiguous(mf_tensor_desc* desc, mf_dtype dtype, int32_t rank,
                                           const int64_t* shape);

/* ---- context ------------------------------------------------------------------------ */

typedef enum mf_backend {
  MF_BACKEND_AUTO = 0, /* cuda when a CUDA device is present, else cpu (never hip, yet) */
  MF_BACKEND_CPU = 1,  /* the reference backend: host memory, synchronous */
  MF_BACKEND_CUDA = 2,
  MF_BACKEND_HIP = 3
} mf_backend;

#define MF_MAX_CPU_THREADS 1024

typedef struct mf_context_options {
  mf_backend backend;
  int32_t device;         /* device ordinal for cuda and hip */
  int32_t cpu_threads;    /* cpu backend worker threads, 0..MF_MAX_CPU_THREADS; 0 = hardware concurrency */
  const char* cache_dir;  /* compiled-kernel cache; NULL = $MFJIT_CACHE_DIR, else $XDG_CACHE_HOME/mfjit,
                             else ~/.cache/mfjit, else /tmp/mfjit-cache */
  const char* db_path;    /* tuning database; NULL = $MFJIT_DB or <cache_dir>/tuning.db */
} mf_context_options;

typedef struct mf_context_s* mf_context;

/* Default options: auto backend, device 0, default threads and paths. */
MF_API void mf_context_options_init(mf_context_options* options);

/* Creates a context. options may be NULL for the defaults. With MF_BACKEND_AUTO a missing
 * driver or device falls back to the cpu backend without error; naming a backend that is
 * not present returns MF_ERROR_BACKEND_UNAVAILABLE. */
MF_API mf_status mf_context_create(const mf_context_options* options, mf_context* context);
/* Destroys a context; NULL is accepted and ignored. Plans of the context must be destroyed
 * first; MF_ERROR_INVALID_ARGUMENT if some are alive (the context is then kept). */
MF_API mf_status mf_context_destroy(mf_context context);
/* The backend the context runs on (never MF_BACKEND_AUTO). */
MF_API mf_status mf_context_backend(mf_context context, mf_backend* backend);

/* ---- devices ------------------------------------------------------------------------ */

typedef struct mf_device_info {
  char name[256];
  char arch[32];              /* "sm_90", "gfx90a", or the host's CPU architecture */
  int32_t multiprocessors;    /* SMs, CUs, or CPU threads */
  int64_t memory_bytes;
  int64_t l2_cache_bytes;
  int32_t driver_version;     /* e.g. 13000 for CUDA 13.0; 0 on the cpu */
} mf_device_info;

/* Number of devices of a backend (cpu: 1). A backend whose driver is missing reports 0
 * devices and MF_SUCCESS; MF_BACKEND_AUTO is MF_ERROR_INVALID_ARGUMENT. */
MF_API mf_status mf_device_count(mf_backend backend, int32_t* count);
/* Describes device `ordinal` of a backend. */
MF_API mf_status mf_device_get_info(mf_backend backend, int32_t ordinal, mf_device_info* info);
/* Describes the device a context runs on. */
MF_API mf_status mf_context_device_info(mf_context context, mf_device_info* info);

/* ---- plans: common ------------------------------------------------------------------ */

typedef enum mf_direction {
  MF_FORWARD = 0,
  MF_BACKWARD = 1
} mf_direction;

typedef struct mf_plan_s* mf_plan;

/* Bytes of device (or host, on cpu) workspace that each execution of the plan needs. A
 * workspace must be aligned to 16 bytes (MF_ERROR_MISALIGNED otherwise); what cudaMalloc,
 * malloc and PyTorch's allocators return is. */
MF_API mf_status mf_plan_workspace_size(mf_plan plan, size_t* bytes);
/* Writes a JSON object describing the plan (operator, direction, backend, generator, tile
 * configuration and where it came from, problem key, workspace) into buffer, NUL
 * terminated. *required (may be NULL) receives the size needed including the NUL; a
 * buffer that is NULL or too small gives MF_ERROR_BUFFER_TOO_SMALL. */
MF_API mf_status mf_plan_describe(mf_plan plan, char* buffer, size_t size, size_t* required);
/* Destroys a plan; NULL is accepted and ignored. */
MF_API mf_status mf_plan_destroy(mf_plan plan);

/* ---- EvoAttention (DESIGN.md §1.1) --------------------------------------------------- */

typedef enum mf_mask_kind {
  MF_MASK_NONE = 0,
  MF_MASK_BOOLEAN = 1, /* MF_DTYPE_BOOL, nonzero keeps the key */
  MF_MASK_ADDITIVE = 2 /* added to the logits; the Q dtype or f32 */
} mf_mask_kind;

typedef enum mf_dbias_mode {
  MF_DBIAS_DETERMINISTIC = 0, /* bitwise reproducible (default) */
  MF_DBIAS_FAST = 1           /* may use float atomics */
} mf_dbias_mode;

#define MF_EVO_GRAD_Q 1u
#define MF_EVO_GRAD_K 2u
#define MF_EVO_GRAD_V 4u
#define MF_EVO_GRAD_BIAS 8u

/* Q, K, V, O, dO, dQ, dK, dV: rank 5 [B, S, N, H, D]. bias, dbias: rank 5, broadcast to
 * [B, S, H, N, N] (each dimension 1 or full). mask: rank 5, broadcast to [B, S, 1, 1, N].
 * lse: [B, S, H, N] f32; optional in the forward (saved when given), required in the
 * backward. In a backward plan d_o is required and each gradient descriptor must be given
 * exactly when its MF_EVO_GRAD_* flag is in `gradients`. */
typedef struct mf_evo_attention_desc {
  mf_tensor_desc q, k, v, bias, mask, o, lse;
  mf_mask_kind mask_kind;
  double scale; /* 0 selects D^-1/2 */
  mf_tensor_desc d_o, d_q, d_k, d_v, d_bias;
  uint32_t gradients; /* backward only: MF_EVO_GRAD_* bits */
  mf_dbias_mode dbias_mode;
} mf_evo_attention_desc;

/* Data pointers of one execution. Pointers of absent tensors are ignored. */
typedef struct mf_evo_attention_args {
  const void* q;
  const void* k;
  const void* v;
  const void* bias;
  const void* mask;
  void* o;   /* written by the forward, read by the backward */
  float* lse; /* likewise */
  const void* d_o;
  void* d_q;
  void* d_k;
  void* d_v;
  void* d_bias;
} mf_evo_attention_args;

MF_API mf_status mf_evo_attention_plan_create(mf_context context, const mf_evo_attention_desc* desc,
                                              mf_direction direction, mf_plan* plan);
/* Runs the plan on `stream` (a CUstream on cuda, ignored on cpu, where the call returns
 * when the results are written). workspace must hold mf_plan_workspace_size bytes. */
MF_API mf_status mf_evo_attention_execute(mf_context context, mf_plan plan,
                                          const mf_evo_attention_args* args, void* workspace,
                                          size_t workspace_size, void* stream);

/* ---- LayerNormLinear (DESIGN.md §1.2) ------------------------------------------------ */

#define MF_LNL_GRAD_X 1u
#define MF_LNL_GRAD_GAMMA 2u
#define MF_LNL_GRAD_BETA 4u
#define MF_LNL_GRAD_WEIGHT 8u
#define MF_LNL_GRAD_BIAS 16u

/* x [M, K]; gamma, beta [K]; weight logical [K, N] (pass the torch [N, K] weight with
 * swapped shape and strides); bias [N]; y [M, N]; mean, rstd [M] f32, optional in the
 * forward, required in the backward. beta and bias are optional. */
typedef struct mf_layer_norm_linear_desc {
  mf_tensor_desc x, gamma, beta, weight, bias, y, mean, rstd;
  double eps; /* 0 selects 1e-5 */
  mf_tensor_desc d_y, d_x, d_gamma, d_beta, d_weight, d_bias;
  uint32_t gradients; /* backward only: MF_LNL_GRAD_* bits */
} mf_layer_norm_linear_desc;

typedef struct mf_layer_norm_linear_args {
  const void* x;
  const void* gamma;
  const void* beta;
  const void* weight;
  const void* bias;
  void* y;
  float* mean;
  float* rstd;
  const void* d_y;
  void* d_x;
  void* d_gamma;
  void* d_beta;
  void* d_weight;
  void* d_bias;
} mf_layer_norm_linear_args;

MF_API mf_status mf_layer_norm_linear_plan_create(mf_context context,
                                                  const mf_layer_norm_linear_desc* desc,
                                                  mf_direction direction, mf_plan* plan);
MF_API mf_status mf_layer_norm_linear_execute(mf_context context, mf_plan plan,
                                              const mf_layer_norm_linear_args* args, void* workspace,
                                              size_t workspace_size, void* stream);

/* ---- Transition (DESIGN.md §1.3) ---------------------------------------------------- */

#define MF_TRANSITION_GRAD_X 1u
#define MF_TRANSITION_GRAD_GAMMA 2u
#define MF_TRANSITION_GRAD_BETA 4u
#define MF_TRANSITION_GRAD_W1 8u
#define MF_TRANSITION_GRAD_W2 16u

/* x, y [M, D]; gamma, beta [D] (gamma absent: no LayerNorm; beta needs gamma);
 * w1 logical [D, 2F]; w2 logical [F, D]; mean, rstd [M] f32 with the LayerNorm only. */
typedef struct mf_transition_desc {
  mf_tensor_desc x, gamma, beta, w1, w2, y, mean, rstd;
  double eps; /* 0 selects 1e-5 */
  mf_tensor_desc d_y, d_x, d_gamma, d_beta, d_w1, d_w2;
  uint32_t gradients; /* backward only: MF_TRANSITION_GRAD_* bits */
} mf_transition_desc;

typedef struct mf_transition_args {
  const void* x;
  const void* gamma;
  const void* beta;
  const void* w1;
  const void* w2;
  void* y;
  float* mean;
  float* rstd;
  const void* d_y;
  void* d_x;
  void* d_gamma;
  void* d_beta;
  void* d_w1;
  void* d_w2;
} mf_transition_args;

MF_API mf_status mf_transition_plan_create(mf_context context, const mf_transition_desc* desc,
                                           mf_direction direction, mf_plan* plan);
MF_API mf_status mf_transition_execute(mf_context context, mf_plan plan, const mf_transition_args* args,
                                       void* workspace, size_t workspace_size, void* stream);

#ifdef __cplusplus
}
#endif

#endif /* MFJIT_MFJIT_H */
