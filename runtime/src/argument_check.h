// Checks of an execution's data pointers against the plan's problem, before any kernel
// runs: every tensor present in the problem has a pointer, each pointer is aligned to its
// element, and no written tensor overlaps another tensor's memory.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "backend.h"
#include "mf/ir/tensor_list.h"

namespace mf::runtime {

inline constexpr std::size_t kMaxPlanTensors = 16;

// What execution checks of one tensor, derived once when the plan is made, so that an
// execution checks its pointers without allocating.
struct TensorFootprint {
  std::string_view name;        // the descriptor field, as ir::tensor_list names it
  ir::Access access;
  std::size_t element_bytes;
  std::uintptr_t extent_bytes;  // bytes from the base pointer the strides reach
  bool dense;                   // every byte of the extent belongs to the tensor
};

std::vector<TensorFootprint> footprints(const ir::Problem& problem);

// The pointer `args` holds for the tensor `name` (an ir::tensor_list name).
const void* argument_pointer(const OperatorArgs& args, std::string_view name);

// Throws MF_ERROR_INVALID_ARGUMENT or MF_ERROR_MISALIGNED naming the field ("args.d_q").
void check_arguments(std::span<const TensorFootprint> tensors, const OperatorArgs& args);

}  // namespace mf::runtime
