#include "capi_binding.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <vector>

#include "mf/ir/tensor_list.h"

namespace mf::tools {
namespace {

mf_dtype to_c(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::kBool: return MF_DTYPE_BOOL;
    case ir::DType::kF16: return MF_DTYPE_F16;
    case ir::DType::kBF16: return MF_DTYPE_BF16;
    case ir::DType::kF32: return MF_DTYPE_F32;
    case ir::DType::kF64: return MF_DTYPE_F64;
  }
  throw std::logic_error("unknown dtype");
}

mf_tensor_desc to_c(const ir::TensorDesc& desc) {
  mf_tensor_desc result{};
  result.dtype = to_c(desc.dtype);
  result.rank = desc.rank();
  std::copy(desc.shape.begin(), desc.shape.end(), result.shape);
  std::copy(desc.strides.begin(), desc.strides.end(), result.strides);
  return result;
}

void check(mf_status status, const char* call) {
  if (status != MF_SUCCESS)
    throw std::runtime_error(fmt::format("{}: {}: {}", call, mf_status_string(status), mf_last_error()));
}

// The C descriptor and argument fields of one named tensor.
template <typename Desc, typename Args>
struct Field {
  std::string_view name;
  mf_tensor_desc Desc::*desc;
  std::function<void(Args&, void*)> bind;
};

#define MF_FIELD(Desc, Args, member) \
  Field<Desc, Args> { #member, &Desc::member, [](Args& a, void* p) { a.member = static_cast<decltype(a.member)>(p); } }

template <typename Desc, typename Args>
void fill(const std::vector<Field<Desc, Args>>& fields, BoundProblem& bound, Desc& desc, Args& args) {
  for (const ir::NamedTensor& tensor : ir::tensor_list(bound.problem)) {
    auto field = std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.name == tensor.name; });
    if (field == fields.end()) throw std::logic_error(fmt::format("no C field for {}", tensor.name));
    desc.*(field->desc) = to_c(*tensor.desc);
    field->bind(args, bound.tensors.at(std::string(tensor.name)).data());
  }
}

using EvoField = Field<mf_evo_attention_desc, mf_evo_attention_args>;
using LnlField = Field<mf_layer_norm_linear_desc, mf_layer_norm_linear_args>;
using TransitionField = Field<mf_transition_desc, mf_transition_args>;

const std::vector<EvoField>& evo_fields() {
  using D = mf_evo_attention_desc;
  using A = mf_evo_attention_args;
  static const std::vector<EvoField> fields = {
      MF_FIELD(D, A, q),   MF_FIELD(D, A, k),   MF_FIELD(D, A, v),   MF_FIELD(D, A, bias),
      MF_FIELD(D, A, mask), MF_FIELD(D, A, o),  MF_FIELD(D, A, lse), MF_FIELD(D, A, d_o),
      MF_FIELD(D, A, d_q), MF_FIELD(D, A, d_k), MF_FIELD(D, A, d_v), MF_FIELD(D, A, d_bias)};
  return fields;
}

const std::vector<LnlField>& lnl_fields() {
  using D = mf_layer_norm_linear_desc;
  using A = mf_layer_norm_linear_args;
  static const std::vector<LnlField> fields = {
      MF_FIELD(D, A, x),       MF_FIELD(D, A, gamma),   MF_FIELD(D, A, beta),   MF_FIELD(D, A, weight),
      MF_FIELD(D, A, bias),    MF_FIELD(D, A, y),       MF_FIELD(D, A, mean),   MF_FIELD(D, A, rstd),
      MF_FIELD(D, A, d_y),     MF_FIELD(D, A, d_x),     MF_FIELD(D, A, d_gamma), MF_FIELD(D, A, d_beta),
      MF_FIELD(D, A, d_weight), MF_FIELD(D, A, d_bias)};
  return fields;
}

const std::vector<TransitionField>& transition_fields() {
  using D = mf_transition_desc;
  using A = mf_transition_args;
  static const std::vector<TransitionField> fields = {
      MF_FIELD(D, A, x),     MF_FIELD(D, A, gamma), MF_FIELD(D, A, beta),    MF_FIELD(D, A, w1),
      MF_FIELD(D, A, w2),    MF_FIELD(D, A, y),     MF_FIELD(D, A, mean),    MF_FIELD(D, A, rstd),
      MF_FIELD(D, A, d_y),   MF_FIELD(D, A, d_x),   MF_FIELD(D, A, d_gamma), MF_FIELD(D, A, d_beta),
      MF_FIELD(D, A, d_w1),  MF_FIELD(D, A, d_w2)};
  return fields;
}

#undef MF_FIELD

mf_direction to_c(ir::Pass pass) { return pass == ir::Pass::kForward ? MF_FORWARD : MF_BACKWARD; }

// Plans, runs `repeats` times and returns the median milliseconds.
template <typename Desc, typename Args, typename Create, typename Execute>
double time_plan(mf_context context, const Desc& desc, const Args& args, ir::Pass pass, int repeats, Create create,
                 Execute execute) {
  mf_plan plan = nullptr;
  check(create(context, &desc, to_c(pass), &plan), "plan create");
  std::vector<double> times;
  mf_status status = MF_SUCCESS;
  for (int i = 0; i < repeats && status == MF_SUCCESS; ++i) {
    auto start = std::chrono::steady_clock::now();
    status = execute(context, plan, &args, nullptr, 0, nullptr);
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  mf_plan_destroy(plan);
  check(status, "execute");
  std::nth_element(times.begin(), times.begin() + static_cast<long>(times.size() / 2), times.end());
  return times[times.size() / 2];
}

double run(mf_context context, BoundProblem& bound, const ir::EvoAttention& op, int repeats) {
  mf_evo_attention_desc desc{};
  mf_evo_attention_args args{};
  fill(evo_fields(), bound, desc, args);
  desc.mask_kind = static_cast<mf_mask_kind>(op.mask_kind);
  desc.scale = op.scale;
  desc.gradients = bound.problem.direction.gradients;
  desc.dbias_mode = static_cast<mf_dbias_mode>(op.dbias_mode);
  return time_plan(context, desc, args, bound.problem.direction.pass, repeats, mf_evo_attention_plan_create,
                   mf_evo_attention_execute);
}

double run(mf_context context, BoundProblem& bound, const ir::LayerNormLinear& op, int repeats) {
  mf_layer_norm_linear_desc desc{};
  mf_layer_norm_linear_args args{};
  fill(lnl_fields(), bound, desc, args);
  desc.eps = op.eps;
  desc.gradients = bound.problem.direction.gradients;
  return time_plan(context, desc, args, bound.problem.direction.pass, repeats, mf_layer_norm_linear_plan_create,
                   mf_layer_norm_linear_execute);
}

double run(mf_context context, BoundProblem& bound, const ir::Transition& op, int repeats) {
  mf_transition_desc desc{};
  mf_transition_args args{};
  fill(transition_fields(), bound, desc, args);
  desc.eps = op.eps;
  desc.gradients = bound.problem.direction.gradients;
  return time_plan(context, desc, args, bound.problem.direction.pass, repeats, mf_transition_plan_create,
                   mf_transition_execute);
}

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
  return std::visit([&](const auto& op) { return run(context, bound, op, repeats); }, bound.problem.op);
}

}  // namespace mf::tools
