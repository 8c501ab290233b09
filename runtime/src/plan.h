// Plan creation (problem → key → generator and configuration → executable), description
// and execution.
#pragma once

#include <string>

#include "backend.h"
#include "handles.h"

namespace mf::runtime {

// Throws MF_ERROR_UNSUPPORTED when the context's backend has no generator for the problem.
mf_plan_s* create_plan(mf_context_s& context, ir::Problem problem);
// A plan with exactly `config` (config_source "tuner"), for measuring it; the database is
// neither read nor written.
mf_plan_s* create_plan_with(mf_context_s& context, ir::Problem problem, const ir::TileConfig& config);
std::string describe_plan(const mf_plan_s& plan);
// Checks the context, arguments and workspace, then runs.
void execute_plan(mf_context_s& context, mf_plan_s& plan, const OperatorArgs& args, void* workspace,
                  std::size_t workspace_size, void* stream);

}  // namespace mf::runtime
