// The canonical problem key that the tuning database is keyed by (DESIGN.md §2).
#pragma once

#include <string>

#include "mf/ir/problem.h"

namespace mf::ir {

// A stable, platform-independent string of what changes the best kernel: format version,
// op, direction and gradients, dtypes, head dim, broadcast pattern, stride class and a size
// bucket. Two problems whose sizes fall in one bucket share a key unless a size changes
// the stride class (e.g. bias rows that stop being 16-byte multiples) or makes a dimension
// 1 (which drops it from the broadcast and stride classes).
// The format is documented in docs/problem-key.md and frozen by golden tests.
std::string problem_key(const Problem& problem);

// The key without its size bucket: problems of one family can share tuned configurations.
std::string key_family(const Problem& problem);

}  // namespace mf::ir
