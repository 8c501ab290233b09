// Helpers of the C API tests: IR values as C descriptors, owned handles, status checks, and
// host memory for every tensor of a problem bound to the C argument structs.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include "mf/ir/problem.h"
#include "mf/ir/tensor_list.h"
#include "mf/reference/host_tensor.h"
#include "mf/reference/reference.h"
#include "mfjit/mfjit.h"

namespace mf::capi_test {

// The gradient bits of the C API and the IR are the same numbers.
static_assert(MF_EVO_GRAD_Q == ir::EvoAttention::kGradQ && MF_EVO_GRAD_BIAS == ir::EvoAttention::kGradBias);
static_assert(MF_LNL_GRAD_X == ir::LayerNormLinear::kGradX && MF_LNL_GRAD_BIAS == ir::LayerNormLinear::kGradBias);
static_assert(MF_TRANSITION_GRAD_X == ir::Transition::kGradX && MF_TRANSITION_GRAD_W2 == ir::Transition::kGradW2);

// ---- IR values as C descriptors -------------------------------------------------------------

inline mf_dtype to_c(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::kBool: return MF_DTYPE_BOOL;
    case ir::DType::kF16: return MF_DTYPE_F16;
    case ir::DType::kBF16: return MF_DTYPE_BF16;
    case ir::DType::kF32: return MF_DTYPE_F32;
    case ir::DType::kF64: return MF_DTYPE_F64;
  }
  ADD_FAILURE() << "unknown ir::DType " << static_cast<int>(dtype);
  return MF_DTYPE_NONE;
}

inline mf_tensor_desc to_c(const ir::TensorDesc& desc) {
  mf_tensor_desc result{};
  result.dtype = to_c(desc.dtype);
  result.rank = desc.rank();
  for (int d = 0; d < desc.rank() && d < MF_MAX_RANK; ++d) {
    result.shape[d] = desc.shape[d];
    result.strides[d] = desc.strides[d];
  }
  return result;
}

// An absent tensor is a zeroed descriptor (MF_DTYPE_NONE).
inline mf_tensor_desc to_c(const std::optional<ir::TensorDesc>& desc) { return desc ? to_c(*desc) : mf_tensor_desc{}; }

inline mf_direction to_c(ir::Pass pass) { return pass == ir::Pass::kForward ? MF_FORWARD : MF_BACKWARD; }

inline mf_mask_kind to_c(ir::MaskKind kind) {
  switch (kind) {
    case ir::MaskKind::kNone: return MF_MASK_NONE;
    case ir::MaskKind::kBoolean: return MF_MASK_BOOLEAN;
    case ir::MaskKind::kAdditive: return MF_MASK_ADDITIVE;
  }
  ADD_FAILURE() << "unknown ir::MaskKind";
  return MF_MASK_NONE;
}

inline mf_dbias_mode to_c(ir::DBiasMode mode) {
  return mode == ir::DBiasMode::kFast ? MF_DBIAS_FAST : MF_DBIAS_DETERMINISTIC;
}

// Every field of the operator, backward fields included (a forward plan ignores them).
inline mf_evo_attention_desc to_c(const ir::EvoAttention& op, std::uint32_t gradients) {
  mf_evo_attention_desc d{};
  d.q = to_c(op.q), d.k = to_c(op.k), d.v = to_c(op.v), d.bias = to_c(op.bias), d.mask = to_c(op.mask);
  d.o = to_c(op.o), d.lse = to_c(op.lse);
  d.mask_kind = to_c(op.mask_kind);
  d.scale = op.scale;
  d.d_o = to_c(op.d_o), d.d_q = to_c(op.d_q), d.d_k = to_c(op.d_k), d.d_v = to_c(op.d_v);
  d.d_bias = to_c(op.d_bias);
  d.gradients = gradients;
  d.dbias_mode = to_c(op.dbias_mode);
  return d;
}

inline mf_layer_norm_linear_desc to_c(const ir::LayerNormLinear& op, std::uint32_t gradients) {
  mf_layer_norm_linear_desc d{};
  d.x = to_c(op.x), d.gamma = to_c(op.gamma), d.beta = to_c(op.beta), d.weight = to_c(op.weight);
  d.bias = to_c(op.bias), d.y = to_c(op.y), d.mean = to_c(op.mean), d.rstd = to_c(op.rstd);
  d.eps = op.eps;
  d.d_y = to_c(op.d_y), d.d_x = to_c(op.d_x), d.d_gamma = to_c(op.d_gamma), d.d_beta = to_c(op.d_beta);
  d.d_weight = to_c(op.d_weight), d.d_bias = to_c(op.d_bias);
  d.gradients = gradients;
  return d;
}

inline mf_transition_desc to_c(const ir::Transition& op, std::uint32_t gradients) {
  mf_transition_desc d{};
  d.x = to_c(op.x), d.gamma = to_c(op.gamma), d.beta = to_c(op.beta), d.w1 = to_c(op.w1), d.w2 = to_c(op.w2);
  d.y = to_c(op.y), d.mean = to_c(op.mean), d.rstd = to_c(op.rstd);
  d.eps = op.eps;
  d.d_y = to_c(op.d_y), d.d_x = to_c(op.d_x), d.d_gamma = to_c(op.d_gamma), d.d_beta = to_c(op.d_beta);
  d.d_w1 = to_c(op.d_w1), d.d_w2 = to_c(op.d_w2);
  d.gradients = gradients;
  return d;
}

// Layout options of `dtype`, changed by `edit` (designated initializers that leave fields
// out trip -Wmissing-field-initializers).
template <class Options, class Edit>
Options options(ir::DType dtype, Edit edit) {
  Options result;
  result.dtype = dtype;
  edit(result);
  return result;
}
template <class Options>
Options options(ir::DType dtype) {
  return options<Options>(dtype, [](Options&) {});
}

// The backward problem of `op` asking for `gradients` (with the gradient tensors added).
template <class Op>
ir::Problem backward_problem(const Op& op, std::uint32_t gradients) {
  return {ir::with_gradients(op, gradients), ir::Direction::backward(gradients)};
}
template <class Op>
ir::Problem backward_problem(const Op& op) {
  return backward_problem(op, op.all_gradients());
}

// Stores an arbitrary integer in an enum field, as a C caller may. (Assigning an enum value
// outside the enumerators' range is undefined in C++, so the bytes are copied.)
template <class Enum>
void store_raw(Enum& field, int value) {
  static_assert(sizeof(Enum) == sizeof(int));
  std::memcpy(&field, &value, sizeof value);
}

// ---- owned handles --------------------------------------------------------------------------

struct ContextDeleter {
  void operator()(mf_context context) const { EXPECT_EQ(mf_context_destroy(context), MF_SUCCESS) << mf_last_error(); }
};
struct PlanDeleter {
  void operator()(mf_plan plan) const { EXPECT_EQ(mf_plan_destroy(plan), MF_SUCCESS) << mf_last_error(); }
};
using Context = std::unique_ptr<mf_context_s, ContextDeleter>;
using Plan = std::unique_ptr<mf_plan_s, PlanDeleter>;

// A cpu context with a fixed thread count, so that its results are reproducible by a
// reference::ThreadPool of the same size.
inline constexpr int kCpuThreads = 2;
inline Context cpu_context() {
  mf_context_options options;
  mf_context_options_init(&options);
  options.backend = MF_BACKEND_CPU;
  options.cpu_threads = kCpuThreads;
  mf_context context = nullptr;
  EXPECT_EQ(mf_context_create(&options, &context), MF_SUCCESS) << mf_last_error();
  return Context(context);
}

// ---- status checks --------------------------------------------------------------------------

// `status` is `expected` and this thread's last error is non-empty and contains `substring`.
inline void expect_status(mf_status status, mf_status expected, std::string_view substring,
                          std::source_location where = std::source_location::current()) {
  const std::string message = mf_last_error();
  const auto at = [&] { return ::testing::Message() << "called from " << where.file_name() << ":" << where.line(); };
  EXPECT_EQ(std::string(mf_status_string(status)), std::string(mf_status_string(expected)))
      << at() << "; message: " << message;
  EXPECT_FALSE(message.empty()) << at();
  EXPECT_NE(message.find(substring), std::string::npos)
      << at() << ": message \"" << message << "\" does not contain \"" << substring << "\"";
}

inline void expect_success(mf_status status, std::source_location where = std::source_location::current()) {
  EXPECT_EQ(status, MF_SUCCESS) << "called from " << where.file_name() << ":" << where.line() << ": "
                                << mf_status_string(status) << ": " << mf_last_error();
}

// ---- plan creation and execution for any operator --------------------------------------

inline mf_status plan_create(mf_context context, const ir::EvoAttention& op, const ir::Direction& direction,
                             mf_plan* plan) {
  const mf_evo_attention_desc desc = to_c(op, direction.gradients);
  return mf_evo_attention_plan_create(context, &desc, to_c(direction.pass), plan);
}
inline mf_status plan_create(mf_context context, const ir::LayerNormLinear& op, const ir::Direction& direction,
                             mf_plan* plan) {
  const mf_layer_norm_linear_desc desc = to_c(op, direction.gradients);
  return mf_layer_norm_linear_plan_create(context, &desc, to_c(direction.pass), plan);
}
inline mf_status plan_create(mf_context context, const ir::Transition& op, const ir::Direction& direction,
                             mf_plan* plan) {
  const mf_transition_desc desc = to_c(op, direction.gradients);
  return mf_transition_plan_create(context, &desc, to_c(direction.pass), plan);
}
inline mf_status plan_create(mf_context context, const ir::Problem& problem, mf_plan* plan) {
  return std::visit([&](const auto& op) { return plan_create(context, op, problem.direction, plan); }, problem.op);
}

// A plan that must be created without error.
inline Plan make_plan(mf_context context, const ir::Problem& problem) {
  mf_plan plan = nullptr;
  expect_success(plan_create(context, problem, &plan));
  return Plan(plan);
}

// Converts to whichever pointer type a field of an argument struct has.
struct AnyPointer {
  void* address;
  template <class T>
  operator T*() const {  // NOLINT: implicit on purpose
    return static_cast<T*>(address);
  }
};

// Host memory for every tensor that a problem's pass touches, by descriptor field name:
// read tensors hold random values, written tensors are poisoned.
class TensorSet {
 public:
  TensorSet(const ir::Problem& problem, std::uint64_t seed) {
    for (const ir::NamedTensor& named : ir::tensor_list(problem)) {
      reference::HostTensor& tensor = tensors_.emplace(std::string(named.name), *named.desc).first->second;
      if (named.access == ir::Access::kWrite) {
        tensor.poison();
        written_.emplace_back(named.name);
      } else if (named.desc->dtype == ir::DType::kBool) {
        tensor.fill_uniform(seed++, 0.0, 0.75);  // keeps three keys in four
      } else {
        tensor.fill_uniform(seed++, -1.0, 1.0);
      }
    }
  }

  // The tensor's data, or NULL when the problem does not have it, unless bind() said
  // otherwise.
  AnyPointer operator[](const std::string& name) {
    if (auto bound = bound_.find(name); bound != bound_.end()) return {bound->second};
    auto found = tensors_.find(name);
    return {found == tensors_.end() ? nullptr : found->second.data()};
  }
  // Passes `address` for the tensor `name` from now on.
  void bind(const std::string& name, void* address) { bound_[name] = address; }
  reference::HostTensor& at(const std::string& name) { return tensors_.at(name); }
  const std::vector<std::string>& written() const { return written_; }

 private:
  std::map<std::string, reference::HostTensor> tensors_;
  std::map<std::string, void*> bound_;
  std::vector<std::string> written_;
};

// The pointers of `tensors` in a C argument struct or in the reference's data struct (the
// two have the same field names).
template <class Pointers>
Pointers pointers(const ir::EvoAttention&, TensorSet& t) {
  Pointers p{};
  p.q = t["q"], p.k = t["k"], p.v = t["v"], p.bias = t["bias"], p.mask = t["mask"], p.o = t["o"], p.lse = t["lse"];
  p.d_o = t["d_o"], p.d_q = t["d_q"], p.d_k = t["d_k"], p.d_v = t["d_v"], p.d_bias = t["d_bias"];
  return p;
}
template <class Pointers>
Pointers pointers(const ir::LayerNormLinear&, TensorSet& t) {
  Pointers p{};
  p.x = t["x"], p.gamma = t["gamma"], p.beta = t["beta"], p.weight = t["weight"], p.bias = t["bias"];
  p.y = t["y"], p.mean = t["mean"], p.rstd = t["rstd"];
  p.d_y = t["d_y"], p.d_x = t["d_x"], p.d_gamma = t["d_gamma"], p.d_beta = t["d_beta"];
  p.d_weight = t["d_weight"], p.d_bias = t["d_bias"];
  return p;
}
template <class Pointers>
Pointers pointers(const ir::Transition&, TensorSet& t) {
  Pointers p{};
  p.x = t["x"], p.gamma = t["gamma"], p.beta = t["beta"], p.w1 = t["w1"], p.w2 = t["w2"];
  p.y = t["y"], p.mean = t["mean"], p.rstd = t["rstd"];
  p.d_y = t["d_y"], p.d_x = t["d_x"], p.d_gamma = t["d_gamma"], p.d_beta = t["d_beta"];
  p.d_w1 = t["d_w1"], p.d_w2 = t["d_w2"];
  return p;
}

inline mf_status execute(mf_context context, mf_plan plan, const ir::EvoAttention& op, TensorSet& tensors) {
  const auto args = pointers<mf_evo_attention_args>(op, tensors);
  return mf_evo_attention_execute(context, plan, &args, nullptr, 0, nullptr);
}
inline mf_status execute(mf_context context, mf_plan plan, const ir::LayerNormLinear& op, TensorSet& tensors) {
  const auto args = pointers<mf_layer_norm_linear_args>(op, tensors);
  return mf_layer_norm_linear_execute(context, plan, &args, nullptr, 0, nullptr);
}
inline mf_status execute(mf_context context, mf_plan plan, const ir::Transition& op, TensorSet& tensors) {
  const auto args = pointers<mf_transition_args>(op, tensors);
  return mf_transition_execute(context, plan, &args, nullptr, 0, nullptr);
}
inline mf_status execute(mf_context context, mf_plan plan, const ir::Problem& problem, TensorSet& tensors) {
  return std::visit([&](const auto& op) { return execute(context, plan, op, tensors); }, problem.op);
}

}  // namespace mf::capi_test
