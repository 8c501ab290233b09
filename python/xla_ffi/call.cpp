#include "call.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <type_traits>
#include <utility>
#include <vector>

namespace mfjit_jax {
namespace {

// ---- the operators' fields -------------------------------------------------------------------

constexpr const char* kEvoNames[] = {"q", "k", "v", "bias", "mask", "o", "lse", "d_o", "d_q", "d_k", "d_v", "d_bias"};
constexpr const char* kLnlNames[] = {"x",  "gamma", "beta", "weight", "bias",    "y",        "mean",
                                     "rstd", "d_y", "d_x",  "d_gamma", "d_beta", "d_weight", "d_bias"};
constexpr const char* kTransitionNames[] = {"x",  "gamma", "beta", "w1",      "w2",     "y",    "mean",
                                            "rstd", "d_y", "d_x",  "d_gamma", "d_beta", "d_w1", "d_w2"};

// Field indices shared by LayerNormLinear and Transition (their descriptors agree field by field).
enum RowField { kX = 0, kGamma, kBeta, kWeight, kBias, kY, kMean, kRstd, kDy, kDx, kDgamma, kDbeta, kDweight, kDbias };
enum EvoField { kQ = 0, kK, kV, kEvoBias, kMask, kO, kLse, kDo, kDq, kDk, kDv, kDEvoBias };

constexpr std::array<mf_tensor_desc mf_evo_attention_desc::*, 12> kEvoMembers = {
    &mf_evo_attention_desc::q,   &mf_evo_attention_desc::k,   &mf_evo_attention_desc::v,
    &mf_evo_attention_desc::bias, &mf_evo_attention_desc::mask, &mf_evo_attention_desc::o,
    &mf_evo_attention_desc::lse, &mf_evo_attention_desc::d_o, &mf_evo_attention_desc::d_q,
    &mf_evo_attention_desc::d_k, &mf_evo_attention_desc::d_v, &mf_evo_attention_desc::d_bias};
constexpr std::array<mf_tensor_desc mf_layer_norm_linear_desc::*, 14> kLnlMembers = {
    &mf_layer_norm_linear_desc::x,       &mf_layer_norm_linear_desc::gamma,   &mf_layer_norm_linear_desc::beta,
    &mf_layer_norm_linear_desc::weight,  &mf_layer_norm_linear_desc::bias,    &mf_layer_norm_linear_desc::y,
    &mf_layer_norm_linear_desc::mean,    &mf_layer_norm_linear_desc::rstd,    &mf_layer_norm_linear_desc::d_y,
    &mf_layer_norm_linear_desc::d_x,     &mf_layer_norm_linear_desc::d_gamma, &mf_layer_norm_linear_desc::d_beta,
    &mf_layer_norm_linear_desc::d_weight, &mf_layer_norm_linear_desc::d_bias};
constexpr std::array<mf_tensor_desc mf_transition_desc::*, 14> kTransitionMembers = {
    &mf_transition_desc::x,    &mf_transition_desc::gamma,   &mf_transition_desc::beta,   &mf_transition_desc::w1,
    &mf_transition_desc::w2,   &mf_transition_desc::y,       &mf_transition_desc::mean,   &mf_transition_desc::rstd,
    &mf_transition_desc::d_y,  &mf_transition_desc::d_x,     &mf_transition_desc::d_gamma, &mf_transition_desc::d_beta,
    &mf_transition_desc::d_w1, &mf_transition_desc::d_w2};

bool keys_second(int32_t layout) { return layout == MFJIT_JAX_TRIANGLE_END || layout == MFJIT_JAX_MSA_COLUMN; }

// A field's rank in the user's layout (without batch dimensions), whether its first
// dimension is the one the batch of vmap folds into (B, or M), and whether it may be 1
// where the others are full (a broadcast bias or mask).
struct FieldShape {
  int32_t rank;
  bool folds;
  bool broadcasts;
};

FieldShape field_shape(Op op, int32_t layout, int field) {
  if (op == Op::kEvoAttention) {
    switch (field) {
      case kEvoBias:
      case kDEvoBias: return {layout == MFJIT_JAX_CANONICAL ? 5 : 4, true, true};
      case kMask: return {layout == MFJIT_JAX_CANONICAL ? 5 : layout == MFJIT_JAX_SINGLE ? 2 : 3, true, true};
      case kLse: return {4, true, false};  // canonical [B, S, H, N], made by mfjit.jax
      default: return {layout == MFJIT_JAX_SINGLE ? 4 : 5, true, false};
    }
  }
  switch (field) {
    case kX:
    case kY:
    case kDy:
    case kDx: return {2, true, false};
    case kMean:
    case kRstd: return {1, true, false};
    case kGamma:
    case kBeta:
    case kDgamma:
    case kDbeta: return {1, false, false};
    case kWeight:
    case kDweight: return {2, false, false};
    default: return {op == Op::kTransition ? 2 : 1, false, false};  // LayerNormLinear's bias [N], Transition's w2
  }
}

int64_t element_size(mf_dtype dtype) {
  switch (dtype) {
    case MF_DTYPE_BOOL: return 1;
    case MF_DTYPE_F16:
    case MF_DTYPE_BF16: return 2;
    case MF_DTYPE_F32: return 4;
    case MF_DTYPE_F64: return 8;
    default: return 0;
  }
}

// A tensor of one batch element (or of the folded batch) in the user's layout.
struct View {
  int32_t rank = 0;
  int64_t dims[MF_MAX_RANK] = {};
  int64_t strides[MF_MAX_RANK] = {};
};

View insert_unit(View v, int at) {
  for (int d = v.rank; d > at; --d) {
    v.dims[d] = v.dims[d - 1];
    v.strides[d] = v.strides[d - 1];
  }
  v.dims[at] = 1;
  v.strides[at] = at + 1 <= v.rank ? v.dims[at + 1] * v.strides[at + 1] : 1;
  ++v.rank;
  return v;
}

View swap_dims(View v, int a, int b) {
  std::swap(v.dims[a], v.dims[b]);
  std::swap(v.strides[a], v.strides[b]);
  return v;
}

mf_tensor_desc tensor(mf_dtype dtype, const View& v) {
  mf_tensor_desc t;
  std::memset(&t, 0, sizeof t);
  t.dtype = dtype;
  t.rank = v.rank;
  for (int d = 0; d < v.rank; ++d) {
    t.shape[d] = v.dims[d];
    t.strides[d] = v.strides[d];
  }
  return t;
}

mf_tensor_desc absent() {
  mf_tensor_desc t;
  std::memset(&t, 0, sizeof t);
  return t;
}

std::string shape_text(const Buffer& b) {
  std::string s = "[";
  for (int d = 0; d < b.rank; ++d) s += (d ? ", " : "") + std::to_string(b.dims[d]);
  return s + "]";
}

// ---- descriptors from views --------------------------------------------------------------------

Descriptor evo_descriptor(const mfjit_jax_attributes& a, const Buffer* buffers, const View* views) {
  mf_evo_attention_desc desc;
  std::memset(&desc, 0, sizeof desc);
  const bool single = a.layout == MFJIT_JAX_SINGLE;
  const bool transposed = keys_second(a.layout);
  int64_t keys = 0;
  uint32_t gradients = 0;
  for (int f = 0; f < 12; ++f) {
    if (!buffers[f].present()) {
      desc.*kEvoMembers[static_cast<size_t>(f)] = absent();
      continue;
    }
    View v = views[f];
    switch (f) {
      case kEvoBias:
      case kDEvoBias:
        if (v.rank == 4) v = insert_unit(v, 1);  // [B, H, N, N] -> [B, 1, H, N, N]
        break;
      case kMask:
        if (single) v = insert_unit(v, 1);  // [B, N] -> [B, 1, N]
        if (v.rank == 3) {                  // [B, S, N] of the layout -> [B, S, 1, 1, N]
          if (transposed) v = swap_dims(v, 1, 2);
          v = insert_unit(insert_unit(v, 2), 2);
        }
        break;
      case kLse: break;
      default:
        if (single) v = insert_unit(v, 1);  // [B, N, H, D] -> [B, 1, N, H, D]
        if (transposed) v = swap_dims(v, 1, 2);
        if (f == kQ) keys = v.dims[2];
    }
    if (f == kMask && v.rank == 5 && v.dims[4] == 1 && keys > 1) {  // one value for every key
      v.dims[4] = keys;
      v.strides[4] = 0;
    }
    if (f >= kDq) gradients |= 1u << (f - kDq);
    desc.*kEvoMembers[static_cast<size_t>(f)] = tensor(buffers[f].dtype, v);
  }
  desc.mask_kind = !buffers[kMask].present()                ? MF_MASK_NONE
                   : buffers[kMask].dtype == MF_DTYPE_BOOL ? MF_MASK_BOOLEAN
                                                           : MF_MASK_ADDITIVE;
  desc.scale = a.scale;
  desc.dbias_mode = static_cast<mf_dbias_mode>(a.dbias_mode);
  desc.gradients = gradients;
  return {Op::kEvoAttention, a.direction, desc};
}

template <typename Desc, size_t n>
Descriptor row_descriptor(Op op, const mfjit_jax_attributes& a, const Buffer* buffers, const View* views,
                          const std::array<mf_tensor_desc Desc::*, n>& members) {
  Desc desc;
  std::memset(&desc, 0, sizeof desc);
  uint32_t gradients = 0;
  for (int f = 0; f < static_cast<int>(n); ++f) {
    if (f == kY && a.direction == MF_BACKWARD) continue;  // described by d_y below
    desc.*members[static_cast<size_t>(f)] = buffers[f].present() ? tensor(buffers[f].dtype, views[f]) : absent();
    if (f >= kDx && buffers[f].present()) gradients |= 1u << (f - kDx);
  }
  if (a.direction == MF_BACKWARD) desc.y = desc.d_y;  // y is described, neither read nor written
  desc.eps = a.eps;
  desc.gradients = gradients;
  return {op, a.direction, desc};
}

Descriptor descriptor(const mfjit_jax_attributes& a, const Buffer* buffers, const View* views) {
  switch (static_cast<Op>(a.op)) {
    case Op::kEvoAttention: return evo_descriptor(a, buffers, views);
    case Op::kLayerNormLinear: return row_descriptor(Op::kLayerNormLinear, a, buffers, views, kLnlMembers);
    case Op::kTransition: return row_descriptor(Op::kTransition, a, buffers, views, kTransitionMembers);
  }
  throw Failure(MF_ERROR_INVALID_ARGUMENT, "unknown operator");
}

void append(std::string& key, const void* data, size_t size) { key.append(static_cast<const char*>(data), size); }

void append(std::string& key, const mf_tensor_desc& t) {
  append(key, &t.dtype, sizeof t.dtype);
  append(key, &t.rank, sizeof t.rank);
  if (t.dtype == MF_DTYPE_NONE) return;
  append(key, t.shape, sizeof(int64_t) * static_cast<size_t>(t.rank));
  append(key, t.strides, sizeof(int64_t) * static_cast<size_t>(t.rank));
}

// ---- the plan cache ----------------------------------------------------------------------------

struct Cache {
  std::mutex mutex;
  std::map<std::pair<int, int32_t>, mf_context> contexts;  // never destroyed: plans may outlive a forget
  std::map<std::string, std::shared_ptr<CachedPlan>> plans;
};

Cache& cache() {
  static Cache* instance = new Cache;  // never destroyed: XLA's threads may run calls during exit
  return *instance;
}

const char* backend_name(mf_backend b) {
  switch (b) {
    case MF_BACKEND_CPU: return "cpu";
    case MF_BACKEND_CUDA: return "cuda";
    case MF_BACKEND_HIP: return "hip";
    default: return "auto";
  }
}

mf_context context_for(mf_backend backend, int32_t device) {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  auto found = c.contexts.find({backend, device});
  if (found != c.contexts.end()) return found->second;
  mf_context_options options;
  mf_context_options_init(&options);
  options.backend = backend;
  options.device = device;
  mf_context context = nullptr;
  if (mf_status s = mf_context_create(&options, &context); s != MF_SUCCESS) fail_from_library("mf_context_create", s);
  c.contexts.emplace(std::make_pair(static_cast<int>(backend), device), context);
  return context;
}

void json_escape_into(std::string& out, const char* text) {
  for (const char* p = text; *p; ++p) {
    if (*p == '"' || *p == '\\') out += '\\';
    out += *p;
  }
}

}  // namespace

// ---- fields ------------------------------------------------------------------------------------

int field_count(Op op) { return op == Op::kEvoAttention ? 12 : 14; }

const char* field_name(Op op, int field) {
  if (field < 0 || field >= field_count(op)) return "?";
  switch (op) {
    case Op::kEvoAttention: return kEvoNames[field];
    case Op::kLayerNormLinear: return kLnlNames[field];
    case Op::kTransition: return kTransitionNames[field];
  }
  return "?";
}

Role field_role(Op op, int32_t direction, int field) {
  if (op == Op::kEvoAttention) {
    if (direction == MF_FORWARD) return field <= kMask ? Role::kInput : field <= kLse ? Role::kOutput : Role::kAbsent;
    return field <= kDo ? Role::kInput : Role::kOutput;
  }
  if (direction == MF_FORWARD) return field <= kBias ? Role::kInput : field <= kRstd ? Role::kOutput : Role::kAbsent;
  if (field == kY) return Role::kDescribed;
  return field <= kDy ? Role::kInput : Role::kOutput;
}

std::string Descriptor::key() const {
  std::string key;
  const auto o = static_cast<int32_t>(op);
  append(key, &o, sizeof o);
  append(key, &direction, sizeof direction);
  std::visit(
      [&](const auto& d) {
        using D = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<D, mf_evo_attention_desc>) {
          for (auto member : kEvoMembers) append(key, d.*member);
          append(key, &d.mask_kind, sizeof d.mask_kind);
          append(key, &d.scale, sizeof d.scale);
          append(key, &d.gradients, sizeof d.gradients);
          append(key, &d.dbias_mode, sizeof d.dbias_mode);
        } else {
          const auto& members = [] {
            if constexpr (std::is_same_v<D, mf_layer_norm_linear_desc>) return kLnlMembers;
            else return kTransitionMembers;
          }();
          for (auto member : members) append(key, d.*member);
          append(key, &d.eps, sizeof d.eps);
          append(key, &d.gradients, sizeof d.gradients);
        }
      },
      desc);
  return key;
}

std::ptrdiff_t Call::offset(int field, int64_t execution) const {
  std::ptrdiff_t offset = 0;
  for (int i = batch_rank - 1; i >= 0; --i) {
    offset += static_cast<std::ptrdiff_t>((execution % batch_sizes[i]) * batch_strides[field][i]);
    execution /= batch_sizes[i];
  }
  return offset;
}

// ---- calls -------------------------------------------------------------------------------------

Calls make_calls(const mfjit_jax_attributes& a, const Buffer* buffers) {
  if (a.op < 0 || a.op > 2) throw Failure(MF_ERROR_INVALID_ARGUMENT, "op " + std::to_string(a.op) + " is unknown");
  const auto op = static_cast<Op>(a.op);
  if (a.direction != MF_FORWARD && a.direction != MF_BACKWARD)
    throw Failure(MF_ERROR_INVALID_ARGUMENT, "direction " + std::to_string(a.direction) + " is unknown");
  if (op == Op::kEvoAttention && (a.layout < MFJIT_JAX_CANONICAL || a.layout > MFJIT_JAX_MSA_COLUMN))
    throw Failure(MF_ERROR_INVALID_ARGUMENT, "layout " + std::to_string(a.layout) + " is unknown");
  if (op == Op::kEvoAttention && a.layout == MFJIT_JAX_MSA_COLUMN && buffers[kEvoBias].present())
    throw Failure(MF_ERROR_INVALID_ARGUMENT, "bias: layout msa_column takes no bias");
  const int fields = field_count(op);
  if (!buffers[0].present()) throw Failure(MF_ERROR_INVALID_ARGUMENT, std::string(field_name(op, 0)) + ": missing");

  // The batch dimensions vmap added in front of every tensor (expand_dims: 1 where a
  // tensor is not batched).
  const int32_t batch_rank = buffers[0].rank - field_shape(op, a.layout, 0).rank;
  if (batch_rank < 0)
    throw Failure(MF_ERROR_SHAPE_MISMATCH, std::string(field_name(op, 0)) + " has shape " + shape_text(buffers[0]) +
                                               "; rank " + std::to_string(field_shape(op, a.layout, 0).rank) +
                                               " expected");
  int64_t batch_sizes[kMaxBufferRank] = {};
  int64_t executions = 1;
  for (int i = 0; i < batch_rank; ++i) {
    batch_sizes[i] = 1;
    for (int f = 0; f < fields; ++f)
      if (buffers[f].present()) batch_sizes[i] = std::max(batch_sizes[i], buffers[f].dims[i]);
    executions *= batch_sizes[i];
  }
  int64_t strides[kMaxFields][kMaxBufferRank] = {};  // row-major, in elements
  for (int f = 0; f < fields; ++f) {
    const Buffer& b = buffers[f];
    if (!b.present()) continue;
    const FieldShape shape = field_shape(op, a.layout, f);
    if (b.rank != shape.rank + batch_rank || shape.rank > MF_MAX_RANK)
      throw Failure(MF_ERROR_SHAPE_MISMATCH, std::string(field_name(op, f)) + " has shape " + shape_text(b) +
                                                 "; rank " + std::to_string(shape.rank + batch_rank) + " expected");
    for (int i = 0; i < batch_rank; ++i)
      if (b.dims[i] != 1 && b.dims[i] != batch_sizes[i])
        throw Failure(MF_ERROR_SHAPE_MISMATCH, std::string(field_name(op, f)) + " has shape " + shape_text(b) +
                                                   ": batch dimension " + std::to_string(i) + " is neither 1 nor " +
                                                   std::to_string(batch_sizes[i]));
    int64_t step = 1;
    for (int d = b.rank - 1; d >= 0; --d) {
      strides[f][d] = step;
      step *= b.dims[d];
    }
  }

  View views[kMaxFields];
  Calls calls;
  Call& per = calls.per_element;
  per.executions = executions;
  per.batch_rank = batch_rank;
  for (int i = 0; i < batch_rank; ++i) per.batch_sizes[i] = batch_sizes[i];
  for (int f = 0; f < fields; ++f) {
    const Buffer& b = buffers[f];
    if (!b.present()) continue;
    View& v = views[f];
    v.rank = b.rank - batch_rank;
    for (int d = 0; d < v.rank; ++d) {
      v.dims[d] = b.dims[batch_rank + d];
      v.strides[d] = strides[f][batch_rank + d];
    }
    for (int i = 0; i < batch_rank; ++i)
      per.batch_strides[f][i] = b.dims[i] == 1 ? 0 : strides[f][i] * element_size(b.dtype);
  }
  if (op != Op::kEvoAttention && a.direction == MF_BACKWARD)  // y's pointer is d_y's
    for (int i = 0; i < batch_rank; ++i) per.batch_strides[kY][i] = per.batch_strides[kDy][i];
  per.descriptor = descriptor(a, buffers, views);
  if (executions == 1) {
    per.batch_rank = 0;
    return calls;
  }

  // The batch folded into the first dimension (B or M) of the fields that have one: the
  // batch dimensions and that one must merge into one strided dimension.
  const int64_t full_first = buffers[0].dims[batch_rank];
  for (int f = 0; f < fields; ++f) {
    const Buffer& b = buffers[f];
    if (!b.present()) continue;
    const FieldShape shape = field_shape(op, a.layout, f);
    if (!shape.folds) {
      for (int i = 0; i < batch_rank; ++i)
        if (b.dims[i] != 1) return calls;  // batched weights (or their per-element gradients)
      continue;
    }
    // The parts of the merged dimension: the batch dimensions, then B (or M).
    auto part = [&](int j) { return j == batch_rank ? full_first : batch_sizes[j]; };
    int64_t merged = 1;
    bool broadcast = true;
    for (int j = 0; j <= batch_rank; ++j) {
      merged *= part(j);
      if (part(j) > 1 && b.dims[j] != 1) broadcast = false;
    }
    View& v = views[f];
    if (broadcast) {  // the same tensor for every element of the folded batch
      v.dims[0] = shape.broadcasts ? 1 : merged;
      v.strides[0] = 0;
      continue;
    }
    // Every part of size > 1 full and at the stride of one merged dimension.
    int64_t running = 0;
    bool first = true;
    for (int j = batch_rank; j >= 0; --j) {
      if (part(j) == 1) continue;
      if (b.dims[j] != part(j)) return calls;  // mixes broadcast and batched parts
      if (first) {
        running = strides[f][j];
        v.strides[0] = running;
        first = false;
      } else if (strides[f][j] != running) {
        return calls;
      }
      running *= part(j);
    }
    v.dims[0] = merged;
  }
  // A gradient has its primal's shape: a bias broadcast over the folded batch keeps the
  // full size at stride 0 when its gradient is per element.
  if (op == Op::kEvoAttention && buffers[kDEvoBias].present()) views[kEvoBias].dims[0] = views[kDEvoBias].dims[0];
  Call folded;
  folded.descriptor = descriptor(a, buffers, views);
  folded.executions = 1;
  folded.batch_rank = 0;
  calls.folded = folded;
  return calls;
}

// ---- plans -------------------------------------------------------------------------------------

CachedPlan::~CachedPlan() { mf_plan_destroy(plan); }

void fail_from_library(const char* function, mf_status status) {
  const std::string message = mf_last_error();  // first: valid until the next call
  throw Failure(status, std::string(function) + ": " + mf_status_string(status) + (message.empty() ? "" : ": ") +
                            message);
}

std::shared_ptr<CachedPlan> plan_for(mf_backend backend, int32_t device, const Descriptor& descriptor) {
  std::string key = std::string(backend_name(backend)) + "/" + std::to_string(device) + "/" + descriptor.key();
  Cache& c = cache();
  {
    std::lock_guard lock(c.mutex);
    if (auto found = c.plans.find(key); found != c.plans.end()) return found->second;
  }
  mf_context context = context_for(backend, device);
  mf_plan plan = nullptr;
  mf_status status = MF_SUCCESS;
  const char* function = "";
  std::visit(
      [&](const auto& d) {
        using D = std::decay_t<decltype(d)>;
        const auto direction = static_cast<mf_direction>(descriptor.direction);
        if constexpr (std::is_same_v<D, mf_evo_attention_desc>) {
          function = "mf_evo_attention_plan_create";
          status = mf_evo_attention_plan_create(context, &d, direction, &plan);
        } else if constexpr (std::is_same_v<D, mf_layer_norm_linear_desc>) {
          function = "mf_layer_norm_linear_plan_create";
          status = mf_layer_norm_linear_plan_create(context, &d, direction, &plan);
        } else {
          function = "mf_transition_plan_create";
          status = mf_transition_plan_create(context, &d, direction, &plan);
        }
      },
      descriptor.desc);
  if (status != MF_SUCCESS) fail_from_library(function, status);
  size_t workspace = 0;
  if (mf_status s = mf_plan_workspace_size(plan, &workspace); s != MF_SUCCESS) {
    mf_plan_destroy(plan);
    fail_from_library("mf_plan_workspace_size", s);
  }
  auto made = std::make_shared<CachedPlan>(plan, workspace, context, backend, device);
  std::lock_guard lock(c.mutex);
  return c.plans.emplace(std::move(key), std::move(made)).first->second;  // another thread's if it came first
}

std::string describe_plans() {
  std::vector<std::shared_ptr<CachedPlan>> plans;
  {
    Cache& c = cache();
    std::lock_guard lock(c.mutex);
    for (const auto& [key, plan] : c.plans) plans.push_back(plan);
  }
  std::string out = "[";
  for (const auto& p : plans) {
    size_t required = 0;
    mf_plan_describe(p->plan, nullptr, 0, &required);
    std::string text(required, '\0');
    if (mf_status s = mf_plan_describe(p->plan, text.data(), text.size(), &required); s != MF_SUCCESS)
      fail_from_library("mf_plan_describe", s);
    text.resize(required > 0 ? required - 1 : 0);
    if (out.size() > 1) out += ", ";
    out += "{\"backend\": \"";
    json_escape_into(out, backend_name(p->backend));
    out += "\", \"device\": " + std::to_string(p->device) + ", \"plan\": " + text + "}";
  }
  return out + "]";
}

void forget_plans() {
  Cache& c = cache();
  std::map<std::string, std::shared_ptr<CachedPlan>> dropped;
  {
    std::lock_guard lock(c.mutex);
    dropped.swap(c.plans);
  }
}  // destroyed here, outside the lock, unless a running call still holds one

// ---- execution ---------------------------------------------------------------------------------

void execute(const Call& call, CachedPlan& plan, char* const* data, void* workspace, size_t workspace_size,
             void* stream) {
  const Op op = call.descriptor.op;
  const int fields = field_count(op);
  std::lock_guard lock(plan.mutex);
  for (int64_t e = 0; e < call.executions; ++e) {
    void* p[kMaxFields] = {};
    for (int f = 0; f < fields; ++f)
      if (data[f] != nullptr) p[f] = data[f] + call.offset(f, e);
    mf_status status = MF_SUCCESS;
    const char* function = "";
    switch (op) {
      case Op::kEvoAttention: {
        const mf_evo_attention_args args{p[kQ], p[kK],  p[kV],  p[kEvoBias], p[kMask], p[kO],
                                         static_cast<float*>(p[kLse]), p[kDo], p[kDq], p[kDk], p[kDv], p[kDEvoBias]};
        function = "mf_evo_attention_execute";
        status = mf_evo_attention_execute(plan.context, plan.plan, &args, workspace, workspace_size, stream);
        break;
      }
      case Op::kLayerNormLinear: {
        const mf_layer_norm_linear_args args{p[kX],  p[kGamma], p[kBeta], p[kWeight], p[kBias],
                                             p[kY],  static_cast<float*>(p[kMean]), static_cast<float*>(p[kRstd]),
                                             p[kDy], p[kDx],    p[kDgamma], p[kDbeta], p[kDweight], p[kDbias]};
        function = "mf_layer_norm_linear_execute";
        status = mf_layer_norm_linear_execute(plan.context, plan.plan, &args, workspace, workspace_size, stream);
        break;
      }
      case Op::kTransition: {
        const mf_transition_args args{p[kX],  p[kGamma], p[kBeta],  p[kWeight], p[kBias],
                                      p[kY],  static_cast<float*>(p[kMean]), static_cast<float*>(p[kRstd]),
                                      p[kDy], p[kDx],    p[kDgamma], p[kDbeta],  p[kDweight], p[kDbias]};
        function = "mf_transition_execute";
        status = mf_transition_execute(plan.context, plan.plan, &args, workspace, workspace_size, stream);
        break;
      }
    }
    if (status != MF_SUCCESS) fail_from_library(function, status);
  }
}

}  // namespace mfjit_jax
