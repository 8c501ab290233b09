// C descriptors → IR problems. A forward plan ignores the backward fields, so one filled
// descriptor serves both passes. The result has passed ir::validate.
#pragma once

#include "mf/ir/problem.h"
#include "mfjit/mfjit.h"

namespace mf::runtime {

// Enums are taken by reference and read as integers (c_enum.h): a C caller may store any
// int in them.
ir::Problem to_problem(const mf_evo_attention_desc& desc, const mf_direction& direction);
ir::Problem to_problem(const mf_layer_norm_linear_desc& desc, const mf_direction& direction);
ir::Problem to_problem(const mf_transition_desc& desc, const mf_direction& direction);

ir::DType to_ir(const mf_dtype& dtype, const char* argument);  // throws for NONE and unknown values

}  // namespace mf::runtime
