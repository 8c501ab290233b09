#include "mf/ir/problem_key.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "enum_names.h"
#include "mf/ir/tensor_list.h"
#include "mf/ir/validate.h"

// The format is specified in docs/problem-key.md; a change to what this file emits is a
// change of format version (kVersion) and of the golden tests.
namespace mf::ir {
namespace {

constexpr std::string_view kVersion = "v1";
constexpr std::int64_t kAlignmentCap = 16;  // bytes: the widest vector load the generators use
constexpr std::int64_t kMinSeqBucket = 16;

struct Item {
  std::string name;
  std::string value;
  bool size_bucket = false;  // left out of the family
};

using Items = std::vector<Item>;

// ---- stride class --------------------------------------------------------------------------

// A dimension that addressing actually walks: more than one element and a nonzero stride.
// The strides of the other dimensions never matter, so they never reach the key.
bool is_live(const TensorDesc& desc, int dim) { return !desc.is_broadcast_dim(dim); }

// "u<d>": the innermost live dimension with stride 1, "u-" when none has.
std::string unit_stride_token(const TensorDesc& desc) {
  for (int d = desc.rank() - 1; d >= 0; --d)
    if (is_live(desc, d) && desc.strides[d] == 1) return fmt::format("u{}", d);
  return "u-";
}

// "t<ij>.<kl>": pairs of live dimensions i < j whose memory order is the reverse of their
// logical order (stride[i] < stride[j]), i.e. views transposed by strides. Empty when the
// live dimensions are in row-major order.
std::string transposition_token(const TensorDesc& desc) {
  std::vector<std::string> pairs;
  for (int i = 0; i < desc.rank(); ++i)
    for (int j = i + 1; j < desc.rank(); ++j)
      if (is_live(desc, i) && is_live(desc, j) && desc.strides[i] < desc.strides[j])
        pairs.push_back(fmt::format("{}{}", i, j));
  if (pairs.empty()) return {};
  std::string token = "t";
  for (std::size_t p = 0; p < pairs.size(); ++p) token += (p == 0 ? "" : ".") + pairs[p];
  return token;
}

// "a<n>": the largest power of two n ≤ 16 that divides the byte stride of every live
// dimension whose stride is not 1 (whether 16-byte vector loads can step along them).
std::string alignment_token(const TensorDesc& desc) {
  const auto element = static_cast<std::int64_t>(size_of(desc.dtype));
  std::int64_t alignment = kAlignmentCap;
  for (int d = 0; d < desc.rank(); ++d)
    if (is_live(desc, d) && desc.strides[d] != 1)
      while ((desc.strides[d] * element) % alignment != 0) alignment /= 2;
  return fmt::format("a{}", alignment);
}

std::string stride_class(const TensorDesc& desc) {
  std::string text = unit_stride_token(desc);
  if (std::string transposed = transposition_token(desc); !transposed.empty()) text += ":" + transposed;
  return text + ":" + alignment_token(desc);
}

// One item per tensor the pass touches: "q=bf16:u4:a16".
void add_tensor_items(const Problem& problem, Items& items) {
  for (const NamedTensor& tensor : tensor_list(problem))
    items.push_back(
        {std::string(tensor.name), fmt::format("{}:{}", name_of(tensor.desc->dtype), stride_class(*tensor.desc))});
}

// ---- direction ------------------------------------------------------------------------------

// "fwd", or "bwd:" and the primals whose gradients the pass writes ("bwd:q,k,bias"), read
// off the written tensors (d_q -> q) so the key needs no table of gradient bits.
std::string pass_value(const Problem& problem) {
  if (problem.direction.pass == Pass::kForward) return "fwd";
  std::vector<std::string_view> primals;
  for (const NamedTensor& tensor : tensor_list(problem))
    if (tensor.access == Access::kWrite) primals.push_back(tensor.name.substr(2));
  std::string text = "bwd:";
  for (std::size_t i = 0; i < primals.size(); ++i) text += std::string(i == 0 ? "" : ",") + std::string(primals[i]);
  return text;
}

// ---- sizes ------------------------------------------------------------------------------------

// Validated sizes are below 2^62 (every written tensor's bytes fit int64), so this never
// leaves uint64.
std::uint64_t power_of_two_bucket(std::int64_t value, std::int64_t minimum) {
  return std::bit_ceil(static_cast<std::uint64_t>(std::max(value, minimum)));
}

Item bucket_item(std::string_view name, std::int64_t value, std::int64_t minimum) {
  return {fmt::format("bucket_{}", name), fmt::format("{}", power_of_two_bucket(value, minimum)), true};
}

Item size_item(std::string_view name, std::int64_t value) {
  return {fmt::format("dim_{}", name), fmt::format("{}", value)};
}

// ---- operators --------------------------------------------------------------------------------

// Per dimension of a bias or mask: 'b' when it is broadcast (size 1 or stride 0) over a
// logits dimension longer than 1, 'f' otherwise. A dimension whose logits extent is 1
// broadcasts nothing, so B = 1 and B = 2 problems share a family.
std::string broadcast_pattern(const TensorDesc& desc, const std::vector<std::int64_t>& logits) {
  std::string pattern;
  for (int d = 0; d < desc.rank(); ++d) pattern += desc.is_broadcast_dim(d) && logits[d] > 1 ? 'b' : 'f';
  return pattern;
}

void add_operator_items(const EvoAttention& op, const Direction& direction, Items& items) {
  const std::vector<std::int64_t> logits = {op.batch(), op.rows(), op.heads(), op.seq_len(), op.seq_len()};
  items.push_back(size_item("d", op.head_dim()));
  items.push_back({"mask_kind", std::string(detail::enum_name(op.mask_kind))});
  if (op.bias) items.push_back({"bias_bcast", broadcast_pattern(*op.bias, logits)});
  if (op.mask) items.push_back({"mask_bcast", broadcast_pattern(*op.mask, logits)});
  // The mode only changes the kernel that reduces the bias gradient.
  if (direction.wants(EvoAttention::kGradBias)) {
    items.push_back({"dbias", std::string(detail::enum_name(op.dbias_mode))});
    // The gradient is summed over its own broadcast dimensions, which differ from the bias's
    // when a stride-0 bias gets a full-size gradient (rare: named only then).
    const std::string reduction = broadcast_pattern(*op.d_bias, logits);
    if (reduction != broadcast_pattern(*op.bias, logits)) items.push_back({"dbias_bcast", reduction});
  }
}

void add_bucket_items(const EvoAttention& op, Items& items) {
  items.push_back(bucket_item("n", op.seq_len(), kMinSeqBucket));
  items.push_back(bucket_item("bsh", op.batch() * op.rows() * op.heads(), 1));
}

void add_operator_items(const LayerNormLinear& op, const Direction&, Items& items) {
  items.push_back(size_item("k", op.in_features()));
  items.push_back(size_item("n", op.out_features()));
}

void add_bucket_items(const LayerNormLinear& op, Items& items) { items.push_back(bucket_item("m", op.rows(), 1)); }

void add_operator_items(const Transition& op, const Direction&, Items& items) {
  items.push_back({"layer_norm", op.has_layer_norm() ? "on" : "off"});
  items.push_back(size_item("d", op.dim()));
  items.push_back(size_item("f", op.hidden()));
}

void add_bucket_items(const Transition& op, Items& items) { items.push_back(bucket_item("m", op.rows(), 1)); }

Items key_items(const Problem& problem) {
  validate(problem);
  Items items = {{"op", std::string(op_name(problem.op))}, {"pass", pass_value(problem)}};
  std::visit([&](const auto& op) { add_operator_items(op, problem.direction, items); }, problem.op);
  add_tensor_items(problem, items);
  std::visit([&](const auto& op) { add_bucket_items(op, items); }, problem.op);
  return items;
}

std::string join(const Items& items, bool with_size_bucket) {
  std::string key(kVersion);
  for (const Item& item : items)
    if (with_size_bucket || !item.size_bucket) key += fmt::format(";{}={}", item.name, item.value);
  return key;
}

}  // namespace

std::string problem_key(const Problem& problem) { return join(key_items(problem), /*with_size_bucket=*/true); }

std::string key_family(const Problem& problem) { return join(key_items(problem), /*with_size_bucket=*/false); }

}  // namespace mf::ir
