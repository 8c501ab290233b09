#include "backend.h"

#include <fmt/format.h>

#include "c_enum.h"
#include "cpu_backend.h"
#include "cuda_backend.h"
#include "status.h"

namespace mf::runtime {

std::unique_ptr<Backend> create_backend(const mf_context_options& options, const std::string& cache_dir) {
  switch (c_enum_value(options.backend)) {
    case MF_BACKEND_CPU:
      return create_cpu_backend(options.cpu_threads);
    case MF_BACKEND_CUDA:
      return create_cuda_backend(options.device, cache_dir);
    case MF_BACKEND_HIP:
      fail(MF_ERROR_BACKEND_UNAVAILABLE, "hip backend unavailable: this build of mfjit has no AMD support yet");
    case MF_BACKEND_AUTO:
      if (options.device < cuda_device_count()) return create_cuda_backend(options.device, cache_dir);
      return create_cpu_backend(options.cpu_threads);
  }
  fail(MF_ERROR_INVALID_ARGUMENT,
       fmt::format("options.backend: {} is not an mf_backend value", c_enum_value(options.backend)));
}

}  // namespace mf::runtime
