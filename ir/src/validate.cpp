#include "mf/ir/validate.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "enum_names.h"
#include "mf/ir/error.h"
#include "mf/ir/tensor_list.h"

namespace mf::ir {
namespace {

using Shape = std::vector<std::int64_t>;

constexpr std::int64_t kMaxHeadDim = 256;
constexpr std::initializer_list<DType> kFloatingDTypes = {DType::kF16, DType::kBF16, DType::kF32, DType::kF64};

std::string shape_text(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// ---- one tensor on its own -------------------------------------------------------------

bool is_known_dtype(DType dtype) { return static_cast<unsigned>(dtype) <= static_cast<unsigned>(DType::kF64); }

// Rank, stride count, sizes, strides and dtype value: what every later check relies on.
void check_layout(std::string_view name, const TensorDesc& desc) {
  if (desc.rank() < 1 || desc.rank() > kMaxRank)
    fail(ErrorKind::kInvalidArgument,
         fmt::format("{}: rank {} is out of range; must be between 1 and {}", name, desc.rank(), kMaxRank));
  if (desc.strides.size() != desc.shape.size())
    fail(ErrorKind::kInvalidArgument, fmt::format("{}: has {} strides for {} dimensions; must have one stride per "
                                                  "dimension",
                                                  name, desc.strides.size(), desc.shape.size()));
  for (int d = 0; d < desc.rank(); ++d)
    if (desc.shape[d] < 1)
      fail(ErrorKind::kShapeMismatch, fmt::format("{}: dimension {} has size {}, must be ≥ 1 (shape {})", name, d,
                                                  desc.shape[d], shape_text(desc.shape)));
  for (int d = 0; d < desc.rank(); ++d)
    if (desc.strides[d] < 0)
      fail(ErrorKind::kInvalidArgument,
           fmt::format("{}: dimension {} has stride {}, must be ≥ 0 (negative strides are not supported)", name, d,
                       desc.strides[d]));
  if (!is_known_dtype(desc.dtype))
    fail(ErrorKind::kInvalidArgument,
         fmt::format("{}: dtype value {} is not a known dtype", name, static_cast<int>(desc.dtype)));
}

std::int64_t named_max_offset(std::string_view name, const TensorDesc& desc) {
  try {
    return desc.max_offset();
  } catch (const Error&) {
    fail(ErrorKind::kOverflow, fmt::format("{}: largest element offset overflows int64 (shape {}, strides {})", name,
                                           shape_text(desc.shape), shape_text(desc.strides)));
  }
}

// Element count, largest offset and byte extent must fit int64 so that no index or
// pointer computation downstream can wrap.
void check_extent(std::string_view name, const TensorDesc& desc) {
  try {
    (void)desc.numel();
  } catch (const Error&) {
    fail(ErrorKind::kOverflow,
         fmt::format("{}: element count of shape {} overflows int64", name, shape_text(desc.shape)));
  }
  const std::int64_t offset = named_max_offset(name, desc);
  const auto element = static_cast<std::int64_t>(size_of(desc.dtype));
  std::int64_t bytes = 0;
  if (__builtin_mul_overflow(offset, element, &bytes) || __builtin_add_overflow(bytes, element, &bytes))
    fail(ErrorKind::kOverflow,
         fmt::format("{}: byte extent ({} elements of {} bytes) overflows int64", name, offset, element));
}

void check_not_self_overlapping(std::string_view name, const TensorDesc& desc) {
  if (!desc.is_non_overlapping())
    fail(ErrorKind::kInvalidArgument,
         fmt::format("{}: overlaps itself (stride 0 or aliasing strides on a written tensor): shape {}, strides {}",
                     name, shape_text(desc.shape), shape_text(desc.strides)));
}

// ---- shapes ------------------------------------------------------------------------------

void expect_rank(std::string_view name, const TensorDesc& desc, int rank, std::string_view layout) {
  if (desc.rank() != rank)
    fail(ErrorKind::kShapeMismatch,
         fmt::format("{}: has rank {}, must have rank {} ({})", name, desc.rank(), rank, layout));
}

// `what` says where `expected` comes from: "[B, S, H, N]" or "the shape of q".
void expect_shape(std::string_view name, const TensorDesc& desc, const Shape& expected, std::string_view what) {
  if (desc.shape != expected)
    fail(ErrorKind::kShapeMismatch,
         fmt::format("{}: has shape {}, must be {} ({})", name, shape_text(desc.shape), shape_text(expected), what));
}

void expect_same_shape(std::string_view name, const TensorDesc& desc, std::string_view other_name,
                       const TensorDesc& other) {
  expect_shape(name, desc, other.shape, fmt::format("the shape of {}", other_name));
}

void expect_dim(std::string_view name, const TensorDesc& desc, int dim, std::int64_t size, std::string_view what) {
  if (desc.shape[dim] != size)
    fail(ErrorKind::kShapeMismatch,
         fmt::format("{}: dimension {} has size {}, must be {} ({})", name, dim, desc.shape[dim], size, what));
}

// Each dimension d of `desc` must be target[d], or 1 where bit d of `broadcastable` is set.
void expect_broadcastable(std::string_view name, const TensorDesc& desc, const Shape& target, unsigned broadcastable,
                          std::string_view layout) {
  const std::string what = fmt::format("broadcast to {}", layout);
  expect_rank(name, desc, static_cast<int>(target.size()), what);
  for (int d = 0; d < desc.rank(); ++d) {
    const bool may_broadcast = ((broadcastable >> d) & 1u) != 0 && target[d] != 1;
    if (desc.shape[d] == target[d] || (may_broadcast && desc.shape[d] == 1)) continue;
    const std::string allowed = may_broadcast ? fmt::format("1 or {}", target[d]) : fmt::format("{}", target[d]);
    fail(ErrorKind::kShapeMismatch,
         fmt::format("{}: dimension {} has size {}, must be {} ({})", name, d, desc.shape[d], allowed, what));
  }
}

void expect_absent(std::string_view name, const std::optional<TensorDesc>& desc, std::string_view reason) {
  if (desc) fail(ErrorKind::kInvalidArgument, fmt::format("{}: must be absent {}", name, reason));
}

void expect_present(std::string_view name, const std::optional<TensorDesc>& desc, std::string_view reason) {
  if (!desc) fail(ErrorKind::kInvalidArgument, fmt::format("{}: must be given {}", name, reason));
}

// ---- dtypes ------------------------------------------------------------------------------

// kUnsupported: the argument's dtype is outside the set the operator implements.
void expect_dtype_in(std::string_view name, const TensorDesc& desc, std::initializer_list<DType> allowed,
                     std::string_view why = {}) {
  std::vector<std::string_view> names;
  for (DType dtype : allowed) {
    if (dtype == desc.dtype) return;
    if (std::find(names.begin(), names.end(), name_of(dtype)) == names.end()) names.push_back(name_of(dtype));
  }
  fail(ErrorKind::kUnsupported, fmt::format("{}: dtype {} is not supported; use {}{}", name, name_of(desc.dtype),
                                            detail::choice_list(names), why));
}

// kInvalidArgument: two arguments whose dtypes must agree do not.
void expect_same_dtype(std::string_view name, const TensorDesc& desc, std::string_view other_name,
                       const TensorDesc& other) {
  if (desc.dtype != other.dtype)
    fail(ErrorKind::kInvalidArgument, fmt::format("{}: dtype {} differs from the dtype of {} ({}); they must be equal",
                                                  name, name_of(desc.dtype), other_name, name_of(other.dtype)));
}

// Parameters (bias, gamma, ...) may be kept in f32 next to lower-precision activations.
void expect_param_dtype(std::string_view name, const std::optional<TensorDesc>& desc, std::string_view anchor_name,
                        const TensorDesc& anchor) {
  if (desc)
    expect_dtype_in(name, *desc, {anchor.dtype, DType::kF32}, fmt::format(" (the dtype of {}, or f32)", anchor_name));
}

void expect_f32(std::string_view name, const std::optional<TensorDesc>& desc) {
  if (desc) expect_dtype_in(name, *desc, {DType::kF32});
}

// ---- scalars -----------------------------------------------------------------------------

void expect_finite(std::string_view name, double value, std::string_view note) {
  if (!std::isfinite(value))
    fail(ErrorKind::kInvalidArgument, fmt::format("{}: must be finite, got {}{}", name, value, note));
}

void expect_positive_finite(std::string_view name, double value) {
  if (!std::isfinite(value) || value <= 0.0)
    fail(ErrorKind::kInvalidArgument, fmt::format("{}: must be finite and > 0, got {}", name, value));
}

// ---- gradients ---------------------------------------------------------------------------

// One gradient an operator can produce: its direction bit, its tensor, and its primal.
struct Gradient {
  std::uint32_t bit;
  std::string_view name;         // "d_k"
  std::string_view primal_name;  // "k"
  const std::optional<TensorDesc>* desc;
  const TensorDesc* primal;  // null when the primal is an absent optional input
};

// The backward's incoming gradient (d_o, d_y) and the gradients it may produce.
struct GradientSet {
  Direction direction;
  std::string_view output_gradient_name;  // "d_o"
  const std::optional<TensorDesc>* output_gradient;
  std::string_view output_name;  // "o"
  const TensorDesc* output;
  std::vector<Gradient> gradients;

  std::uint32_t known_bits() const {
    std::uint32_t bits = 0;
    for (const Gradient& gradient : gradients) bits |= gradient.bit;
    return bits;
  }
};

std::string known_bits_text(const GradientSet& set) {
  std::vector<std::string> entries;
  for (const Gradient& gradient : set.gradients)
    entries.push_back(fmt::format("{:#x} {}", gradient.bit, gradient.primal_name));
  return fmt::format("{}", fmt::join(entries, ", "));
}

void check_forward_has_no_gradients(const GradientSet& set) {
  if (set.direction.gradients != 0)
    fail(ErrorKind::kInvalidArgument,
         fmt::format("gradients: must be 0 in the forward pass, got {:#x}", set.direction.gradients));
  expect_absent(set.output_gradient_name, *set.output_gradient, "in the forward pass");
  for (const Gradient& gradient : set.gradients) expect_absent(gradient.name, *gradient.desc, "in the forward pass");
}

void check_backward_gradient_bits(const GradientSet& set) {
  const std::uint32_t wanted = set.direction.gradients;
  if (wanted == 0)
    fail(ErrorKind::kInvalidArgument,
         fmt::format("gradients: the backward must ask for at least one gradient (known bits: {})",
                     known_bits_text(set)));
  if (const std::uint32_t unknown = wanted & ~set.known_bits(); unknown != 0)
    fail(ErrorKind::kInvalidArgument,
         fmt::format("gradients: unknown bits {:#x} (known bits: {})", unknown, known_bits_text(set)));
  for (const Gradient& gradient : set.gradients)
    if (set.direction.wants(gradient.bit) && gradient.primal == nullptr)
      fail(ErrorKind::kInvalidArgument,
           fmt::format("gradients: asks for the gradient of {} (bit {:#x}), but {} is absent", gradient.primal_name,
                       gradient.bit, gradient.primal_name));
}

void check_backward_gradient_tensors(const GradientSet& set) {
  expect_present(set.output_gradient_name, *set.output_gradient,
                 fmt::format("in the backward pass (the gradient of {})", set.output_name));
  for (const Gradient& gradient : set.gradients) {
    if (set.direction.wants(gradient.bit))
      expect_present(gradient.name, *gradient.desc,
                     fmt::format("because the backward asks for the gradient of {} (bit {:#x})", gradient.primal_name,
                                 gradient.bit));
    else
      expect_absent(gradient.name, *gradient.desc,
                    fmt::format("because the backward does not ask for the gradient of {} (bit {:#x})",
                                gradient.primal_name, gradient.bit));
  }
}

// Forward: no gradients at all. Backward: the incoming gradient, and each produced
// gradient exactly when its bit is set.
void check_gradient_presence(const GradientSet& set) {
  if (!detail::is_known_enum(set.direction.pass))
    fail(ErrorKind::kInvalidArgument, fmt::format("pass: value {} is not a known pass; use forward or backward",
                                                  static_cast<int>(set.direction.pass)));
  if (set.direction.pass == Pass::kForward) return check_forward_has_no_gradients(set);
  check_backward_gradient_bits(set);
  check_backward_gradient_tensors(set);
}

// Each gradient is laid out like its primal (a broadcast bias gets a reduced gradient).
void check_gradient_shapes(const GradientSet& set) {
  if (*set.output_gradient)
    expect_same_shape(set.output_gradient_name, **set.output_gradient, set.output_name, *set.output);
  for (const Gradient& gradient : set.gradients)
    if (*gradient.desc) expect_same_shape(gradient.name, **gradient.desc, gradient.primal_name, *gradient.primal);
}

void check_gradient_dtypes(const GradientSet& set) {
  if (*set.output_gradient)
    expect_same_dtype(set.output_gradient_name, **set.output_gradient, set.output_name, *set.output);
  for (const Gradient& gradient : set.gradients)
    if (*gradient.desc) expect_same_dtype(gradient.name, **gradient.desc, gradient.primal_name, *gradient.primal);
}

const TensorDesc* primal_of(const std::optional<TensorDesc>& desc) { return desc ? &*desc : nullptr; }

// ---- saved statistics --------------------------------------------------------------------

// Saved by the forward when given (optional there), read by the backward (required there).
void check_saved(std::string_view name, const std::optional<TensorDesc>& desc, Pass pass, const Shape& shape,
                 std::string_view layout) {
  if (pass == Pass::kBackward) expect_present(name, desc, "in the backward pass (the forward saves it)");
  if (desc) expect_shape(name, *desc, shape, layout);
}

// mean and rstd of a LayerNorm over the rows of x: saved and read together.
void check_row_statistics(const std::optional<TensorDesc>& mean, const std::optional<TensorDesc>& rstd, Pass pass,
                          std::int64_t rows) {
  if (mean.has_value() != rstd.has_value())
    fail(ErrorKind::kInvalidArgument,
         fmt::format("{}: must be given together with {}", mean ? "rstd" : "mean", mean ? "mean" : "rstd"));
  check_saved("mean", mean, pass, {rows}, "[M]");
  check_saved("rstd", rstd, pass, {rows}, "[M]");
}

// ---- EvoAttention -------------------------------------------------------------------------

GradientSet gradient_set(const EvoAttention& op, const Direction& direction) {
  return {direction,
          "d_o",
          &op.d_o,
          "o",
          &op.o,
          {{EvoAttention::kGradQ, "d_q", "q", &op.d_q, &op.q},
           {EvoAttention::kGradK, "d_k", "k", &op.d_k, &op.k},
           {EvoAttention::kGradV, "d_v", "v", &op.d_v, &op.v},
           {EvoAttention::kGradBias, "d_bias", "bias", &op.d_bias, primal_of(op.bias)}}};
}

void check_mask_structure(const EvoAttention& op) {
  if (!detail::is_known_enum(op.mask_kind))
    fail(ErrorKind::kInvalidArgument, fmt::format("mask_kind: value {} is not a known mask kind; use {}",
                                                  static_cast<int>(op.mask_kind), detail::enum_choices<MaskKind>()));
  if (op.mask_kind == MaskKind::kNone) return expect_absent("mask", op.mask, "when mask_kind is none");
  expect_present("mask", op.mask, fmt::format("when mask_kind is {}", detail::enum_name(op.mask_kind)));
  const Shape key_mask = {op.batch(), op.rows(), 1, 1, op.seq_len()};
  expect_broadcastable("mask", *op.mask, key_mask, 0b00011u, "[B, S, 1, 1, N]");
}

void check_structure(const EvoAttention& op, const Direction& direction) {
  const GradientSet gradients = gradient_set(op, direction);
  check_gradient_presence(gradients);
  expect_rank("q", op.q, 5, "[B, S, N, H, D]");
  expect_same_shape("k", op.k, "q", op.q);
  expect_same_shape("v", op.v, "q", op.q);
  expect_same_shape("o", op.o, "q", op.q);
  if (op.head_dim() > kMaxHeadDim)
    fail(ErrorKind::kUnsupported,
         fmt::format("q: head dim D = {} is not supported; must be between 1 and {}", op.head_dim(), kMaxHeadDim));
  const Shape logits = {op.batch(), op.rows(), op.heads(), op.seq_len(), op.seq_len()};
  if (op.bias) expect_broadcastable("bias", *op.bias, logits, 0b11111u, "[B, S, H, N, N]");
  check_mask_structure(op);
  check_saved("lse", op.lse, direction.pass, {op.batch(), op.rows(), op.heads(), op.seq_len()}, "[B, S, H, N]");
  expect_finite("scale", op.scale, " (0 selects D^-1/2)");
  if (!detail::is_known_enum(op.dbias_mode))
    fail(ErrorKind::kInvalidArgument, fmt::format("dbias_mode: value {} is not a known dbias mode; use {}",
                                                  static_cast<int>(op.dbias_mode), detail::enum_choices<DBiasMode>()));
  check_gradient_shapes(gradients);
}

void check_mask_dtype(const EvoAttention& op) {
  if (!op.mask) return;
  if (op.mask_kind == MaskKind::kBoolean)
    return expect_dtype_in("mask", *op.mask, {DType::kBool}, " (mask_kind is boolean)");
  expect_dtype_in("mask", *op.mask, {op.q.dtype, DType::kF32}, " (mask_kind is additive: the dtype of q, or f32)");
}

void check_dtypes(const EvoAttention& op, const Direction& direction) {
  expect_dtype_in("q", op.q, kFloatingDTypes);
  expect_same_dtype("k", op.k, "q", op.q);
  expect_same_dtype("v", op.v, "q", op.q);
  expect_same_dtype("o", op.o, "q", op.q);
  expect_param_dtype("bias", op.bias, "q", op.q);
  check_mask_dtype(op);
  expect_f32("lse", op.lse);
  check_gradient_dtypes(gradient_set(op, direction));
}

// ---- LayerNormLinear ----------------------------------------------------------------------

GradientSet gradient_set(const LayerNormLinear& op, const Direction& direction) {
  return {direction,
          "d_y",
          &op.d_y,
          "y",
          &op.y,
          {{LayerNormLinear::kGradX, "d_x", "x", &op.d_x, &op.x},
           {LayerNormLinear::kGradGamma, "d_gamma", "gamma", &op.d_gamma, &op.gamma},
           {LayerNormLinear::kGradBeta, "d_beta", "beta", &op.d_beta, primal_of(op.beta)},
           {LayerNormLinear::kGradWeight, "d_weight", "weight", &op.d_weight, &op.weight},
           {LayerNormLinear::kGradBias, "d_bias", "bias", &op.d_bias, primal_of(op.bias)}}};
}

void check_structure(const LayerNormLinear& op, const Direction& direction) {
  const GradientSet gradients = gradient_set(op, direction);
  check_gradient_presence(gradients);
  expect_rank("x", op.x, 2, "[M, K]");
  const std::int64_t rows = op.rows(), in = op.in_features();
  expect_shape("gamma", op.gamma, {in}, "[K]");
  if (op.beta) expect_shape("beta", *op.beta, {in}, "[K]");
  expect_rank("weight", op.weight, 2, "logical [K, N]");
  expect_dim("weight", op.weight, 0, in,
             "K, the columns of x; weight is logical [K, N]: pass a torch [N, K] weight transposed by strides");
  const std::int64_t out = op.out_features();
  if (op.bias) expect_shape("bias", *op.bias, {out}, "[N]");
  expect_shape("y", op.y, {rows, out}, "[M, N]");
  check_row_statistics(op.mean, op.rstd, direction.pass, rows);
  expect_positive_finite("eps", op.eps);
  check_gradient_shapes(gradients);
}

void check_dtypes(const LayerNormLinear& op, const Direction& direction) {
  expect_dtype_in("x", op.x, kFloatingDTypes);
  expect_same_dtype("weight", op.weight, "x", op.x);
  expect_same_dtype("y", op.y, "x", op.x);
  expect_param_dtype("gamma", op.gamma, "x", op.x);
  expect_param_dtype("beta", op.beta, "x", op.x);
  expect_param_dtype("bias", op.bias, "x", op.x);
  expect_f32("mean", op.mean);
  expect_f32("rstd", op.rstd);
  check_gradient_dtypes(gradient_set(op, direction));
}

// ---- Transition ---------------------------------------------------------------------------

GradientSet gradient_set(const Transition& op, const Direction& direction) {
  return {direction,
          "d_y",
          &op.d_y,
          "y",
          &op.y,
          {{Transition::kGradX, "d_x", "x", &op.d_x, &op.x},
           {Transition::kGradGamma, "d_gamma", "gamma", &op.d_gamma, primal_of(op.gamma)},
           {Transition::kGradBeta, "d_beta", "beta", &op.d_beta, primal_of(op.beta)},
           {Transition::kGradW1, "d_w1", "w1", &op.d_w1, &op.w1},
           {Transition::kGradW2, "d_w2", "w2", &op.d_w2, &op.w2}}};
}

void check_layer_norm_structure(const Transition& op, const Direction& direction) {
  if (op.beta && !op.gamma)
    fail(ErrorKind::kInvalidArgument, "beta: requires gamma (the LayerNorm is on exactly when gamma is given)");
  if (!op.has_layer_norm()) {
    expect_absent("mean", op.mean, "without the LayerNorm (gamma is absent)");
    expect_absent("rstd", op.rstd, "without the LayerNorm (gamma is absent)");
    return;
  }
  expect_shape("gamma", *op.gamma, {op.dim()}, "[D]");
  if (op.beta) expect_shape("beta", *op.beta, {op.dim()}, "[D]");
  check_row_statistics(op.mean, op.rstd, direction.pass, op.rows());
}

void check_structure(const Transition& op, const Direction& direction) {
  const GradientSet gradients = gradient_set(op, direction);
  check_gradient_presence(gradients);
  expect_rank("x", op.x, 2, "[M, D]");
  check_layer_norm_structure(op, direction);
  expect_rank("w1", op.w1, 2, "logical [D, 2F]");
  expect_dim("w1", op.w1, 0, op.dim(), "D, the columns of x; w1 is logical [D, 2F]");
  if (op.w1.shape[1] % 2 != 0)
    fail(ErrorKind::kShapeMismatch,
         fmt::format("w1: dimension 1 has size {}, must be even (w1 is logical [D, 2F]: the a and g halves)",
                     op.w1.shape[1]));
  expect_shape("w2", op.w2, {op.w1.shape[1] / 2, op.dim()}, "[F, D], F half the columns of w1");
  expect_shape("y", op.y, {op.rows(), op.dim()}, "[M, D]");
  expect_positive_finite("eps", op.eps);
  check_gradient_shapes(gradients);
}

void check_dtypes(const Transition& op, const Direction& direction) {
  expect_dtype_in("x", op.x, kFloatingDTypes);
  expect_same_dtype("w1", op.w1, "x", op.x);
  expect_same_dtype("w2", op.w2, "x", op.x);
  expect_same_dtype("y", op.y, "x", op.x);
  expect_param_dtype("gamma", op.gamma, "x", op.x);
  expect_param_dtype("beta", op.beta, "x", op.x);
  expect_f32("mean", op.mean);
  expect_f32("rstd", op.rstd);
  check_gradient_dtypes(gradient_set(op, direction));
}

}  // namespace

// Order: each tensor's own layout, the operator's structure (direction, shapes, scalars),
// dtypes, then sizes that overflow, then self-overlap of written tensors (which needs
// the offsets to fit).
void validate(const Problem& problem) {
  const std::vector<NamedTensor> tensors = tensor_list(problem);
  for (const NamedTensor& tensor : tensors) check_layout(tensor.name, *tensor.desc);
  std::visit(
      [&](const auto& op) {
        check_structure(op, problem.direction);
        check_dtypes(op, problem.direction);
      },
      problem.op);
  for (const NamedTensor& tensor : tensors) check_extent(tensor.name, *tensor.desc);
  for (const NamedTensor& tensor : tensors)
    if (tensor.access == Access::kWrite) check_not_self_overlapping(tensor.name, *tensor.desc);
}

void validate_index_width(const Problem& problem, int bits) {
  if (bits < 2 || bits > 64)
    fail(ErrorKind::kInvalidArgument, fmt::format("bits: {} is out of range; must be between 2 and 64", bits));
  const std::int64_t limit =
      bits == 64 ? std::numeric_limits<std::int64_t>::max() : (std::int64_t{1} << (bits - 1)) - 1;
  for (const NamedTensor& tensor : tensor_list(problem)) {
    check_layout(tensor.name, *tensor.desc);
    const std::int64_t offset = named_max_offset(tensor.name, *tensor.desc);
    if (offset > limit)
      fail(ErrorKind::kOverflow,
           fmt::format("{}: largest element offset {} does not fit a signed {}-bit index (at most {})", tensor.name,
                       offset, bits, limit));
  }
}

void validate_alignment(const char* argument, const void* address, std::size_t alignment) {
  const std::string_view name = argument != nullptr ? argument : "pointer";
  if (!std::has_single_bit(alignment))
    fail(ErrorKind::kInvalidArgument, fmt::format("{}: alignment {} is not a power of two", name, alignment));
  const auto value = reinterpret_cast<std::uintptr_t>(address);
  if (value % alignment != 0)
    fail(ErrorKind::kMisaligned, fmt::format("{}: address {:#x} is not aligned to {} bytes", name, value, alignment));
}

}  // namespace mf::ir
