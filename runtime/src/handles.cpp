#include "handles.h"

#include <fmt/format.h>

#include "status.h"

namespace mf::runtime {

mf_context_s& checked(mf_context context, const char* argument) {
  if (context == nullptr) fail(MF_ERROR_INVALID_HANDLE, fmt::format("{}: is NULL", argument));
  if (context->tag != HandleTag::kContext)
    fail(MF_ERROR_INVALID_HANDLE, fmt::format("{}: is not a live mf_context", argument));
  return *context;
}

mf_plan_s& checked(mf_plan plan, const char* argument) {
  if (plan == nullptr) fail(MF_ERROR_INVALID_HANDLE, fmt::format("{}: is NULL", argument));
  if (plan->tag != HandleTag::kPlan) fail(MF_ERROR_INVALID_HANDLE, fmt::format("{}: is not a live mf_plan", argument));
  return *plan;
}

}  // namespace mf::runtime
