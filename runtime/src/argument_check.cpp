#include "argument_check.h"

#include <fmt/format.h>

#include <array>
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

}  // namespace

const void* argument_pointer(const OperatorArgs& args, std::string_view name) {
  return std::visit([&](const auto& a) { return pointer_named(a, name); }, args);
}

namespace {

// Byte range of one bound tensor.
struct Range {
  std::uintptr_t begin;  // first byte the strides reach
  std::uintptr_t end;    // one past the last
};

// Exact for dense tensors. Interleaved views of one buffer (dq, dk, dv of a packed dqkv)
// have overlapping byte ranges without sharing an element, so they are not judged.
bool overlap(const TensorFootprint& a, const Range& ra, const TensorFootprint& b, const Range& rb) {
  return a.dense && b.dense && ra.begin < rb.end && rb.begin < ra.end;
}

// Messages are built only on failure: this runs on every execution.
Range bind(const TensorFootprint& tensor, const void* pointer) {
  if (pointer == nullptr)
    fail(MF_ERROR_INVALID_ARGUMENT,
         fmt::format("args.{}: is NULL, but the plan's problem has this tensor", tensor.name));
  const auto begin = reinterpret_cast<std::uintptr_t>(pointer);
  if (begin % tensor.element_bytes != 0)
    ir::validate_alignment(fmt::format("args.{}", tensor.name).c_str(), pointer, tensor.element_bytes);
  return {begin, begin + tensor.extent_bytes};
}

}  // namespace

std::vector<TensorFootprint> footprints(const ir::Problem& problem) {
  std::vector<TensorFootprint> result;
  for (const ir::NamedTensor& tensor : ir::tensor_list(problem)) {
    const std::size_t element = ir::size_of(tensor.desc->dtype);
    const std::int64_t elements = tensor.desc->max_offset() + 1;
    result.push_back({tensor.name, tensor.access, element, static_cast<std::uintptr_t>(elements) * element,
                      elements == tensor.desc->numel()});
  }
  if (result.size() > kMaxPlanTensors) fail(MF_ERROR_INTERNAL, "a problem has more tensors than kMaxPlanTensors");
  return result;
}

void check_arguments(std::span<const TensorFootprint> tensors, const OperatorArgs& args) {
  std::array<Range, kMaxPlanTensors> ranges{};
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const void* pointer = argument_pointer(args, tensors[i].name);
    ranges[i] = bind(tensors[i], pointer);
  }
  for (std::size_t w = 0; w < tensors.size(); ++w) {
    if (tensors[w].access != ir::Access::kWrite) continue;
    for (std::size_t o = 0; o < tensors.size(); ++o)
      if (o != w && overlap(tensors[w], ranges[w], tensors[o], ranges[o]))
        fail(MF_ERROR_INVALID_ARGUMENT, fmt::format("args.{}: the memory it writes overlaps args.{}",
                                                    tensors[w].name, tensors[o].name));
  }
}

}  // namespace mf::runtime
