// The AF3 problem suite of DESIGN.md §5, at full size or scaled down for the host CPU.
#pragma once

#include <string>
#include <vector>

#include "mf/ir/problem.h"

namespace mf::tools {

struct SuiteProblem {
  std::string name;       // "triangle_start [1,384,384,4,32]"
  int count_per_step;     // how often one training step runs it
  ir::Operator forward;   // bf16, with every optional input AF3 uses
};

// scaled = true shrinks the pair representation (384 → 96 tokens, so M = 96² rows for its
// linears) so that the fp64 reference runs the whole suite in about a minute on two
// cores; heads, head dims, feature sizes and the single representation keep AF3's sizes.
std::vector<SuiteProblem> af3_suite(bool scaled);

// The crop sizes of DESIGN.md §5 other than 384 (128 … 1024) for triangle and single
// attention, each scaled like af3_suite (pair sizes divided by 4 on the cpu).
std::vector<SuiteProblem> sequence_sweep(bool scaled);

}  // namespace mf::tools
