/*
 * Device memory and events for the fake CUDA driver (fake_cuda.c), linked with it into a
 * second library, mf_fake_cuda_memory: with it the tuner's bench memory — which goes
 * through the runtime's device layer — is tested without a GPU, while the discovery-only
 * fake keeps testing a driver that lacks these functions. Device memory is host memory;
 * fills of more than 64 MiB (the bench's cache flushes) are journaled, not written; events
 * measure 250 µs between any two. cuInit, context, fill and event calls are written to a
 * journal the tests read (mf_fake_cuda_journal). It still cannot run kernels: the module and
 * launch functions are absent.
 */
#include <cuda.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kMaxDevices = 16 };

static pthread_mutex_t journal_mutex = PTHREAD_MUTEX_INITIALIZER;
static char journal[1 << 16];
static size_t journal_length = 0;

static void record(const char* format, ...) {
  pthread_mutex_lock(&journal_mutex);
  va_list arguments;
  va_start(arguments, format);
  const int written = vsnprintf(journal + journal_length, sizeof journal - journal_length, format, arguments);
  va_end(arguments);
  if (written > 0 && journal_length + (size_t)written < sizeof journal) journal_length += (size_t)written;
  pthread_mutex_unlock(&journal_mutex);
}

/* What the journal holds so far; the tests find it with dlsym. */
const char* mf_fake_cuda_journal(void) { return journal; }

/* Called by fake_cuda.c's cuInit, so that a test can count how often the driver was initialised. */
void mf_fake_cuda_record_init(void) { record("init\n"); }

/* Each device's primary context is a byte of this array; the current one is per thread. */
static char primary_contexts[kMaxDevices];
static _Thread_local int current_device = -1;

static int device_of(CUcontext context) {
  return context == NULL ? -1 : (int)((const char*)(const void*)context - primary_contexts);
}

CUresult cuDevicePrimaryCtxRetain(CUcontext* context, CUdevice device) {
  if (context == NULL) return CUDA_ERROR_INVALID_VALUE;
  if (device < 0 || device >= kMaxDevices) return CUDA_ERROR_INVALID_DEVICE;
  *context = (CUcontext)(void*)&primary_contexts[device];
  record("retain device=%d\n", device);
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice device) {
  record("release device=%d\n", device);
  return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext context) {
  current_device = device_of(context);
  record("current device=%d\n", current_device);
  return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize(void) { return current_device >= 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT; }

CUresult cuMemAlloc_v2(CUdeviceptr* pointer, size_t bytes) {
  if (current_device < 0) return CUDA_ERROR_INVALID_CONTEXT;
  void* memory = calloc(bytes, 1);
  *pointer = (CUdeviceptr)memory;
  return memory != NULL ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

CUresult cuMemFree_v2(CUdeviceptr pointer) {
  free((void*)pointer);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr to, const void* from, size_t bytes) {
  memcpy((void*)to, from, bytes);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoH_v2(void* to, CUdeviceptr from, size_t bytes) {
  memcpy(to, (const void*)from, bytes);
  return CUDA_SUCCESS;
}

CUresult cuMemsetD8_v2(CUdeviceptr data, unsigned char value, size_t bytes) {
  record("memset8 device=%d value=%d bytes=%zu\n", current_device, value, bytes);
  if (bytes <= ((size_t)64 << 20)) memset((void*)data, value, bytes);
  return CUDA_SUCCESS;
}

CUresult cuEventCreate(CUevent* event, unsigned int flags) {
  (void)flags;
  *event = (CUevent)malloc(1);
  return *event != NULL ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

CUresult cuEventDestroy_v2(CUevent event) {
  free((void*)event);
  return CUDA_SUCCESS;
}

CUresult cuEventRecord(CUevent event, CUstream stream) {
  (void)event;
  record("event device=%d stream=%p\n", current_device, (void*)stream);
  return CUDA_SUCCESS;
}

CUresult cuEventSynchronize(CUevent event) {
  (void)event;
  return CUDA_SUCCESS;
}

/* The symbol the runtime resolves; cuda.h renames the declaration to cuEventElapsedTime_v2. */
#undef cuEventElapsedTime
CUresult cuEventElapsedTime(float* ms, CUevent start, CUevent stop) {
  (void)start;
  (void)stop;
  *ms = 0.25f;
  return CUDA_SUCCESS;
}

CUresult cuGetErrorName(CUresult error, const char** name) {
  if (name == NULL) return CUDA_ERROR_INVALID_VALUE;
  switch (error) {
    case CUDA_SUCCESS: *name = "CUDA_SUCCESS"; return CUDA_SUCCESS;
    case CUDA_ERROR_OUT_OF_MEMORY: *name = "CUDA_ERROR_OUT_OF_MEMORY"; return CUDA_SUCCESS;
    case CUDA_ERROR_INVALID_CONTEXT: *name = "CUDA_ERROR_INVALID_CONTEXT"; return CUDA_SUCCESS;
    default: *name = NULL; return CUDA_ERROR_INVALID_VALUE;
  }
}
