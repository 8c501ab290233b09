// The tuner's short name for the tuning database it records into: `db::Database` inside
// mf::tuner. The database itself lives below the tuner and the runtime (tuning_db/,
// namespace mf::tuning_db), which both use it; code outside the tuner names it in full.
#pragma once

#include "mf/tuning_db/database.h"

namespace mf::tuner {

namespace db = ::mf::tuning_db;

}  // namespace mf::tuner
