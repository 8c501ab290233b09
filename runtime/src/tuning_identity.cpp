#include "mf/runtime/tuning_identity.h"

#include <stdexcept>

#include "config_provider.h"
#include "handles.h"

namespace mf::runtime {
namespace {

const Backend& backend_of(mf_context context) {
  if (context == nullptr || context->tag != HandleTag::kContext) throw std::invalid_argument("context: not a live context");
  return *context->backend;
}

}  // namespace

tuner::db::DeviceRecord tuning_device(mf_context context) { return device_record(backend_of(context)); }

std::string tuning_generator(mf_context context, const ir::Problem& problem) {
  return backend_of(context).generator_for(problem);
}

std::string tuning_generator_hash(mf_context context, const ir::Problem& problem) {
  return backend_of(context).generator_hash(problem);
}

}  // namespace mf::runtime
