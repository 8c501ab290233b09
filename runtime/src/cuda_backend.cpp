#include "cuda_backend.h"

#include <fmt/format.h>

#include <cstdlib>
#include <future>
#include <string_view>
#include <type_traits>
#include <mutex>

#include "cuda_driver.h"
#include "cuda_generated.h"
#include "cuda_evo_attention.h"
#include "cuda_layer_norm_linear.h"
#include "cuda_transition.h"
#include "cuda_module.h"
#include "mf/compiler/binary_cache.h"
#include "mf/compiler/evo_attention_generator.h"
#include "mf/compiler/layer_norm_linear_generator.h"
#include "mf/compiler/transition_generator.h"
#include "mf/compiler/nvrtc.h"
#include "mf/ir/error.h"
#include "status.h"

namespace mf::runtime {
namespace {

void check(const CudaDriver& driver, const char* call, CUresult result) {
  if (result != CUDA_SUCCESS) fail(MF_ERROR_DEVICE, describe_cuda_error(driver, call, result));
}

int attribute(const CudaDriver& driver, CUdevice device, CUdevice_attribute which, const char* name) {
  int value = 0;
  check(driver, name, driver.device_get_attribute(&value, which, device));
  return value;
}

const CudaDriver& available_driver() {
  const CudaDriver& driver = cuda_driver();
  if (!driver.available()) fail(MF_ERROR_BACKEND_UNAVAILABLE, "cuda backend unavailable: " + driver.unavailable_reason);
  return driver;
}

using compiler::EvoAttentionGenerator;
using compiler::LayerNormLinearGenerator;
using compiler::TransitionGenerator;

[[noreturn]] void no_generator(const ir::Problem& problem) {
  fail(MF_ERROR_UNSUPPORTED, fmt::format("the cuda backend has no kernel generator for {} yet; "
                                         "create the context with MF_BACKEND_CPU to run on the host",
                                         ir::op_name(problem.op)));
}

// Calls `on(generator, op)` with the template generator of the problem's operator.
template <class On>
decltype(auto) with_generator(const ir::Problem& problem, On&& on) {
  if (const auto* op = std::get_if<ir::EvoAttention>(&problem.op)) return on(EvoAttentionGenerator{}, *op);
  if (const auto* op = std::get_if<ir::LayerNormLinear>(&problem.op)) return on(LayerNormLinearGenerator{}, *op);
  if (const auto* op = std::get_if<ir::Transition>(&problem.op)) return on(TransitionGenerator{}, *op);
  no_generator(problem);
}

compiler::Target target_of(int ordinal) {
  const CudaDriver& driver = available_driver();
  CUdevice device = 0;
  check(driver, "cuDeviceGet", driver.device_get(&device, ordinal));
  compiler::Target target;
  target.arch = compiler::nvrtc_arch(
      attribute(driver, device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "cuDeviceGetAttribute"),
      attribute(driver, device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "cuDeviceGetAttribute"));
  target.multiprocessors = attribute(driver, device, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "cuDeviceGetAttribute");
  target.max_shared_per_block =
      attribute(driver, device, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, "cuDeviceGetAttribute");
  return target;
}

// The cubin for `source`, from the binary cache or compiled with NVRTC (and then cached;
// concurrent plans of one module compile it once).
// MFJIT_TILE_PRIMITIVES=lanes: the template kernels built with the per-lane products,
// loads and synchronous copies that AMD GPUs run (templates/cuda/vendor.cuh), so that the
// GPU tests check the AMD path's logic on NVIDIA GPUs.
bool lanes_requested() {
  const char* value = std::getenv("MFJIT_TILE_PRIMITIVES");
  return value != nullptr && std::string_view(value) == "lanes";
}

std::vector<char> compiled(const compiler::GeneratedSource& source, const std::string& arch,
                           const compiler::BinaryCache& cache) {
  const compiler::Nvrtc& nvrtc = compiler::Nvrtc::instance();
  if (!nvrtc.available()) fail(MF_ERROR_BACKEND_UNAVAILABLE, "cuda backend cannot compile: " + nvrtc.unavailable_reason());
  static const bool lanes = lanes_requested();
  const std::string text = lanes ? "#define MF_TILE_LANES 1\n" + source.text : source.text;
  return cache.load_or_build(compiler::cache_key({"nvrtc", nvrtc.version(), arch, text}),
                             [&] { return nvrtc.compile(text, source.name, arch).cubin; });
}

class CudaBackend final : public Backend {
 public:
  CudaBackend(int ordinal, std::string cache_dir)
      : ordinal_(ordinal), device_(cuda_device_info(ordinal)), target_(target_of(ordinal)), cache_(std::move(cache_dir)),
        requested_(cuda_generators_requested()) {}

  mf_backend kind() const override { return MF_BACKEND_CUDA; }
  const mf_device_info& device() const override { return device_; }

  std::string generator_for(const ir::Problem& problem) const override { return offered(problem).front(); }

  ir::TileConfig default_config(const ir::Problem& problem) const override {
    const std::vector<std::string> names = offered(problem);
    if (names.front() == kMlir) return {};  // the MLIR kernels have no tile parameters yet
    try {
      return with_generator(problem, [&](auto generator, const auto& op) {
        return generator.default_config(op, problem.direction, target_);
      });
    } catch (const ir::Error& error) {
      // The template generator takes the problem, but none of its configurations fits it on
      // this device (a tile wider than the problem, shared memory): the MLIR kernels serve it.
      if (error.kind() != ir::ErrorKind::kUnsupported || names.size() < 2) throw;
      ir::TileConfig mlir;
      mlir.generator = kMlir;
      return mlir;
    }
  }

  std::vector<compiler::ParameterSpace> spaces(const ir::Problem& problem) const override {
    const std::vector<std::string> names = offered(problem);
    std::vector<compiler::ParameterSpace> out;
    for (std::size_t i = 0; i < names.size(); ++i) {
      compiler::ParameterSpace& space = out.emplace_back(
          names[i] == kMlir ? compiler::ParameterSpace{}
                            : with_generator(problem, [&](auto generator, const auto& op) {
                                return generator.space(op, problem.direction, target_);
                              }));
      space.generator = i == 0 ? "" : names[i];
    }
    return out;
  }

  std::optional<std::string> rejects(const ir::Problem& problem, const ir::TileConfig& config) const override {
    return rejection(spaces(problem), config, generator_for(problem));
  }

  std::string generator_hash(const ir::Problem& problem) const override {
    std::string hash;
    for (const auto& name : offered(problem))
      hash += (hash.empty() ? "" : " + ") + (name == kMlir ? mlir_gpu_version() : template_hash(problem));
    return hash;
  }
  std::string toolkit_version() const override { return "nvrtc " + compiler::Nvrtc::instance().version(); }

  std::unique_ptr<Executable> build(const ir::Problem& problem, const ir::TileConfig& config) override {
    if (const auto why = rejects(problem, config)) fail(MF_ERROR_INVALID_ARGUMENT, *why);
    if (generator_of(problem, config) == kMlir) {
      primary_context();
      return build_mlir_gpu(problem, target_.arch, context_, cache_);
    }
    return with_generator(problem, [&](auto generator, const auto& op) -> std::unique_ptr<Executable> {
      auto plan = generator.launch_plan(op, problem.direction, config, target_);
      std::vector<LoadedModule> modules = loaded(generator.generate(op, problem.direction, config));
      if constexpr (std::is_same_v<decltype(generator), EvoAttentionGenerator>)
        return make_cuda_evo_attention(op, problem.direction, std::move(plan), context_, std::move(modules));
      else if constexpr (std::is_same_v<decltype(generator), LayerNormLinearGenerator>)
        return make_cuda_layer_norm_linear(op, problem.direction, std::move(plan), context_, std::move(modules));
      else
        return make_cuda_transition(op, problem.direction, std::move(plan), context_, std::move(modules));
    });
  }

 private:
  static constexpr const char* kMlir = "mlir";

  // The generators offered for `problem`, the template generator first where it serves
  // the problem; throws the first one's reason when none does.
  std::vector<std::string> offered(const ir::Problem& problem) const {
    std::vector<std::string> names;
    std::exception_ptr template_refusal;
    if (requested_.template_generator) {
      try {
        names.push_back(with_generator(problem, [&](auto generator, const auto& op) -> std::string {
          generator.check_supported(op, problem.direction);
          return generator.kName;
        }));
      } catch (...) {
        template_refusal = std::current_exception();
      }
    }
    if (requested_.mlir) {
      const auto reason = mlir_gpu_unsupported(problem);
      if (!reason) names.push_back(kMlir);
      else if (!requested_.template_generator) fail(MF_ERROR_UNSUPPORTED, "MFJIT_CUDA_GENERATOR=mlir: " + *reason);
    }
    if (names.empty()) std::rethrow_exception(template_refusal);
    return names;
  }

  static std::string template_hash(const ir::Problem& problem) {
    return with_generator(problem, [](auto generator, const auto&) { return std::string(generator.source_hash()); });
  }

  // The modules compile at once (NVRTC is thread-safe), then load in order.
  std::vector<LoadedModule> loaded(std::vector<compiler::GeneratedSource> sources) {
    std::vector<std::future<std::vector<char>>> cubins;
    for (const auto& source : sources)
      cubins.push_back(std::async(std::launch::async, [&source, this] { return compiled(source, target_.arch, cache_); }));
    std::vector<LoadedModule> modules;
    for (std::size_t i = 0; i < sources.size(); ++i) {
      const std::vector<char> cubin = cubins[i].get();
      modules.push_back({std::make_shared<const CudaModule>(primary_context(), cubin), std::move(sources[i].entries)});
    }
    return modules;
  }

  // Retained on first use: plans need it, device queries do not. Plans may be created
  // from several threads at once.
  const CudaPrimaryContext& primary_context() {
    const std::lock_guard lock(context_mutex_);
    if (!context_) context_ = std::make_shared<const CudaPrimaryContext>(ordinal_);
    return *context_;
  }

  int ordinal_;
  mf_device_info device_;
  compiler::Target target_;
  compiler::BinaryCache cache_;
  CudaGenerators requested_;  // MFJIT_CUDA_GENERATOR
  std::mutex context_mutex_;
  std::shared_ptr<const CudaPrimaryContext> context_;
};

}  // namespace

int cuda_device_count() {
  const CudaDriver& driver = cuda_driver();
  int count = 0;
  if (!driver.available() || driver.device_get_count(&count) != CUDA_SUCCESS) return 0;
  return count;
}

mf_device_info cuda_device_info(int ordinal) {
  const CudaDriver& driver = available_driver();
  const int count = cuda_device_count();
  if (ordinal < 0 || ordinal >= count)
    fail(MF_ERROR_BACKEND_UNAVAILABLE,
         fmt::format("device: CUDA device {} requested, but the driver reports {} device(s)", ordinal, count));
  CUdevice device = 0;
  check(driver, "cuDeviceGet", driver.device_get(&device, ordinal));
  mf_device_info info{};
  check(driver, "cuDeviceGetName", driver.device_get_name(info.name, sizeof info.name, device));
  const int major = attribute(driver, device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "cuDeviceGetAttribute");
  const int minor = attribute(driver, device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "cuDeviceGetAttribute");
  fmt::format_to_n(info.arch, sizeof info.arch - 1, "sm_{}{}", major, minor);
  info.multiprocessors = attribute(driver, device, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "cuDeviceGetAttribute");
  info.l2_cache_bytes = attribute(driver, device, CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, "cuDeviceGetAttribute");
  std::size_t memory = 0;
  check(driver, "cuDeviceTotalMem", driver.device_total_mem(&memory, device));
  info.memory_bytes = static_cast<std::int64_t>(memory);
  check(driver, "cuDriverGetVersion", driver.driver_get_version(&info.driver_version));
  return info;
}

std::unique_ptr<Backend> create_cuda_backend(int ordinal, const std::string& cache_dir) {
  return std::make_unique<CudaBackend>(ordinal, cache_dir + "/kernels");
}

}  // namespace mf::runtime
