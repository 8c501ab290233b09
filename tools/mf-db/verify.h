// mf-db verify: stored winners measured again on this machine's device, each beside its
// fastest runners-up, so that a winner of another driver, toolkit or generator (a stale
// one) becomes a winner of the current identity without a whole new search.
#pragma once

#include <ostream>
#include <vector>

#include "mfjit/mfjit.h"
#include "mf/tuning_db/database.h"

namespace mf::tools {

struct VerifyOptions {
  int runners_up = 3;  // measured beside each winner: its fastest other configurations
  int repeats = 0;     // timed runs per configuration; 0: 20, or 3 on the cpu backend
  int warmup = -1;     // runs before timing; -1: 3, or 1 on the cpu backend
};

// Verifies `winners` (each of a problem this context's device can run) into `db` under
// the context's current identity; prints one line per winner. Returns 0 when every winner
// had a configuration that still verifies, else 1.
int verify_winners(tuning_db::Database& db, mf_context context, const std::vector<tuning_db::WinnerRecord>& winners,
                   const VerifyOptions& options, std::ostream& out);

}  // namespace mf::tools
