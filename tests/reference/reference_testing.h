// Shared helpers of the reference tests: a HostTensor for every tensor of a problem
// (inputs random, outputs poisoned), finite differences, tolerances.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "mf/ir/tensor_list.h"
#include "mf/reference/host_tensor.h"
#include "mf/reference/reference.h"

namespace mf::reference::testing {

using reference::tolerance;  // callers spell it testing::tolerance

// Calls visit(index) for every index of `shape`, in row-major order.
inline void for_each_index(const std::vector<std::int64_t>& shape,
                           const std::function<void(const std::vector<std::int64_t>&)>& visit) {
  for (std::int64_t extent : shape)
    if (extent == 0) return;
  std::vector<std::int64_t> index(shape.size(), 0);
  for (;;) {
    visit(index);
    int d = static_cast<int>(shape.size()) - 1;
    while (d >= 0 && ++index[d] == shape[d]) index[d--] = 0;
    if (d < 0) return;
  }
}

// `index` into a tensor of `shape` that broadcasts: size-1 dimensions read index 0.
inline std::vector<std::int64_t> broadcast_index(const std::vector<std::int64_t>& shape,
                                                 std::vector<std::int64_t> index) {
  for (std::size_t d = 0; d < shape.size(); ++d)
    if (shape[d] == 1) index[d] = 0;
  return index;
}

// The names of the tensors that `pass` of `op` writes, as ir::tensor_list says.
inline std::set<std::string, std::less<>> written_by(const ir::Operator& op, ir::Pass pass) {
  const ir::Direction direction = pass == ir::Pass::kForward ? ir::Direction::forward() : ir::Direction::backward(0);
  std::set<std::string, std::less<>> names;
  for (const ir::NamedTensor& tensor : ir::tensor_list(ir::Problem{op, direction}))
    if (tensor.access == ir::Access::kWrite) names.emplace(tensor.name);
  return names;
}

// One HostTensor per present tensor of a problem: inputs (and d_o / d_y) random, every
// tensor that either pass writes poisoned.
class ProblemTensors {
 public:
  ProblemTensors(const ir::Operator& op, std::uint64_t seed)
      : forward_writes_(written_by(op, ir::Pass::kForward)), backward_writes_(written_by(op, ir::Pass::kBackward)) {
    const ir::Problem problem{op, ir::Direction::backward(0)};  // lists every present tensor
    std::uint64_t stream = seed;
    for (const ir::NamedTensor& tensor : ir::tensor_list(problem)) {
      HostTensor& host = tensors_.emplace(std::string(tensor.name), HostTensor(*tensor.desc)).first->second;
      if (is_written_by(tensor.name, ir::Pass::kForward) || is_written_by(tensor.name, ir::Pass::kBackward))
        host.poison();
      else if (tensor.name == "mask" && host.desc().dtype == ir::DType::kBool)
        host.fill_uniform(++stream * 7919, 0.0, 0.8);  // keeps 80% of the keys
      else if (tensor.name == "mask")
        host.fill_uniform(++stream * 7919, -2.0, 1.0);
      else
        host.fill_uniform(++stream * 7919, -1.0, 1.0);
    }
  }

  bool has(std::string_view name) const { return tensors_.count(std::string(name)) != 0; }
  HostTensor& operator[](std::string_view name) {
    auto it = tensors_.find(std::string(name));
    if (it == tensors_.end()) throw std::out_of_range("no tensor " + std::string(name));
    return it->second;
  }
  void* ptr(std::string_view name) { return has(name) ? (*this)[name].data() : nullptr; }
  float* f32(std::string_view name) { return static_cast<float*>(ptr(name)); }

  bool is_written_by(std::string_view name, ir::Pass pass) const {
    return (pass == ir::Pass::kForward ? forward_writes_ : backward_writes_).contains(name);
  }

  void poison_written(ir::Pass pass) {
    for (auto& [name, tensor] : tensors_)
      if (is_written_by(name, pass)) tensor.poison();
  }

 private:
  std::set<std::string, std::less<>> forward_writes_, backward_writes_;
  std::map<std::string, HostTensor> tensors_;
};

inline EvoAttentionData evo_data(ProblemTensors& t) {
  EvoAttentionData data;
  data.q = t.ptr("q"), data.k = t.ptr("k"), data.v = t.ptr("v"), data.bias = t.ptr("bias");
  data.mask = t.ptr("mask"), data.o = t.ptr("o"), data.lse = t.f32("lse"), data.d_o = t.ptr("d_o");
  data.d_q = t.ptr("d_q"), data.d_k = t.ptr("d_k"), data.d_v = t.ptr("d_v"), data.d_bias = t.ptr("d_bias");
  return data;
}

inline LayerNormLinearData layer_norm_linear_data(ProblemTensors& t) {
  LayerNormLinearData data;
  data.x = t.ptr("x"), data.gamma = t.ptr("gamma"), data.beta = t.ptr("beta"), data.weight = t.ptr("weight");
  data.bias = t.ptr("bias"), data.y = t.ptr("y"), data.mean = t.f32("mean"), data.rstd = t.f32("rstd");
  data.d_y = t.ptr("d_y"), data.d_x = t.ptr("d_x"), data.d_gamma = t.ptr("d_gamma"), data.d_beta = t.ptr("d_beta");
  data.d_weight = t.ptr("d_weight"), data.d_bias = t.ptr("d_bias");
  return data;
}

inline TransitionData transition_data(ProblemTensors& t) {
  TransitionData data;
  data.x = t.ptr("x"), data.gamma = t.ptr("gamma"), data.beta = t.ptr("beta"), data.w1 = t.ptr("w1");
  data.w2 = t.ptr("w2"), data.y = t.ptr("y"), data.mean = t.f32("mean"), data.rstd = t.f32("rstd");
  data.d_y = t.ptr("d_y"), data.d_x = t.ptr("d_x"), data.d_gamma = t.ptr("d_gamma"), data.d_beta = t.ptr("d_beta");
  data.d_w1 = t.ptr("d_w1"), data.d_w2 = t.ptr("d_w2");
  return data;
}

inline void run_pass(const ir::Operator& op, ir::Direction direction, ProblemTensors& t, ThreadPool& pool) {
  std::visit(
      [&](const auto& concrete) {
        using Op = std::decay_t<decltype(concrete)>;
        if constexpr (std::is_same_v<Op, ir::EvoAttention>) run(concrete, direction, evo_data(t), pool);
        if constexpr (std::is_same_v<Op, ir::LayerNormLinear>) run(concrete, direction, layer_norm_linear_data(t), pool);
        if constexpr (std::is_same_v<Op, ir::Transition>) run(concrete, direction, transition_data(t), pool);
      },
      op);
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

// Central differences (loss(x + h) − loss(x − h)) / 2h for every logical element of
// `input`, in row-major order.
inline std::vector<double> finite_differences(HostTensor& input, const std::function<double()>& loss,
                                              double h = 1e-6) {
  std::vector<double> gradient;
  for_each_index(input.desc().shape, [&](const std::vector<std::int64_t>& index) {
    const double value = input.get(index);
    input.set(index, value + h);
    const double above = loss();
    input.set(index, value - h);
    const double below = loss();
    input.set(index, value);
    gradient.push_back((above - below) / (2 * h));
  });
  return gradient;
}

// Checks every gradient the operator has against central differences of
// loss = Σ out ⊙ R, with R the random d_o / d_y. f64 problems only.
inline void expect_gradients_match_finite_differences(const ir::Operator& op, std::string_view output,
                                                      std::string_view output_gradient, std::uint64_t seed,
                                                      const std::function<void(ProblemTensors&)>& prepare = {}) {
  ProblemTensors t(op, seed);
  if (prepare) prepare(t);
  ThreadPool pool(2);
  const std::uint32_t all = std::visit([](const auto& concrete) { return concrete.all_gradients(); }, op);
  run_pass(op, ir::Direction::backward(all), t, pool);

  const std::vector<double> weights = t[output_gradient].values();
  auto loss = [&] {
    run_pass(op, ir::Direction::forward(), t, pool);
    return dot(t[output].values(), weights);
  };
  const ir::Problem problem{op, ir::Direction::backward(all)};
  for (const ir::NamedTensor& tensor : ir::tensor_list(problem)) {
    const std::string name(tensor.name);
    if (!name.starts_with("d_") || name == output_gradient) continue;
    const std::string primal = name.substr(2);
    const std::vector<double> expected = finite_differences(t[primal], loss);
    EXPECT_LT(relative_error(t[name].values(), expected), 1e-6) << name;
  }
}

// Every logical element is NaN: the poison of an output nobody wrote.
inline bool still_poisoned(const HostTensor& tensor) {
  for (double value : tensor.values())
    if (!std::isnan(value)) return false;
  return true;
}

inline bool has_non_finite(const HostTensor& tensor) {
  for (double value : tensor.values())
    if (!std::isfinite(value)) return true;
  return false;
}

inline bool bitwise_equal(const HostTensor& a, const HostTensor& b) {
  return a.bytes() == b.bytes() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

}  // namespace mf::reference::testing
