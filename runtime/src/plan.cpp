#include "plan.h"

#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>

#include "argument_check.h"
#include "mf/ir/json.h"
#include "mf/ir/problem_key.h"
#include "status.h"

namespace mf::runtime {
namespace {

constexpr std::uintptr_t kWorkspaceAlignment = 16;

const char* backend_name(mf_backend backend) {
  switch (backend) {
    case MF_BACKEND_AUTO: return "auto";
    case MF_BACKEND_CPU: return "cpu";
    case MF_BACKEND_CUDA: return "cuda";
    case MF_BACKEND_HIP: return "hip";
  }
  return "unknown";
}

// Which operator's arguments a problem takes, to reject the wrong execute function.
bool arguments_match(const ir::Problem& problem, const OperatorArgs& args) {
  return problem.op.index() == args.index();
}

}  // namespace

namespace {

mf_plan_s* make_plan(mf_context_s& context, ir::Problem problem, const std::optional<ir::TileConfig>& forced) {
  auto plan = std::make_unique<mf_plan_s>();
  plan->context = &context;
  plan->key = ir::problem_key(problem);
  plan->config = forced ? ConfigChoice{*forced, "tuner", "", ""}
                        : context.configs->choose(problem, plan->key, *context.backend);
  plan->generator = context.backend->generator_of(problem, plan->config.config);
  plan->executable = context.backend->build(problem, plan->config.config);
  plan->tensors = footprints(problem);
  plan->problem = std::move(problem);
  ++context.live_plans;
  return plan.release();
}

}  // namespace

mf_plan_s* create_plan(mf_context_s& context, ir::Problem problem) {
  return make_plan(context, std::move(problem), std::nullopt);
}

mf_plan_s* create_plan_with(mf_context_s& context, ir::Problem problem, const ir::TileConfig& config) {
  return make_plan(context, std::move(problem), config);
}

std::string describe_plan(const mf_plan_s& plan) {
  nlohmann::json description = {
      {"op", ir::op_name(plan.problem.op)},
      {"direction", plan.problem.direction},
      {"backend", backend_name(plan.context->backend->kind())},
      {"device", plan.context->backend->device().name},
      {"generator", plan.generator},
      {"config", plan.config.config},
      {"config_source", plan.config.source},
      {"tuning_db", plan.context->db_path},
      {"key", plan.key},
      {"workspace_bytes", plan.executable->workspace_size()},
      {"problem", plan.problem},
  };
  if (!plan.config.tuned_from.empty()) description["tuned_from"] = plan.config.tuned_from;
  if (!plan.config.db_warning.empty()) description["tuning_db_warning"] = plan.config.db_warning;
  // JSON is UTF-8; a path (bytes, on Linux) or a warning quoting a damaged file may not be:
  // such bytes become U+FFFD rather than a failure.
  return description.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void execute_plan(mf_context_s& context, mf_plan_s& plan, const OperatorArgs& args, void* workspace,
                  std::size_t workspace_size, void* stream) {
  if (plan.context != &context)
    fail(MF_ERROR_CONTEXT_MISMATCH, "plan: belongs to another context than the one given");
  if (!arguments_match(plan.problem, args))
    fail(MF_ERROR_INVALID_ARGUMENT, fmt::format("plan: was made for {}; execute it with mf_{}_execute",
                                                ir::op_name(plan.problem.op), ir::op_name(plan.problem.op)));
  const std::size_t needed = plan.executable->workspace_size();
  if (workspace_size < needed || (needed > 0 && workspace == nullptr))
    fail(MF_ERROR_WORKSPACE, fmt::format("workspace: the plan needs {} bytes, {} given{}", needed, workspace_size,
                                         workspace == nullptr && needed > 0 ? " (and the pointer is NULL)" : ""));
  check_arguments(plan.tensors, args);
  // Kernels read the workspace as f32, f64 and 16-byte vectors.
  if (needed > 0 && reinterpret_cast<std::uintptr_t>(workspace) % kWorkspaceAlignment != 0)
    fail(MF_ERROR_MISALIGNED, fmt::format("workspace: must be aligned to {} bytes", kWorkspaceAlignment));
  plan.executable->execute(args, workspace, stream);
}

}  // namespace mf::runtime
