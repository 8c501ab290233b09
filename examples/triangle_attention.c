/*
 * Triangle attention around the starting node (DESIGN.md §1.1) through mfjit's C API on the
 * cpu backend: one forward pass with a pair bias and a boolean key mask, checked against a
 * plain loop in double precision. Build it against an installed mfjit (README.md here).
 *
 * Every mfjit function returns an mf_status; on failure mf_last_error() says which argument
 * broke which rule (docs/c-api.md). The message is valid only until the next mfjit call on
 * this thread, so CHECK prints it at once, then releases everything on one path out.
 */
#include <mfjit/mfjit.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Q, K, V, O are [B, S, N, H, D] with B = 1 and S = N: one attention per row i of the pair
 * representation. N is deliberately no multiple of anything. */
enum { N = 23, H = 4, D = 32 };

#define CHECK(call)                                                                     \
  do {                                                                                  \
    mf_status status_ = (call);                                                         \
    if (status_ != MF_SUCCESS) {                                                        \
      fprintf(stderr, "%s: %s: %s\n", #call, mf_status_string(status_), mf_last_error()); \
      goto cleanup;                                                                     \
    }                                                                                   \
  } while (0)

/* Fresh inputs in [-1, 1) from a fixed seed, so that every run checks the same numbers. */
static float next_uniform(uint32_t* state) {
  *state = *state * 1664525u + 1013904223u;
  return (float)(*state >> 8) / (float)(1u << 23) - 1.0f;
}

static float* random_floats(size_t count, uint32_t seed) {
  float* values = malloc(count * sizeof(float));
  for (size_t i = 0; values != NULL && i < count; ++i) values[i] = next_uniform(&seed);
  return values;
}

/* Key k of row s is dropped for a few (s, k); no row loses all its keys. */
static int keeps_key(int s, int k) { return (s * 7 + k) % 5 != 0; }

static size_t at5(int s, int n, int h, int d) { return (((size_t)s * N + n) * H + h) * D + d; }

/* ‖o − reference‖ / ‖reference‖ over the whole output (the tolerance measure of §1.4). */
static double relative_error(const float* q, const float* k, const float* v, const float* bias,
                             const float* o) {
  const double scale = 1.0 / sqrt((double)D);
  double error = 0.0, norm = 0.0;
  for (int s = 0; s < N; ++s)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < N; ++i) {
        double logits[N], max_logit = -INFINITY, sum = 0.0;
        for (int j = 0; j < N; ++j) {
          double dot = 0.0;
          for (int d = 0; d < D; ++d) dot += (double)q[at5(s, i, h, d)] * k[at5(s, j, h, d)];
          logits[j] = keeps_key(s, j) ? scale * dot + bias[((size_t)h * N + i) * N + j] : -INFINITY;
          if (logits[j] > max_logit) max_logit = logits[j];
        }
        for (int j = 0; j < N; ++j) sum += exp(logits[j] - max_logit);
        for (int d = 0; d < D; ++d) {
          double expected = 0.0;
          for (int j = 0; j < N; ++j) expected += exp(logits[j] - max_logit) / sum * v[at5(s, j, h, d)];
          double difference = o[at5(s, i, h, d)] - expected;
          error += difference * difference;
          norm += expected * expected;
        }
      }
  return sqrt(error / norm);
}

int main(void) {
  int result = EXIT_FAILURE;
  mf_context context = NULL;
  mf_plan plan = NULL;
  float *q = NULL, *k = NULL, *v = NULL, *bias = NULL, *o = NULL, *lse = NULL;
  unsigned char* mask = NULL;
  void* workspace = NULL;

  /* A program built against one header and run with another library must notice. */
  int major = 0, minor = 0;
  mf_version(&major, &minor, NULL);
  if (major != MF_VERSION_MAJOR || minor < MF_VERSION_MINOR) {
    fprintf(stderr, "built for mfjit %d.%d but runs with libmfjit %s\n", MF_VERSION_MAJOR, MF_VERSION_MINOR,
            mf_version_string());
    return EXIT_FAILURE;
  }

  /* Host memory, so the cpu backend by name: MF_BACKEND_AUTO would pick cuda on a GPU
   * machine, whose plans read device memory. */
  mf_context_options options;
  mf_context_options_init(&options);
  options.backend = MF_BACKEND_CPU;
  CHECK(mf_context_create(&options, &context));
  mf_device_info device;
  CHECK(mf_context_device_info(context, &device));
  printf("mfjit %s on the cpu backend (%s, %d threads)\n", mf_version_string(), device.arch,
         (int)device.multiprocessors);

  /* Describe the problem once; execution later passes only the data pointers. */
  const int64_t qkv_shape[5] = {1, N, N, H, D};
  const int64_t bias_shape[5] = {1, 1, H, N, N}; /* shared by every row s */
  const int64_t mask_shape[5] = {1, N, 1, 1, N};
  const int64_t lse_shape[4] = {1, N, H, N};
  mf_evo_attention_desc desc = {0};
  CHECK(mf_tensor_desc_contiguous(&desc.q, MF_DTYPE_F32, 5, qkv_shape));
  desc.k = desc.v = desc.o = desc.q;
  CHECK(mf_tensor_desc_contiguous(&desc.bias, MF_DTYPE_F32, 5, bias_shape));
  CHECK(mf_tensor_desc_contiguous(&desc.mask, MF_DTYPE_BOOL, 5, mask_shape));
  CHECK(mf_tensor_desc_contiguous(&desc.lse, MF_DTYPE_F32, 4, lse_shape));
  desc.mask_kind = MF_MASK_BOOLEAN;
  desc.scale = 0.0; /* D^-1/2 */
  CHECK(mf_evo_attention_plan_create(context, &desc, MF_FORWARD, &plan));

  const size_t qkv_count = (size_t)N * N * H * D;
  q = random_floats(qkv_count, 1);
  k = random_floats(qkv_count, 2);
  v = random_floats(qkv_count, 3);
  bias = random_floats((size_t)H * N * N, 4);
  o = malloc(qkv_count * sizeof(float));
  lse = malloc((size_t)N * H * N * sizeof(float));
  mask = malloc((size_t)N * N);
  size_t workspace_bytes = 0;
  CHECK(mf_plan_workspace_size(plan, &workspace_bytes));
  if (workspace_bytes > 0) workspace = malloc(workspace_bytes); /* malloc's 16-byte alignment suffices */
  if (!q || !k || !v || !bias || !o || !lse || !mask || (workspace_bytes > 0 && !workspace)) {
    fprintf(stderr, "out of host memory\n");
    goto cleanup;
  }
  for (int s = 0; s < N; ++s)
    for (int j = 0; j < N; ++j) mask[(size_t)s * N + j] = (unsigned char)keeps_key(s, j);

  mf_evo_attention_args args = {.q = q, .k = k, .v = v, .bias = bias, .mask = mask, .o = o, .lse = lse};
  CHECK(mf_evo_attention_execute(context, plan, &args, workspace, workspace_bytes, NULL));

  /* fp32 tolerance of DESIGN.md §1.4 */
  const double error = relative_error(q, k, v, bias, o), tolerance = 1e-5;
  printf("triangle attention forward, N=%d H=%d D=%d: relative error %.2e (tolerance %.0e)\n", N, H, D, error,
         tolerance);
  if (!(error < tolerance)) { /* also catches NaN */
    fprintf(stderr, "the output differs from the reference\n");
    goto cleanup;
  }
  printf("OK\n");
  result = EXIT_SUCCESS;

cleanup:
  /* Plans before their context; both accept NULL. */
  mf_plan_destroy(plan);
  if (mf_context_destroy(context) != MF_SUCCESS) {
    fprintf(stderr, "mf_context_destroy: %s\n", mf_last_error());
    result = EXIT_FAILURE;
  }
  free(q);
  free(k);
  free(v);
  free(bias);
  free(o);
  free(lse);
  free(mask);
  free(workspace);
  return result;
}
