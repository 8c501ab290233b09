// A stand-in for libamdhip64 for the hip backend's tests: MF_FAKE_HIP_DEVICES devices (device
// i has the arch of the i-th entry of MF_FAKE_HIP_ARCHS, "gfx90a,gfx942" by default), modules
// that must be AMDGPU code objects defining the kernels looked up, and launches and fills that
// run nothing but are written to a journal the tests read (mf_fake_hip_journal). Device memory
// is host memory; fills of more than 64 MiB (the tuner's cache flushes) are journaled, not
// written; events measure 250 µs between any two.
#define __HIP_PLATFORM_AMD__ 1
#include <hip/hip_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace {

std::mutex journal_mutex;
std::string journal;

void record(const std::string& line) {
  const std::lock_guard lock(journal_mutex);
  journal += line + "\n";
}

int devices() {
  const char* count = std::getenv("MF_FAKE_HIP_DEVICES");
  return count != nullptr ? std::atoi(count) : 0;
}

std::string arch_of(int device) {
  const char* archs = std::getenv("MF_FAKE_HIP_ARCHS");
  std::string list = archs != nullptr ? archs : "gfx90a,gfx942";
  for (int i = 0; i < device && list.find(',') != std::string::npos; ++i) list = list.substr(list.find(',') + 1);
  return list.substr(0, list.find(','));
}

thread_local int current_device = 0;

struct FakeFunction {
  std::string name;
};

// Its functions live as long as it does, as HIP's do.
struct FakeModule {
  std::vector<char> image;
  std::deque<FakeFunction> functions;
};

// An ELF of machine EM_AMDGPU (224); its size from the section header table's end.
bool amdgpu_code_object(const char* image, std::size_t& size) {
  if (std::memcmp(image, "\x7f" "ELF", 4) != 0 || image[4] != 2) return false;
  std::uint16_t machine = 0;
  std::memcpy(&machine, image + 18, 2);
  std::uint64_t section_offset = 0;
  std::uint16_t section_size = 0, sections = 0;
  std::memcpy(&section_offset, image + 40, 8);
  std::memcpy(&section_size, image + 58, 2);
  std::memcpy(&sections, image + 60, 2);
  size = section_offset + std::size_t{section_size} * sections;
  return machine == 224;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) const char* mf_fake_hip_journal(void) { return journal.c_str(); }

hipError_t hipInit(unsigned int) {
  const char* result = std::getenv("MF_FAKE_HIP_INIT_RESULT");
  return result != nullptr ? static_cast<hipError_t>(std::atoi(result)) : hipSuccess;
}

hipError_t hipGetDeviceCount(int* count) {
  *count = devices();
  return *count > 0 ? hipSuccess : hipErrorNoDevice;
}

hipError_t hipGetDeviceProperties(hipDeviceProp_t* properties, int device) {
  if (device < 0 || device >= devices()) return hipErrorInvalidDevice;
  std::memset(properties, 0, sizeof *properties);
  const std::string arch = arch_of(device);
  std::snprintf(properties->name, sizeof properties->name, "Fake %s", arch.c_str());
  std::snprintf(properties->gcnArchName, sizeof properties->gcnArchName, "%s:sramecc+:xnack-", arch.c_str());
  properties->multiProcessorCount = arch == "gfx942" ? 304 : 110;
  properties->totalGlobalMem = std::size_t{64} << 30;
  properties->l2CacheSize = arch == "gfx942" ? 4 << 20 : 8 << 20;
  return hipSuccess;
}

hipError_t hipDriverGetVersion(int* version) {
  *version = 50422803;
  return hipSuccess;
}

const char* hipGetErrorString(hipError_t) { return "fake HIP error"; }
const char* hipGetErrorName(hipError_t error) {
  return error == hipErrorInvalidImage ? "hipErrorInvalidImage" : error == hipErrorNotFound ? "hipErrorNotFound" : "hipErrorFake";
}

hipError_t hipGetDevice(int* device) {
  *device = current_device;
  return hipSuccess;
}

hipError_t hipSetDevice(int device) {
  if (device < 0 || device >= devices()) return hipErrorInvalidDevice;
  current_device = device;
  return hipSuccess;
}

hipError_t hipModuleLoadData(hipModule_t* module, const void* image) {
  const char* bytes = static_cast<const char*>(image);
  std::size_t size = 0;
  if (!amdgpu_code_object(bytes, size)) return hipErrorInvalidImage;
  auto* loaded = new FakeModule{std::vector<char>(bytes, bytes + size), {}};
  record("load device=" + std::to_string(current_device) + " arch=" + arch_of(current_device));
  *module = reinterpret_cast<hipModule_t>(loaded);
  return hipSuccess;
}

hipError_t hipModuleUnload(hipModule_t module) {
  delete reinterpret_cast<FakeModule*>(module);
  record("unload device=" + std::to_string(current_device));
  return hipSuccess;
}

// The kernel's name must be in the code object's symbol strings.
hipError_t hipModuleGetFunction(hipFunction_t* function, hipModule_t module, const char* name) {
  auto* loaded = reinterpret_cast<FakeModule*>(module);
  const std::string symbol = std::string(name) + '\0';
  if (std::search(loaded->image.begin(), loaded->image.end(), symbol.begin(), symbol.end()) == loaded->image.end())
    return hipErrorNotFound;
  *function = reinterpret_cast<hipFunction_t>(&loaded->functions.emplace_back(FakeFunction{name}));
  return hipSuccess;
}

hipError_t hipModuleLaunchKernel(hipFunction_t function, unsigned grid_x, unsigned grid_y, unsigned grid_z,
                                 unsigned block_x, unsigned block_y, unsigned block_z, unsigned shared_bytes,
                                 hipStream_t stream, void** params, void** extra) {
  std::size_t params_size = 0;
  if (params != nullptr || extra == nullptr || extra[0] != HIP_LAUNCH_PARAM_BUFFER_POINTER ||
      extra[2] != HIP_LAUNCH_PARAM_BUFFER_SIZE || extra[4] != HIP_LAUNCH_PARAM_END)
    return hipErrorInvalidValue;
  std::memcpy(&params_size, extra[3], sizeof params_size);
  char line[512];
  std::snprintf(line, sizeof line, "launch device=%d kernel=%s grid=%u,%u,%u block=%u,%u,%u shared=%u stream=%p params=%zu",
                current_device, reinterpret_cast<FakeFunction*>(function)->name.c_str(), grid_x, grid_y, grid_z,
                block_x, block_y, block_z, shared_bytes, static_cast<void*>(stream), params_size);
  record(line);
  return hipSuccess;
}

hipError_t hipMemsetD32Async(hipDeviceptr_t data, int value, std::size_t count, hipStream_t stream) {
  char line[256];
  std::snprintf(line, sizeof line, "memset32 device=%d at=%p value=%d words=%zu stream=%p", current_device, data, value,
                count, static_cast<void*>(stream));
  record(line);
  return hipSuccess;
}

hipError_t hipMalloc(void** pointer, std::size_t bytes) {
  *pointer = std::calloc(bytes, 1);
  return *pointer != nullptr ? hipSuccess : hipErrorOutOfMemory;
}

hipError_t hipFree(void* pointer) {
  std::free(pointer);
  return hipSuccess;
}

hipError_t hipMemcpyHtoD(hipDeviceptr_t to, void* from, std::size_t bytes) {
  std::memcpy(to, from, bytes);
  return hipSuccess;
}

hipError_t hipMemcpyDtoH(void* to, hipDeviceptr_t from, std::size_t bytes) {
  std::memcpy(to, from, bytes);
  return hipSuccess;
}

hipError_t hipMemset(void* data, int value, std::size_t bytes) {
  record("memset8 device=" + std::to_string(current_device) + " value=" + std::to_string(value) +
         " bytes=" + std::to_string(bytes));
  if (bytes <= (std::size_t{64} << 20)) std::memset(data, value, bytes);
  return hipSuccess;
}

hipError_t hipDeviceSynchronize(void) { return hipSuccess; }

hipError_t hipEventCreate(hipEvent_t* event) {
  *event = reinterpret_cast<hipEvent_t>(new int(0));
  return hipSuccess;
}

hipError_t hipEventDestroy(hipEvent_t event) {
  delete reinterpret_cast<int*>(event);
  return hipSuccess;
}

hipError_t hipEventRecord(hipEvent_t, hipStream_t stream) {
  char line[64];
  std::snprintf(line, sizeof line, "event device=%d stream=%p", current_device, static_cast<void*>(stream));
  record(line);
  return hipSuccess;
}

hipError_t hipEventSynchronize(hipEvent_t) { return hipSuccess; }

hipError_t hipEventElapsedTime(float* ms, hipEvent_t, hipEvent_t) {
  *ms = 0.25f;
  return hipSuccess;
}

}  // extern "C"
