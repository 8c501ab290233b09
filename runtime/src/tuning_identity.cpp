#include "mf/runtime/tuning_identity.h"

#include <stdexcept>

#include "config_provider.h"
#include "handles.h"
#include "paths.h"
#include "mf/ir/validate.h"
#include "plan.h"
#include "status.h"
#include "mf/ir/error.h"

namespace mf::runtime {
namespace {

mf_context_s& context_of(mf_context context) {
  if (context == nullptr || context->tag != HandleTag::kContext) throw std::invalid_argument("context: not a live context");
  return *context;
}
const Backend& backend_of(mf_context context) { return *context_of(context).backend; }

}  // namespace

std::string default_tuning_db_path() { return default_db_path(default_cache_dir()); }

tuner::db::DeviceRecord tuning_device(mf_context context) { return device_record(backend_of(context)); }

std::string tuning_generator(mf_context context, const ir::Problem& problem) {
  return backend_of(context).generator_for(problem);
}

std::string tuning_generator_hash(mf_context context, const ir::Problem& problem) {
  return backend_of(context).generator_hash(problem);
}

}  // namespace mf::runtime

namespace mf::runtime {

std::optional<std::string> tuning_unsupported(mf_context context, const ir::Problem& problem) {
  try {
    backend_of(context).generator_for(problem);
    return std::nullopt;
  } catch (const Error& error) {
    if (error.status() != MF_ERROR_UNSUPPORTED) throw;
    return error.what();
  } catch (const ir::Error& error) {
    if (error.kind() != ir::ErrorKind::kUnsupported) throw;
    return error.what();
  }
}

std::vector<compiler::ParameterSpace> tuning_spaces(mf_context context, const ir::Problem& problem) {
  return backend_of(context).spaces(problem);
}

std::optional<std::string> tuning_rejects(mf_context context, const ir::Problem& problem, const ir::TileConfig& config) {
  return backend_of(context).rejects(problem, config);
}

std::string tuning_generator_of(mf_context context, const ir::Problem& problem, const ir::TileConfig& config) {
  return backend_of(context).generator_of(problem, config);
}

ir::TileConfig tuning_default_config(mf_context context, const ir::Problem& problem) {
  return backend_of(context).default_config(problem);
}

mf_plan tuning_plan(mf_context context, const ir::Problem& problem, const ir::TileConfig& config) {
  ir::validate(problem);
  if (const auto why = backend_of(context).rejects(problem, config)) throw std::invalid_argument(*why);
  return create_plan_with(context_of(context), problem, config);
}

}  // namespace mf::runtime
