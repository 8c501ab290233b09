#include "cpu_generated.h"

#include <algorithm>
#include <array>

#include "argument_check.h"
#include "mf/ir/tensor_list.h"
#include "status.h"

#if MF_HAVE_MLIR
#include "mf/compiler/mlir/host_program.h"
#endif

namespace mf::runtime {

#if MF_HAVE_MLIR

namespace {

using compiler::mlir_generator::HostProgram;

class GeneratedExecutable final : public Executable {
 public:
  GeneratedExecutable(const ir::Problem& problem, reference::ThreadPool& pool)
      : program_(HostProgram::compile(problem)), pool_(pool) {
    for (const auto& named : ir::tensor_list(problem)) names_.push_back(named.name);
    if (names_.size() > kMaxPlanTensors) fail(MF_ERROR_INTERNAL, "more tensors than a plan holds");
  }

  std::size_t workspace_size() const override { return program_->workspace_bytes(); }

  void execute(const OperatorArgs& args, void* workspace, void* /*stream*/) override {
    std::array<void*, kMaxPlanTensors> pointers{};
    for (std::size_t t = 0; t < names_.size(); ++t)
      pointers[t] = const_cast<void*>(argument_pointer(args, names_[t]));
    const std::span<void* const> tensors(pointers.data(), names_.size());
    const auto& stages = program_->stages();
    for (std::size_t s = 0; s < stages.size(); ++s) {
      // About four chunks a thread: enough to even out, few enough to stay cheap.
      const std::int64_t chunks = 4 * static_cast<std::int64_t>(pool_.threads());
      const std::int64_t grain = std::max<std::int64_t>(1, (stages[s].iterations + chunks - 1) / chunks);
      pool_.parallel_for(stages[s].iterations, grain, [&](std::int64_t begin, std::int64_t end, int) {
        program_->run(s, tensors, workspace, begin, end);
      });
    }
  }

 private:
  std::unique_ptr<HostProgram> program_;
  reference::ThreadPool& pool_;
  std::vector<std::string_view> names_;
};

}  // namespace

std::optional<std::string> generated_unsupported(const ir::Problem& problem) {
  return HostProgram::unsupported(problem);
}

std::string generated_version() { return HostProgram::version(); }

std::unique_ptr<Executable> build_generated(const ir::Problem& problem, reference::ThreadPool& pool) {
  return std::make_unique<GeneratedExecutable>(problem, pool);
}

#else

std::optional<std::string> generated_unsupported(const ir::Problem&) {
  return "this mfjit was built without the MLIR generator (MF_MLIR=OFF)";
}

std::string generated_version() { return "none"; }

std::unique_ptr<Executable> build_generated(const ir::Problem&, reference::ThreadPool&) {
  fail(MF_ERROR_UNSUPPORTED, "this mfjit was built without the MLIR generator (MF_MLIR=OFF)");
}

#endif

}  // namespace mf::runtime
