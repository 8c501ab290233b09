#include "backend.h"

#include <fmt/format.h>

#include "c_enum.h"
#include "mf/ir/error.h"
#include "cpu_backend.h"
#include "cuda_backend.h"
#include "hip_backend.h"
#include "status.h"

namespace mf::runtime {

std::optional<std::string> rejection(const std::vector<compiler::ParameterSpace>& spaces, const ir::TileConfig& config,
                                     const std::string& first_generator) {
  std::string offered;
  for (const auto& space : spaces) {
    if (space.generator == config.generator) {
      try {
        space.check(config);
        return std::nullopt;
      } catch (const ir::Error& error) {
        return error.what();
      }
    }
    offered += fmt::format("{}{}", offered.empty() ? "" : ", ", space.generator.empty() ? first_generator : space.generator);
  }
  return fmt::format("config: generator '{}' is not offered for this problem (offered: {})", config.generator, offered);
}

std::unique_ptr<Backend> create_backend(const mf_context_options& options, const std::string& cache_dir) {
  switch (c_enum_value(options.backend)) {
    case MF_BACKEND_CPU:
      return create_cpu_backend(options.cpu_threads);
    case MF_BACKEND_CUDA:
      return create_cuda_backend(options.device, cache_dir);
    case MF_BACKEND_HIP:
      return create_hip_backend(options.device, cache_dir);
    case MF_BACKEND_AUTO:
      if (options.device < cuda_device_count()) return create_cuda_backend(options.device, cache_dir);
      return create_cpu_backend(options.cpu_threads);
  }
  fail(MF_ERROR_INVALID_ARGUMENT,
       fmt::format("options.backend: {} is not an mf_backend value", c_enum_value(options.backend)));
}

}  // namespace mf::runtime
