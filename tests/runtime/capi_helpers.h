// Helpers of the C API tests (IR values as C descriptors come from mf::bridge): owned handles, status checks, and
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

#include "mf/bridge/capi.h"
#include "mf/ir/problem.h"
#include "mf/ir/tensor_list.h"
#include "mf/reference/host_tensor.h"
#include "mf/reference/reference.h"
#include "mfjit/mfjit.h"

namespace mf::capi_test {

using bridge::AnyPointer;
using bridge::execute;
using bridge::plan_create;
using bridge::pointers;
using bridge::to_c;

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

// ---- plans and tensors ----------------------------------------------------------------------

// A plan that must be created without error.
inline Plan make_plan(mf_context context, const ir::Problem& problem) {
  mf_plan plan = nullptr;
  expect_success(plan_create(context, problem, &plan));
  return Plan(plan);
}

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

}  // namespace mf::capi_test
