// The XLA FFI handlers of mfjit's operators (one per platform, the same code path) and the
// C functions the Python package calls with ctypes (mfjit_jax.h).
//
// A handler gets the call's tensors in the order of the operator's C descriptor (absent
// ones left out, `present` says which are there: inputs as arguments, outputs as results),
// then the workspace as its last result (uint8, sized at trace time by mfjit_jax_prepare;
// XLA allocates it like any output, so nothing is allocated here). Batch dimensions that
// jax.vmap added in front of every tensor (vmap_method="expand_dims") fold into B (or M)
// when the strides allow, else each batch element runs in turn.
#include <cstdint>
#include <cstring>
#include <string>

#include "call.h"
#include "mfjit_jax.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

extern "C" {
MFJIT_JAX_API XLA_FFI_Error* mfjit_jax_cpu(XLA_FFI_CallFrame* call_frame);
MFJIT_JAX_API XLA_FFI_Error* mfjit_jax_cuda(XLA_FFI_CallFrame* call_frame);
}

namespace mfjit_jax {
namespace {

constexpr size_t kSlack = MFJIT_JAX_WORKSPACE_SLACK;

mf_dtype to_mf(ffi::DataType t) {
  switch (t) {
    case ffi::DataType::PRED: return MF_DTYPE_BOOL;
    case ffi::DataType::F16: return MF_DTYPE_F16;
    case ffi::DataType::BF16: return MF_DTYPE_BF16;
    case ffi::DataType::F32: return MF_DTYPE_F32;
    case ffi::DataType::F64: return MF_DTYPE_F64;
    default: return MF_DTYPE_NONE;
  }
}

ffi::ErrorCode error_code(mf_status status) {
  switch (status) {
    case MF_ERROR_INVALID_ARGUMENT:
    case MF_ERROR_SHAPE_MISMATCH:
    case MF_ERROR_MISALIGNED:
    case MF_ERROR_CONTEXT_MISMATCH: return ffi::ErrorCode::kInvalidArgument;
    case MF_ERROR_UNSUPPORTED: return ffi::ErrorCode::kUnimplemented;
    case MF_ERROR_BACKEND_UNAVAILABLE: return ffi::ErrorCode::kUnavailable;
    case MF_ERROR_OUT_OF_MEMORY: return ffi::ErrorCode::kResourceExhausted;
    case MF_ERROR_WORKSPACE: return ffi::ErrorCode::kFailedPrecondition;
    default: return ffi::ErrorCode::kInternal;
  }
}

void set_buffer(Buffer& b, const ffi::AnyBuffer& x, const char* name) {
  b.dtype = to_mf(x.element_type());
  if (b.dtype == MF_DTYPE_NONE)
    throw Failure(MF_ERROR_UNSUPPORTED, std::string(name) + ": dtype " +
                                            std::to_string(static_cast<int>(x.element_type())) +
                                            " is not one of bool, float16, bfloat16, float32, float64");
  const auto dims = x.dimensions();
  if (dims.size() > static_cast<size_t>(kMaxBufferRank))
    throw Failure(MF_ERROR_UNSUPPORTED, std::string(name) + ": rank " + std::to_string(dims.size()) +
                                            " exceeds " + std::to_string(kMaxBufferRank));
  b.rank = static_cast<int32_t>(dims.size());
  for (size_t d = 0; d < dims.size(); ++d) b.dims[d] = dims[d];
  b.data = static_cast<char*>(x.untyped_data());
}

ffi::Error run(mf_backend backend, int32_t device, void* stream, ffi::RemainingArgs args, ffi::RemainingRets rets,
               int32_t op, int32_t direction, int32_t layout, int32_t dbias_mode, double scale, double eps,
               int64_t present) {
  try {
    const mfjit_jax_attributes attributes{op, direction, layout, dbias_mode, scale, eps};
    if (op < 0 || op > 2) throw Failure(MF_ERROR_INVALID_ARGUMENT, "op " + std::to_string(op) + " is unknown");
    const Op o = static_cast<Op>(op);
    Buffer buffers[kMaxFields];
    size_t arg = 0, ret = 0;
    for (int f = 0; f < field_count(o); ++f) {
      if (((present >> f) & 1) == 0) continue;
      const Role role = field_role(o, direction, f);
      if (role == Role::kInput) {
        auto x = args.get<ffi::AnyBuffer>(arg++);
        if (x.has_error()) return x.error();
        set_buffer(buffers[f], *x, field_name(o, f));
      } else if (role == Role::kOutput) {
        auto x = rets.get<ffi::AnyBuffer>(ret++);
        if (x.has_error()) return x.error();
        set_buffer(buffers[f], **x, field_name(o, f));
      } else {
        throw Failure(MF_ERROR_INVALID_ARGUMENT, std::string(field_name(o, f)) + " is no tensor of this pass");
      }
    }
    auto workspace = rets.get<ffi::AnyBuffer>(ret++);
    if (workspace.has_error()) return workspace.error();
    if (arg != args.size() || ret != rets.size())
      throw Failure(MF_ERROR_INVALID_ARGUMENT, "the call has " + std::to_string(args.size()) + " operands and " +
                                                   std::to_string(rets.size()) + " results; `present` names " +
                                                   std::to_string(arg) + " and " + std::to_string(ret));

    char* data[kMaxFields] = {};
    for (int f = 0; f < field_count(o); ++f) data[f] = buffers[f].data;
    if (o != Op::kEvoAttention && direction == MF_BACKWARD) data[5] = data[8];  // y is described by d_y

    // The workspace, aligned up to 16 bytes within the slack mfjit_jax_prepare added.
    char* base = static_cast<char*>((*workspace)->untyped_data());
    const size_t bytes = (*workspace)->size_bytes();
    const auto address = reinterpret_cast<std::uintptr_t>(base);
    const size_t skip = (kSlack - address % kSlack) % kSlack;
    char* aligned = bytes > skip ? base + skip : nullptr;
    const size_t available = bytes > skip ? bytes - skip : 0;

    const Calls calls = make_calls(attributes, buffers);
    if (calls.folded) {
      auto plan = plan_for(backend, device, calls.folded->descriptor);
      if (plan->workspace <= available) {  // else each element in turn, in the workspace sized for one
        execute(*calls.folded, *plan, data, plan->workspace ? aligned : nullptr, plan->workspace, stream);
        return ffi::Error::Success();
      }
    }
    auto plan = plan_for(backend, device, calls.per_element.descriptor);
    if (plan->workspace > available)
      throw Failure(MF_ERROR_WORKSPACE,
                    "the plan needs " + std::to_string(plan->workspace) + " bytes of workspace but the call was traced with " +
                        std::to_string(available) +
                        " (its plan changed since it was traced, e.g. by mfjit.jax.tune()): call jax.clear_caches() "
                        "and trace again");
    execute(calls.per_element, *plan, data, plan->workspace ? aligned : nullptr, plan->workspace, stream);
    return ffi::Error::Success();
  } catch (const Failure& failure) {
    return ffi::Error(error_code(failure.status), std::string("mfjit: ") + failure.what());
  } catch (const std::exception& e) {
    return ffi::Error(ffi::ErrorCode::kInternal, std::string("mfjit: ") + e.what());
  }
}

ffi::Error run_cpu(ffi::RemainingArgs args, ffi::RemainingRets rets, int32_t op, int32_t direction, int32_t layout,
                   int32_t dbias_mode, double scale, double eps, int64_t present) {
  return run(MF_BACKEND_CPU, 0, nullptr, args, rets, op, direction, layout, dbias_mode, scale, eps, present);
}

ffi::Error run_cuda(void* stream, int32_t device, ffi::RemainingArgs args, ffi::RemainingRets rets, int32_t op,
                    int32_t direction, int32_t layout, int32_t dbias_mode, double scale, double eps, int64_t present) {
  return run(MF_BACKEND_CUDA, device, stream, args, rets, op, direction, layout, dbias_mode, scale, eps, present);
}

void copy_message(const std::string& text, char* message, size_t size) {
  if (message == nullptr || size == 0) return;
  const size_t n = std::min(text.size(), size - 1);
  std::memcpy(message, text.data(), n);
  message[n] = '\0';
}

}  // namespace
}  // namespace mfjit_jax

XLA_FFI_DEFINE_HANDLER_SYMBOL(mfjit_jax_cpu, mfjit_jax::run_cpu,
                              ffi::Ffi::Bind()
                                  .RemainingArgs()
                                  .RemainingRets()
                                  .Attr<int32_t>("op")
                                  .Attr<int32_t>("direction")
                                  .Attr<int32_t>("layout")
                                  .Attr<int32_t>("dbias_mode")
                                  .Attr<double>("scale")
                                  .Attr<double>("eps")
                                  .Attr<int64_t>("present"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(mfjit_jax_cuda, mfjit_jax::run_cuda,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<void*>>()
                                  .Ctx<ffi::DeviceOrdinal>()
                                  .RemainingArgs()
                                  .RemainingRets()
                                  .Attr<int32_t>("op")
                                  .Attr<int32_t>("direction")
                                  .Attr<int32_t>("layout")
                                  .Attr<int32_t>("dbias_mode")
                                  .Attr<double>("scale")
                                  .Attr<double>("eps")
                                  .Attr<int64_t>("present"));

extern "C" {

int32_t mfjit_jax_prepare(const char* backend, const mfjit_jax_attributes* attributes, const mfjit_jax_tensor* tensors,
                          int32_t count, uint64_t* workspace_bytes, char* message, size_t message_size) {
  using namespace mfjit_jax;
  try {
    if (backend == nullptr || attributes == nullptr || tensors == nullptr || workspace_bytes == nullptr)
      throw Failure(MF_ERROR_INVALID_ARGUMENT, "mfjit_jax_prepare: a null argument");
    const std::string name = backend;
    const mf_backend b = name == "cpu" ? MF_BACKEND_CPU : name == "cuda" ? MF_BACKEND_CUDA : MF_BACKEND_AUTO;
    if (b == MF_BACKEND_AUTO) throw Failure(MF_ERROR_INVALID_ARGUMENT, "backend " + name + ": use cpu or cuda");
    if (count < 0 || count > kMaxFields) throw Failure(MF_ERROR_INVALID_ARGUMENT, "count out of range");
    Buffer buffers[kMaxFields];
    for (int32_t f = 0; f < count; ++f) {
      buffers[f].dtype = static_cast<mf_dtype>(tensors[f].dtype);
      buffers[f].rank = tensors[f].rank;
      if (tensors[f].rank < 0 || tensors[f].rank > MF_MAX_RANK)
        throw Failure(MF_ERROR_INVALID_ARGUMENT, "tensor " + std::to_string(f) + ": rank out of range");
      for (int d = 0; d < tensors[f].rank; ++d) buffers[f].dims[d] = tensors[f].dims[d];
    }
    const Calls calls = make_calls(*attributes, buffers);
    const auto plan = plan_for(b, 0, calls.per_element.descriptor);
    *workspace_bytes = plan->workspace == 0 ? 0 : plan->workspace + kSlack;
    copy_message("", message, message_size);
    return MF_SUCCESS;
  } catch (const Failure& failure) {
    copy_message(failure.what(), message, message_size);
    return failure.status;
  } catch (const std::exception& e) {
    copy_message(e.what(), message, message_size);
    return MF_ERROR_INTERNAL;
  }
}

int32_t mfjit_jax_describe(char* buffer, size_t size, size_t* required) {
  try {
    const std::string text = mfjit_jax::describe_plans();
    if (required != nullptr) *required = text.size() + 1;
    if (buffer == nullptr || size < text.size() + 1) return MF_ERROR_BUFFER_TOO_SMALL;
    std::memcpy(buffer, text.c_str(), text.size() + 1);
    return MF_SUCCESS;
  } catch (const std::exception&) {
    return MF_ERROR_INTERNAL;
  }
}

void mfjit_jax_forget_plans(void) { mfjit_jax::forget_plans(); }

}  // extern "C"
