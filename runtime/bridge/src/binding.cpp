#include "mf/bridge/binding.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <type_traits>
#include <stdexcept>
#include <vector>

#include "mf/bridge/capi.h"
#include "mf/ir/tensor_list.h"
#include "mf/reference/reference.h"
#include "mf/reference/thread_pool.h"

namespace mf::bridge {
namespace {

void check(mf_status status, const char* call) {
  if (status != MF_SUCCESS)
    throw CapiError(status, fmt::format("{}: {}: {}", call, mf_status_string(status), mf_last_error()));
}

// The bound host tensors by name, as bridge::execute looks them up.
struct HostPointers {
  BoundProblem& bound;
  bridge::AnyPointer operator[](std::string_view name) const {
    auto found = bound.tensors.find(name);
    return {found == bound.tensors.end() ? nullptr : found->second.data()};
  }
};

ir::TensorDesc promoted(ir::TensorDesc desc) {
  if (desc.dtype == ir::DType::kF16 || desc.dtype == ir::DType::kBF16 || desc.dtype == ir::DType::kF32)
    desc.dtype = ir::DType::kF64;
  return desc;
}

// Every floating tensor of the operator in f64, except the f32 statistics the IR fixes.
void promote(ir::EvoAttention& op) {
  for (auto* t : {&op.q, &op.k, &op.v, &op.o}) *t = promoted(*t);
  for (auto* t : {&op.bias, &op.d_o, &op.d_q, &op.d_k, &op.d_v, &op.d_bias})
    if (*t) **t = promoted(**t);
  if (op.mask && op.mask_kind == ir::MaskKind::kAdditive) *op.mask = promoted(*op.mask);
}

void promote(ir::LayerNormLinear& op) {
  for (auto* t : {&op.x, &op.gamma, &op.weight, &op.y}) *t = promoted(*t);
  for (auto* t : {&op.beta, &op.bias, &op.d_y, &op.d_x, &op.d_gamma, &op.d_beta, &op.d_weight, &op.d_bias})
    if (*t) **t = promoted(**t);
}

void promote(ir::Transition& op) {
  for (auto* t : {&op.x, &op.w1, &op.w2, &op.y}) *t = promoted(*t);
  for (auto* t : {&op.gamma, &op.beta, &op.d_y, &op.d_x, &op.d_gamma, &op.d_beta, &op.d_w1, &op.d_w2})
    if (*t) **t = promoted(**t);
}

}  // namespace

BoundProblem bind_random(const ir::Problem& problem, std::uint64_t seed) {
  BoundProblem bound{problem, {}};
  for (const ir::NamedTensor& tensor : ir::tensor_list(bound.problem)) {
    reference::HostTensor host(*tensor.desc);
    if (tensor.access == ir::Access::kWrite)
      host.poison();
    else if (tensor.desc->dtype == ir::DType::kBool)
      host.fill_uniform(seed++, 0.0, 0.9);  // keep 90% of the keys
    else
      host.fill_uniform(seed++, -1.0, 1.0);
    bound.tensors.emplace(std::string(tensor.name), std::move(host));
  }
  return bound;
}

BoundProblem promoted_to_f64(const BoundProblem& bound) {
  BoundProblem result{bound.problem, {}};
  std::visit([](auto& op) { promote(op); }, result.problem.op);
  for (const ir::NamedTensor& tensor : ir::tensor_list(result.problem)) {
    const reference::HostTensor& source = bound.tensors.at(std::string(tensor.name));
    reference::HostTensor copy(*tensor.desc);
    if (tensor.access == ir::Access::kWrite) {
      copy.poison();
    } else {
      // Same logical values, walked in row-major order over the shared shape.
      std::vector<double> values = source.values();
      std::vector<std::int64_t> index(tensor.desc->shape.size(), 0);
      for (double value : values) {
        copy.set(index, value);
        for (int d = static_cast<int>(index.size()) - 1; d >= 0 && ++index[d] == tensor.desc->shape[d]; --d)
          index[d] = 0;
      }
    }
    result.tensors.emplace(std::string(tensor.name), std::move(copy));
  }
  return result;
}

double run_through_c_api(mf_context context, BoundProblem& bound, int repeats) {
  mf_plan plan = nullptr;
  check(bridge::plan_create(context, bound.problem, &plan), "plan create");
  HostPointers pointers{bound};
  std::size_t workspace_bytes = 0;
  mf_status status = mf_plan_workspace_size(plan, &workspace_bytes);
  // Host memory, as the host pointers: max_align_t elements are 16-byte aligned.
  std::vector<std::max_align_t> workspace((workspace_bytes + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t));
  std::vector<double> times;
  for (int i = 0; i < repeats && status == MF_SUCCESS; ++i) {
    const auto start = std::chrono::steady_clock::now();
    status = bridge::execute(context, plan, bound.problem, pointers, workspace.data(), workspace_bytes, nullptr);
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  mf_plan_destroy(plan);
  check(status, "execute");
  std::nth_element(times.begin(), times.begin() + static_cast<long>(times.size() / 2), times.end());
  return times[times.size() / 2];
}

void run_reference(BoundProblem& bound) {
  static reference::ThreadPool pool(0);  // shared by every caller; calls are serialised
  HostPointers host{bound};
  std::visit(
      [&](const auto& op) {
        using Op = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<Op, ir::EvoAttention>) {
          reference::run(op, bound.problem.direction, pointers<reference::EvoAttentionData>(op, host), pool);
        } else if constexpr (std::is_same_v<Op, ir::LayerNormLinear>) {
          reference::run(op, bound.problem.direction, pointers<reference::LayerNormLinearData>(op, host), pool);
        } else {
          reference::run(op, bound.problem.direction, pointers<reference::TransitionData>(op, host), pool);
        }
      },
      bound.problem.op);
}

}  // namespace mf::bridge
