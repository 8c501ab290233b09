// The schema as migrations: step v creates version v from version v − 1 (step 1 from an
// empty database). A released step never changes; a new version adds a step.
#pragma once

#include <sqlite3.h>

namespace mf::tuning_db {

// Applies the steps from `from` + 1 to `to` inside the caller's transaction.
void migrate(sqlite3* handle, int from, int to);

}  // namespace mf::tuning_db
