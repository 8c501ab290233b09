/*
 * A stand-in for libcuda.so.1 that the runtime loads through $MFJIT_CUDA_DRIVER, so that
 * the device layer can be tested on machines without a GPU. Every answer is read from the
 * environment on each call:
 *   MF_FAKE_CUDA_INIT_RESULT  what cuInit returns (default 0, CUDA_SUCCESS)
 *   MF_FAKE_CUDA_DEVICES      the device count (default 1)
 *   MF_FAKE_CUDA_FAIL         the name of one function that fails with
 *                             CUDA_ERROR_UNKNOWN (e.g. cuDeviceGetName)
 * Each device is a "Fake H200": sm_90, 132 SMs, 50 MiB L2, 227 KiB shared memory per block,
 * 141 GiB, driver 13000. It cannot run kernels: the module and launch functions are absent;
 * nor, alone, hold memory (fake_cuda_memory.c adds that in a second library).
 */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int env_int(const char* name, int fallback) {
  const char* value = getenv(name);
  return value != NULL && *value != '\0' ? atoi(value) : fallback;
}

static int fails(const char* function) {
  const char* failing = getenv("MF_FAKE_CUDA_FAIL");
  return failing != NULL && strcmp(failing, function) == 0;
}

static int valid_device(CUdevice device) { return device >= 0 && device < env_int("MF_FAKE_CUDA_DEVICES", 1); }

/* Journals the call where fake_cuda_memory.c is linked in (mf_fake_cuda_memory), so that its
 * tests can count initialisations; absent from the discovery-only fake. */
__attribute__((weak)) void mf_fake_cuda_record_init(void);

CUresult cuInit(unsigned int flags) {
  (void)flags;
  if (mf_fake_cuda_record_init != NULL) mf_fake_cuda_record_init();
  return (CUresult)env_int("MF_FAKE_CUDA_INIT_RESULT", CUDA_SUCCESS);
}

CUresult cuDriverGetVersion(int* version) {
  if (fails("cuDriverGetVersion")) return CUDA_ERROR_UNKNOWN;
  if (version == NULL) return CUDA_ERROR_INVALID_VALUE;
  *version = 13000;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int* count) {
  if (fails("cuDeviceGetCount")) return CUDA_ERROR_UNKNOWN;
  if (count == NULL) return CUDA_ERROR_INVALID_VALUE;
  *count = env_int("MF_FAKE_CUDA_DEVICES", 1);
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice* device, int ordinal) {
  if (fails("cuDeviceGet")) return CUDA_ERROR_UNKNOWN;
  if (device == NULL) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(ordinal)) return CUDA_ERROR_INVALID_DEVICE;
  *device = ordinal;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char* name, int length, CUdevice device) {
  if (fails("cuDeviceGetName")) return CUDA_ERROR_UNKNOWN;
  if (name == NULL || length <= 0) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(device)) return CUDA_ERROR_INVALID_DEVICE;
  snprintf(name, (size_t)length, "%s", "Fake H200");
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int* value, CUdevice_attribute attribute, CUdevice device) {
  if (fails("cuDeviceGetAttribute")) return CUDA_ERROR_UNKNOWN;
  if (value == NULL) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(device)) return CUDA_ERROR_INVALID_DEVICE;
  switch (attribute) {
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *value = 9; return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *value = 0; return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *value = 132; return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: *value = 50 * 1024 * 1024; return CUDA_SUCCESS;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *value = 227 * 1024; return CUDA_SUCCESS;
    default: return CUDA_ERROR_INVALID_VALUE;
  }
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice device) {
  if (fails("cuDeviceTotalMem_v2")) return CUDA_ERROR_UNKNOWN;
  if (bytes == NULL) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_device(device)) return CUDA_ERROR_INVALID_DEVICE;
  *bytes = (size_t)141 << 30;
  return CUDA_SUCCESS;
}

CUresult cuGetErrorString(CUresult error, const char** text) {
  if (text == NULL) return CUDA_ERROR_INVALID_VALUE;
  switch (error) {
    case CUDA_SUCCESS: *text = "no error"; return CUDA_SUCCESS;
    case CUDA_ERROR_INVALID_VALUE: *text = "invalid argument"; return CUDA_SUCCESS;
    case CUDA_ERROR_NO_DEVICE: *text = "no CUDA-capable device is detected"; return CUDA_SUCCESS;
    case CUDA_ERROR_INVALID_DEVICE: *text = "invalid device ordinal"; return CUDA_SUCCESS;
    case CUDA_ERROR_UNKNOWN: *text = "unknown error"; return CUDA_SUCCESS;
    default: *text = NULL; return CUDA_ERROR_INVALID_VALUE;
  }
}
