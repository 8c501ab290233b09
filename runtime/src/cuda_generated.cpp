#include "cuda_generated.h"

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

CudaGenerators cuda_generators_requested() {
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
  MlirGpuExecutable(const ir::Problem& problem, generator::GpuProgram layout, std::shared_ptr<const CudaPrimaryContext> context,
                    const std::vector<char>& cubin)
      : layout_(std::move(layout)), context_(std::move(context)),
        module_(std::make_shared<const CudaModule>(*context_, cubin)) {
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
    const CudaContextScope scope(context_->get());
    for (std::size_t k = 0; k < kernels_.size(); ++k)
      launch(kernels_[k], layout_.kernels[k].grid, static_cast<int>(layout_.kernels[k].block), 1, 0,
             static_cast<CUstream>(stream), pointers.data(), bytes);
  }

 private:
  generator::GpuProgram layout_;
  std::shared_ptr<const CudaPrimaryContext> context_;
  std::shared_ptr<const CudaModule> module_;
  std::vector<CudaKernel> kernels_;
  std::vector<std::string_view> names_;
};

}  // namespace

std::optional<std::string> mlir_gpu_unsupported(const ir::Problem& problem) {
  return generator::gpu_unsupported(problem);
}

std::string mlir_gpu_version() { return generator::gpu_program_version(); }

std::unique_ptr<Executable> build_mlir_gpu(const ir::Problem& problem, const std::string& arch,
                                           std::shared_ptr<const CudaPrimaryContext> context,
                                           const compiler::BinaryCache& cache) {
  generator::GpuProgram layout = generator::gpu_program_layout(problem, arch);
  // The problem key carries every size and stride the kernels were specialised for.
  const std::vector<char> cubin =
      cache.load_or_build(compiler::cache_key({"mlir-gpu", generator::gpu_program_version(), arch,
                                               ir::problem_key(problem)}),
                          [&] { return generator::compile_gpu_program(problem, arch).binary; });
  return std::make_unique<MlirGpuExecutable>(problem, std::move(layout), std::move(context), cubin);
}

#else

std::optional<std::string> mlir_gpu_unsupported(const ir::Problem&) {
  return "this mfjit was built without the MLIR generator (MF_MLIR=OFF)";
}

std::string mlir_gpu_version() { return "none"; }

std::unique_ptr<Executable> build_mlir_gpu(const ir::Problem&, const std::string&,
                                           std::shared_ptr<const CudaPrimaryContext>, const compiler::BinaryCache&) {
  fail(MF_ERROR_UNSUPPORTED, "this mfjit was built without the MLIR generator (MF_MLIR=OFF)");
}

#endif

}  // namespace mf::runtime
