#include "mf/ir/tensor_list.h"

namespace mf::ir {
namespace {

class ListBuilder {
 public:
  explicit ListBuilder(Pass pass) : pass_(pass) {}

  // A primal input: read by both passes.
  void input(std::string_view name, const TensorDesc& desc) { add(name, &desc, Access::kRead); }
  void input(std::string_view name, const std::optional<TensorDesc>& desc) {
    if (desc) input(name, *desc);
  }
  // Written by the forward, read by the backward.
  void saved(std::string_view name, const TensorDesc& desc) {
    add(name, &desc, pass_ == Pass::kForward ? Access::kWrite : Access::kRead);
  }
  void saved(std::string_view name, const std::optional<TensorDesc>& desc) {
    if (desc) saved(name, *desc);
  }
  // Read or written by the backward only.
  void backward(std::string_view name, const std::optional<TensorDesc>& desc, Access access) {
    if (pass_ == Pass::kBackward && desc) add(name, &*desc, access);
  }

  std::vector<NamedTensor> take() { return std::move(list_); }

 private:
  void add(std::string_view name, const TensorDesc* desc, Access access) { list_.push_back({name, desc, access}); }

  Pass pass_;
  std::vector<NamedTensor> list_;
};

void describe(const EvoAttention& op, ListBuilder& list) {
  list.input("q", op.q);
  list.input("k", op.k);
  list.input("v", op.v);
  list.input("bias", op.bias);
  list.input("mask", op.mask);
  list.saved("o", op.o);
  list.saved("lse", op.lse);
  list.backward("d_o", op.d_o, Access::kRead);
  list.backward("d_q", op.d_q, Access::kWrite);
  list.backward("d_k", op.d_k, Access::kWrite);
  list.backward("d_v", op.d_v, Access::kWrite);
  list.backward("d_bias", op.d_bias, Access::kWrite);
}

void describe(const LayerNormLinear& op, ListBuilder& list) {
  list.input("x", op.x);
  list.input("gamma", op.gamma);
  list.input("beta", op.beta);
  list.input("weight", op.weight);
  list.input("bias", op.bias);
  list.saved("y", op.y);
  list.saved("mean", op.mean);
  list.saved("rstd", op.rstd);
  list.backward("d_y", op.d_y, Access::kRead);
  list.backward("d_x", op.d_x, Access::kWrite);
  list.backward("d_gamma", op.d_gamma, Access::kWrite);
  list.backward("d_beta", op.d_beta, Access::kWrite);
  list.backward("d_weight", op.d_weight, Access::kWrite);
  list.backward("d_bias", op.d_bias, Access::kWrite);
}

void describe(const Transition& op, ListBuilder& list) {
  list.input("x", op.x);
  list.input("gamma", op.gamma);
  list.input("beta", op.beta);
  list.input("w1", op.w1);
  list.input("w2", op.w2);
  list.saved("y", op.y);
  list.saved("mean", op.mean);
  list.saved("rstd", op.rstd);
  list.backward("d_y", op.d_y, Access::kRead);
  list.backward("d_x", op.d_x, Access::kWrite);
  list.backward("d_gamma", op.d_gamma, Access::kWrite);
  list.backward("d_beta", op.d_beta, Access::kWrite);
  list.backward("d_w1", op.d_w1, Access::kWrite);
  list.backward("d_w2", op.d_w2, Access::kWrite);
}

}  // namespace

std::vector<NamedTensor> tensor_list(const Problem& problem) {
  ListBuilder list(problem.direction.pass);
  std::visit([&](const auto& op) { describe(op, list); }, problem.op);
  return list.take();
}

}  // namespace mf::ir
