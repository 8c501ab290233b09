#include "gpu_backend.h"

#include <fmt/format.h>

#include <future>
#include <mutex>
#include <type_traits>

#include "gpu_evo_attention.h"
#include "gpu_generated.h"
#include "gpu_layer_norm_linear.h"
#include "gpu_transition.h"
#include "mf/compiler/binary_cache.h"
#include "mf/compiler/template_generator.h"
#include "mf/ir/error.h"
#include "status.h"

namespace mf::runtime {
namespace {

using compiler::EvoAttentionGenerator;
using compiler::LayerNormLinearGenerator;
using compiler::with_template_generator;

class GpuBackend final : public Backend {
 public:
  GpuBackend(GpuVendor vendor, std::string cache_dir)
      : vendor_(std::move(vendor)), target_(vendor_.target), cache_(std::move(cache_dir)),
        requested_(gpu_generators_requested()) {}

  mf_backend kind() const override { return vendor_.kind; }
  const mf_device_info& device() const override { return vendor_.device; }

  std::string generator_for(const ir::Problem& problem) const override { return offered(problem).front(); }

  ir::TileConfig default_config(const ir::Problem& problem) const override {
    const std::vector<std::string> names = offered(problem);
    if (names.front() == kMlir) return {};  // the MLIR kernels have no tile parameters yet
    try {
      return with_template_generator(problem, [&](auto generator, const auto& op) {
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
                            : with_template_generator(problem, [&](auto generator, const auto& op) {
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
  std::string toolkit_version() const override { return vendor_.compiler + " " + vendor_.compiler_version; }

  std::unique_ptr<Executable> build(const ir::Problem& problem, const ir::TileConfig& config) override {
    if (const auto why = rejects(problem, config)) fail(MF_ERROR_INVALID_ARGUMENT, *why);
    if (generator_of(problem, config) == kMlir) return build_mlir_gpu(problem, target_.arch, device_runtime(), cache_);
    return with_template_generator(problem, [&](auto generator, const auto& op) -> std::unique_ptr<Executable> {
      auto plan = generator.launch_plan(op, problem.direction, config, target_);
      std::vector<LoadedModule> modules = loaded(generator.generate(op, problem.direction, config));
      if constexpr (std::is_same_v<decltype(generator), EvoAttentionGenerator>)
        return make_gpu_evo_attention(op, problem.direction, std::move(plan), device_runtime(), std::move(modules));
      else if constexpr (std::is_same_v<decltype(generator), LayerNormLinearGenerator>)
        return make_gpu_layer_norm_linear(op, problem.direction, std::move(plan), device_runtime(), std::move(modules));
      else
        return make_gpu_transition(op, problem.direction, std::move(plan), device_runtime(), std::move(modules));
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
        names.push_back(with_template_generator(problem, [&](auto generator, const auto& op) -> std::string {
          generator.check_supported(op, problem.direction);
          if (!vendor_.templates_unavailable.empty())
            fail(MF_ERROR_UNSUPPORTED, fmt::format("the {} backend cannot compile the template kernels for {}: {}",
                                                   vendor_.name, target_.arch, vendor_.templates_unavailable));
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
    return with_template_generator(problem,
                                   [](auto generator, const auto&) { return std::string(generator.source_hash()); });
  }

  // The code object of `source`, from the binary cache or compiled (and then cached;
  // concurrent plans of one module compile it once).
  std::vector<char> compiled(const compiler::GeneratedSource& source) const {
    const std::string text = vendor_.prelude + source.text;
    return cache_.load_or_build(compiler::cache_key({vendor_.compiler, vendor_.compiler_version, target_.arch, text}),
                                [&] { return vendor_.compile(text, source.name); });
  }

  // The modules compile at once (the vendor's compile is thread-safe), then load in order.
  std::vector<LoadedModule> loaded(std::vector<compiler::GeneratedSource> sources) {
    std::vector<std::future<std::vector<char>>> code_objects;
    for (const auto& source : sources)
      code_objects.push_back(std::async(std::launch::async, [&source, this] { return compiled(source); }));
    std::vector<LoadedModule> modules;
    for (std::size_t i = 0; i < sources.size(); ++i)
      modules.push_back({device_runtime()->load(code_objects[i].get()), std::move(sources[i].entries)});
    return modules;
  }

  // Opened on first use. Plans may be created from several threads at once.
  std::shared_ptr<const GpuDevice> device_runtime() {
    const std::lock_guard lock(runtime_mutex_);
    if (!runtime_) runtime_ = vendor_.open();
    return runtime_;
  }

  GpuVendor vendor_;
  compiler::Target target_;
  compiler::BinaryCache cache_;
  GpuGenerators requested_;  // MFJIT_CUDA_GENERATOR
  std::mutex runtime_mutex_;
  std::shared_ptr<const GpuDevice> runtime_;
};

}  // namespace

std::unique_ptr<Backend> create_gpu_backend(GpuVendor vendor, const std::string& cache_dir) {
  return std::make_unique<GpuBackend>(std::move(vendor), cache_dir);
}

}  // namespace mf::runtime
