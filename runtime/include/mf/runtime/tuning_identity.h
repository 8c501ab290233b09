// For the tuning tools (mf-tune, mf-db): what tuning results of a context's device are keyed
// by, as the runtime's own lookups key them (runtime/src/config_provider.h).
#pragma once

#include <string>

#include "mf/ir/problem.h"
#include "mf/tuner/db/records.h"
#include "mfjit/mfjit.h"

namespace mf::runtime {

// The device identity of the context's device. Throws std::invalid_argument for a bad handle.
tuner::db::DeviceRecord tuning_device(mf_context context);
// The generator name and source hash the context's backend uses for `problem`; throws
// the backend's error (e.g. an operator it has no generator for).
std::string tuning_generator(mf_context context, const ir::Problem& problem);
std::string tuning_generator_hash(mf_context context, const ir::Problem& problem);

}  // namespace mf::runtime
