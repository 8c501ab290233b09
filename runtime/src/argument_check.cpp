#include "argument_check.h"

#include <fmt/format.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "mf/ir/tensor_list.h"
#include "mf/ir/validate.h"
#include "status.h"

namespace mf::runtime {
namespace {

// The argument-struct field that holds the tensor of a descriptor field of the same name.
const void* pointer_named(const mf_evo_attention_args& a, std::string_view name) {
  if (name == "q") return a.q;
  if (name == "k") return a.k;
  if (name == "v") return a.v;
  if (name == "bias") return a.bias;
  if (name == "mask") return a.mask;
  if (name == "o") return a.o;
  if (name == "lse") return a.lse;
  if (name == "d_o") return a.d_o;
  if (name == "d_q") return a.d_q;
  if (name == "d_k") return a.d_k;
  if (name == "d_v") return a.d_v;
  if (name == "d_bias") return a.d_bias;
  fail(MF_ERROR_INTERNAL, fmt::format("no evo_attention argument named {}", name));
}

const void* pointer_named(const mf_layer_norm_linear_args& a, std::string_view name) {
  if (name == "x") return a.x;
  if (name == "gamma") return a.gamma;
  if (name == "beta") return a.beta;
  if (name == "weight") return a.weight;
  if (name == "bias") return a.bias;
  if (name == "y") return a.y;
  if (name == "mean") return a.mean;
  if (name == "rstd") return a.rstd;
  if (name == "d_y") return a.d_y;
  if (name == "d_x") return a.d_x;
  if (name == "d_gamma") return a.d_gamma;
  if (name == "d_beta") return a.d_beta;
  if (name == "d_weight") return a.d_weight;
  if (name == "d_bias") return a.d_bias;
  fail(MF_ERROR_INTERNAL, fmt::format("no layer_norm_linear argument named {}", name));
}

const void* pointer_named(const mf_transition_args& a, std::string_view name) {
  if (name == "x") return a.x;
  if (name == "gamma") return a.gamma;
  if (name == "beta") return a.beta;
  if (name == "w1") return a.w1;
  if (name == "w2") return a.w2;
  if (name == "y") return a.y;
  if (name == "mean") return a.mean;
  if (name == "rstd") return a.rstd;
  if (name == "d_y") return a.d_y;
  if (name == "d_x") return a.d_x;
  if (name == "d_gamma") return a.d_gamma;
  if (name == "d_beta") return a.d_beta;
  if (name == "d_w1") return a.d_w1;
  if (name == "d_w2") return a.d_w2;
  fail(MF_ERROR_INTERNAL, fmt::format("no transition argument named {}", name));
}

struct BoundTensor {
  ir::NamedTensor tensor;
  std::uintptr_t begin;  // first byte the strides reach
  std::uintptr_t end;    // one past the last
  bool dense;            // every byte of [begin, end) belongs to the tensor
};

BoundTensor bind(const ir::NamedTensor& tensor, const void* pointer) {
  const std::string argument = fmt::format("args.{}", tensor.name);
  if (pointer == nullptr)
    fail(MF_ERROR_INVALID_ARGUMENT, fmt::format("{}: is NULL, but the plan's problem has this tensor", argument));
  const std::size_t element = ir::size_of(tensor.desc->dtype);
  ir::validate_alignment(argument.c_str(), pointer, element);
  const auto begin = reinterpret_cast<std::uintptr_t>(pointer);
  const auto bytes = static_cast<std::uintptr_t>(tensor.desc->max_offset() + 1) * element;
  const bool dense = tensor.desc->max_offset() + 1 == tensor.desc->numel();
  return {tensor, begin, begin + bytes, dense};
}

// Exact for dense tensors. Interleaved views of one buffer (dq, dk, dv of a packed dqkv)
// have overlapping byte ranges without sharing an element, so they are not judged.
bool overlap(const BoundTensor& a, const BoundTensor& b) {
  return a.dense && b.dense && a.begin < b.end && b.begin < a.end;
}

}  // namespace

void check_arguments(const ir::Problem& problem, const OperatorArgs& args) {
  std::vector<BoundTensor> bound;
  for (const ir::NamedTensor& tensor : ir::tensor_list(problem)) {
    const void* pointer = std::visit([&](const auto& a) { return pointer_named(a, tensor.name); }, args);
    bound.push_back(bind(tensor, pointer));
  }
  for (const BoundTensor& written : bound) {
    if (written.tensor.access != ir::Access::kWrite) continue;
    for (const BoundTensor& other : bound)
      if (&other != &written && overlap(written, other))
        fail(MF_ERROR_INVALID_ARGUMENT, fmt::format("args.{}: the memory it writes overlaps args.{}",
                                                    written.tensor.name, other.tensor.name));
  }
}

}  // namespace mf::runtime
