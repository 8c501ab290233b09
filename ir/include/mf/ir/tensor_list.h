// The tensors a problem's pass reads and writes, by argument name: the one list that
// validation, problem keys and the runtime's pointer checks walk.
#pragma once

#include <string_view>
#include <vector>

#include "mf/ir/problem.h"

namespace mf::ir {

enum class Access : unsigned char { kRead, kWrite };

struct NamedTensor {
  std::string_view name;  // the descriptor's field name: "q", "d_bias", "weight", ...
  const TensorDesc* desc;  // points into the problem; valid while it lives
  Access access;
};

// The present tensors that `problem.direction` touches, in declaration order of the
// operator's fields. Forward: primal inputs read, o/y and the saved statistics written.
// Backward: primal inputs, outputs, statistics and d_o/d_y read, gradients written.
std::vector<NamedTensor> tensor_list(const Problem& problem);

}  // namespace mf::ir
