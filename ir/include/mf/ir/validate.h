// Validation of problems: every rule names the argument and what it broke.
#pragma once

#include "mf/ir/error.h"
#include "mf/ir/problem.h"

namespace mf::ir {

// Throws mf::ir::Error naming the offending argument ("bias", "d_q", ...) and the rule.
// Checks ranks and shapes, broadcastability, dtypes, supported head dims, that outputs do
// not overlap themselves, that element counts and offsets fit in int64, and that the
// direction's gradient set matches the gradient tensors given.
void validate(const Problem& problem);

// Throws ErrorKind::kOverflow when some tensor's largest element offset does not fit a
// signed integer of `bits` bits (for generators that index in 32-bit).
void validate_index_width(const Problem& problem, int bits);

// Throws ErrorKind::kMisaligned when `address` is not a multiple of `alignment` bytes.
void validate_alignment(const char* argument, const void* address, std::size_t alignment);

}  // namespace mf::ir
