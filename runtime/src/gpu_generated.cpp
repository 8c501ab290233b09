#include "gpu_generated.h"

#include <array>
#include <cstdlib>
#include <string_view>

#include "argument_check.h"
#include "mf/ir/problem_key.h"
#include "mf/ir/tensor_list.h"
#include "status.h"

#if MF_HAVE_MLIR
#include "mf/compiler/mlir/gpu_program.h"
#endif

namespace mf::runtime {

GpuGenerators gpu_generators_requested() {
  const char* value = std::getenv("MFJIT_CUDA_GENERATOR");
  if (value == nullptr || *value == '\0') return {};
  if (std::string_view(value) == "template") return {true, false};
  if (std::string_view(value) == "mlir") return {false, true};
  fail(MF_ERROR_INVALID_ARGUMENT,
       std::string("MFJIT_CUDA_GENERATOR: '") + value + "' is neither template nor mlir (unset: both)");
}

#if MF_HAVE_MLIR

namespace {

namespace generator = compiler::mlir_generator;

class MlirGpuExecutable final : public Executable {
 public:
  MlirGpuExecutable(const ir::Problem& problem, generator::GpuProgram layout, std::shared_ptr<const GpuDevice> device,
                    const std::vector<char>& code_object)
      : layout_(std::move(layout)), device_(std::move(device)), module_(device_->load(code_object)) {
    for (const auto& named : ir::tensor_list(problem)) names_.push_back(named.name);
    if (names_.size() > kMaxPlanTensors) fail(MF_ERROR_INTERNAL, "more tensors than a plan holds");
    for (const auto& kernel : layout_.kernels) kernels_.push_back(module_->kernel(kernel.name, 0));
  }

  std::size_t workspace_size() const override { return layout_.workspace_bytes(); }

  // Every kernel takes the tensors' pointers, the workspace and the arena: one parameter
  // block of pointers, laid out as the kernels' .u64 parameters.
  void execute(const OperatorArgs& args, void* workspace, void* stream) override {
    std::array<void*, kMaxPlanTensors + 2> pointers{};
    for (std::size_t t = 0; t < names_.size(); ++t) pointers[t] = const_cast<void*>(argument_pointer(args, names_[t]));
    pointers[names_.size()] = workspace;
    pointers[names_.size() + 1] = static_cast<unsigned char*>(workspace) + layout_.arena_offset();
    const std::size_t bytes = (names_.size() + 2) * sizeof(void*);
    for (std::size_t k = 0; k < kernels_.size(); ++k)
      device_->launch(kernels_[k], layout_.kernels[k].grid, static_cast<int>(layout_.kernels[k].block), 1, 0, stream,
                      pointers.data(), bytes);
  }

 private:
  generator::GpuProgram layout_;
  std::shared_ptr<const GpuDevice> device_;
  std::shared_ptr<const GpuModule> module_;
  std::vector<GpuKernel> kernels_;
  std::vector<std::string_view> names_;
};

}  // namespace

std::optional<std::string> mlir_gpu_unsupported(const ir::Problem& problem) {
  return generator::gpu_unsupported(problem);
}

std::string mlir_gpu_version() { return generator::gpu_program_version(); }

std::unique_ptr<Executable> build_mlir_gpu(const ir::Problem& problem, const std::string& arch,
                                           std::shared_ptr<const GpuDevice> device,
                                           const compiler::BinaryCache& cache) {
  generator::GpuProgram layout = generator::gpu_program_layout(problem, arch);
  // The problem key carries every size and stride the kernels were specialised for.
  const std::vector<char> code_object =
      cache.load_or_build(compiler::cache_key({"mlir-gpu", generator::gpu_program_version(), arch,
                                               ir::problem_key(problem)}),
                          [&] { return generator::compile_gpu_program(problem, arch).binary; });
  return std::make_unique<MlirGpuExecutable>(problem, std::move(layout), std::move(device), code_object);
}

#else

std::optional<std::string> mlir_gpu_unsupported(const ir::Problem&) {
  return "this mfjit was built without the MLIR generator (MF_MLIR=OFF)";
}

std::string mlir_gpu_version() { return "none"; }

std::unique_ptr<Executable> build_mlir_gpu(const ir::Problem&, const std::string&,
                                           std::shared_ptr<const GpuDevice>, const compiler::BinaryCache&) {
  fail(MF_ERROR_UNSUPPORTED, "this mfjit was built without the MLIR generator (MF_MLIR=OFF)");
}

#endif

}  // namespace mf::runtime
