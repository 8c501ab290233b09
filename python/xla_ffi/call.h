// One operator call as XLA makes it (dense row-major buffers in the user's layout, with any
// leading batch dimensions that jax.vmap added) turned into mfjit C descriptors, and run
// through plans cached per problem. Depends on the public C API only.
#pragma once

#include <mfjit/mfjit.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>

#include "mfjit_jax.h"

namespace mfjit_jax {

inline constexpr int kMaxFields = 14;
inline constexpr int kMaxBufferRank = 16;  // an operator's rank plus the batch dimensions of nested vmaps

enum class Op : int32_t { kEvoAttention = 0, kLayerNormLinear = 1, kTransition = 2 };

// A failure with the C API's status; what the handlers and mfjit_jax_prepare report.
struct Failure : std::runtime_error {
  Failure(mf_status s, const std::string& message) : std::runtime_error(message), status(s) {}
  mf_status status;
};

// One tensor of a call: dense and row-major, as XLA holds it.
struct Buffer {
  mf_dtype dtype = MF_DTYPE_NONE;
  int32_t rank = 0;
  int64_t dims[kMaxBufferRank] = {};
  char* data = nullptr;
  bool present() const { return dtype != MF_DTYPE_NONE; }
};

// What a tensor of the operator's descriptor is in a pass.
enum class Role { kAbsent, kInput, kOutput, kDescribed };  // kDescribed: y of a backward, described by d_y

int field_count(Op op);
const char* field_name(Op op, int field);
Role field_role(Op op, int32_t direction, int field);

// The C descriptor of one call of any operator.
struct Descriptor {
  Op op = Op::kEvoAttention;
  int32_t direction = MF_FORWARD;
  std::variant<mf_evo_attention_desc, mf_layer_norm_linear_desc, mf_transition_desc> desc;
  std::string key() const;  // identifies the problem: the descriptor's bytes
};

// A call split into executions of one descriptor: a single one when the batch dimensions
// of vmap fold into the operator's B (or M), else one per batch element.
struct Call {
  Descriptor descriptor;
  int64_t executions = 1;
  // Byte offset of each field's data for execution e: the sum over batch dimensions i of
  // index_i(e) * stride[field][i].
  int32_t batch_rank = 0;
  int64_t batch_sizes[kMaxBufferRank] = {};
  int64_t batch_strides[kMaxFields][kMaxBufferRank] = {};
  std::ptrdiff_t offset(int field, int64_t execution) const;
};

// The calls for these buffers (every field of the operator, absent ones with MF_DTYPE_NONE):
// `folded` the single execution over the folded batch, when the strides allow it;
// `per_element` the executions of one batch element each. Throws Failure on bad input.
struct Calls {
  std::optional<Call> folded;
  Call per_element;
};
Calls make_calls(const mfjit_jax_attributes& attributes, const Buffer* buffers);

// A cached plan. Executions of one plan take its mutex (the C API forbids running a plan
// concurrently with itself).
struct CachedPlan {
  CachedPlan(mf_plan p, size_t w, mf_context c, mf_backend b, int32_t d)
      : plan(p), workspace(w), context(c), backend(b), device(d) {}
  ~CachedPlan();
  CachedPlan(const CachedPlan&) = delete;
  CachedPlan& operator=(const CachedPlan&) = delete;
  mf_plan plan;
  size_t workspace;
  mf_context context;
  mf_backend backend;
  int32_t device;
  std::mutex mutex;
};

// The process's plan for a descriptor on (backend, device), made on first use.
std::shared_ptr<CachedPlan> plan_for(mf_backend backend, int32_t device, const Descriptor& descriptor);
std::string describe_plans();
void forget_plans();

// Runs the call's executions of `plan` with the given field pointers (null for absent
// fields), workspace and stream. Throws Failure.
void execute(const Call& call, CachedPlan& plan, char* const* data, void* workspace, size_t workspace_size,
             void* stream);

// The message of a failed C API call: "<function>: <status name>: <mf_last_error()>".
[[noreturn]] void fail_from_library(const char* function, mf_status status);

}  // namespace mfjit_jax
