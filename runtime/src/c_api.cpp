// The C API boundary: argument checks on raw pointers, then the runtime; every entry point
// returns through guarded(), so no exception crosses into C.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "backend.h"
#include "c_enum.h"
#include "cpu_backend.h"
#include "cuda_backend.h"
#include "hip_runtime.h"
#include "descriptor_conversion.h"
#include "handles.h"
#include "mf/ir/tensor_desc.h"
#include "mfjit/mfjit.h"
#include "paths.h"
#include "plan.h"
#include "status.h"

using namespace mf::runtime;

namespace {

template <typename T>
T& non_null(T* pointer, const char* argument) {
  if (pointer == nullptr) fail(MF_ERROR_INVALID_ARGUMENT, fmt::format("{}: is NULL", argument));
  return *pointer;
}

void check_options(const mf_context_options& options) {
  if (options.device < 0)
    fail(MF_ERROR_INVALID_ARGUMENT, fmt::format("options.device: {} is negative", options.device));
  if (options.cpu_threads < 0 || options.cpu_threads > MF_MAX_CPU_THREADS)
    fail(MF_ERROR_INVALID_ARGUMENT, fmt::format("options.cpu_threads: {} is outside 0..{}", options.cpu_threads,
                                                MF_MAX_CPU_THREADS));
}

template <typename Desc>
mf_status create_plan_from(mf_context context, const Desc* desc, mf_direction direction, mf_plan* plan) {
  return guarded([&] {
    mf_plan& out = non_null(plan, "plan");
    out = nullptr;
    mf_context_s& owner = checked(context, "context");
    out = create_plan(owner, to_problem(non_null(desc, "desc"), direction));
  });
}

template <typename Args>
mf_status execute_with(mf_context context, mf_plan plan, const Args* args, void* workspace,
                       std::size_t workspace_size, void* stream) {
  return guarded([&] {
    execute_plan(checked(context, "context"), checked(plan, "plan"), OperatorArgs(non_null(args, "args")), workspace,
                 workspace_size, stream);
  });
}

}  // namespace

extern "C" {

const char* mf_status_string(mf_status status) {
  switch (c_enum_value(status)) {
    case MF_SUCCESS: return "MF_SUCCESS";
    case MF_ERROR_INVALID_ARGUMENT: return "MF_ERROR_INVALID_ARGUMENT";
    case MF_ERROR_INVALID_HANDLE: return "MF_ERROR_INVALID_HANDLE";
    case MF_ERROR_SHAPE_MISMATCH: return "MF_ERROR_SHAPE_MISMATCH";
    case MF_ERROR_UNSUPPORTED: return "MF_ERROR_UNSUPPORTED";
    case MF_ERROR_OVERFLOW: return "MF_ERROR_OVERFLOW";
    case MF_ERROR_MISALIGNED: return "MF_ERROR_MISALIGNED";
    case MF_ERROR_CONTEXT_MISMATCH: return "MF_ERROR_CONTEXT_MISMATCH";
    case MF_ERROR_BACKEND_UNAVAILABLE: return "MF_ERROR_BACKEND_UNAVAILABLE";
    case MF_ERROR_DEVICE: return "MF_ERROR_DEVICE";
    case MF_ERROR_WORKSPACE: return "MF_ERROR_WORKSPACE";
    case MF_ERROR_BUFFER_TOO_SMALL: return "MF_ERROR_BUFFER_TOO_SMALL";
    case MF_ERROR_OUT_OF_MEMORY: return "MF_ERROR_OUT_OF_MEMORY";
    case MF_ERROR_INTERNAL: return "MF_ERROR_INTERNAL";
    case MF_ERROR_COMPILE: return "MF_ERROR_COMPILE";
  }
  return "MF_ERROR_UNKNOWN_STATUS";
}

const char* mf_last_error(void) { return last_error(); }

void mf_version(int* major, int* minor, int* patch) {
  if (major != nullptr) *major = MF_VERSION_MAJOR;
  if (minor != nullptr) *minor = MF_VERSION_MINOR;
  if (patch != nullptr) *patch = MF_VERSION_PATCH;
}

const char* mf_version_string(void) { return MFJIT_VERSION_STRING; }

mf_status mf_tensor_desc_contiguous(mf_tensor_desc* desc, mf_dtype dtype, int32_t rank, const int64_t* shape) {
  return guarded([&] {
    mf_tensor_desc& out = non_null(desc, "desc");
    if (rank < 1 || rank > MF_MAX_RANK)
      fail(MF_ERROR_INVALID_ARGUMENT, fmt::format("rank: {} is outside 1..{}", rank, MF_MAX_RANK));
    non_null(shape, "shape");
    to_ir(dtype, "desc");
    for (int d = 0; d < rank; ++d)
      if (shape[d] < 1) fail(MF_ERROR_SHAPE_MISMATCH, fmt::format("shape[{}]: {} must be >= 1", d, shape[d]));
    const auto contiguous = mf::ir::TensorDesc::contiguous(mf::ir::DType::kBool, {shape, shape + rank});
    contiguous.numel();  // throws MF_ERROR_OVERFLOW for a shape whose element count overflows
    out = mf_tensor_desc{};
    out.dtype = dtype;
    out.rank = rank;
    std::copy(shape, shape + rank, out.shape);
    std::copy(contiguous.strides.begin(), contiguous.strides.end(), out.strides);
  });
}

void mf_context_options_init(mf_context_options* options) {
  if (options == nullptr) return;
  *options = mf_context_options{};
  options->backend = MF_BACKEND_AUTO;
}

mf_status mf_context_create(const mf_context_options* options, mf_context* context) {
  return guarded([&] {
    mf_context& out = non_null(context, "context");
    out = nullptr;
    mf_context_options resolved;
    mf_context_options_init(&resolved);
    if (options != nullptr) resolved = *options;
    check_options(resolved);
    auto created = std::make_unique<mf_context_s>();
    created->cache_dir = resolved.cache_dir != nullptr ? resolved.cache_dir : default_cache_dir();
    created->db_path = resolved.db_path != nullptr ? resolved.db_path : default_db_path(created->cache_dir);
    created->backend = create_backend(resolved, created->cache_dir);
    created->configs = std::make_unique<TunedConfigProvider>(created->db_path);
    out = created.release();
  });
}

mf_status mf_context_destroy(mf_context context) {
  return guarded([&] {
    if (context == nullptr) return;
    mf_context_s& owned = checked(context, "context");
    if (const int plans = owned.live_plans.load(); plans > 0)
      fail(MF_ERROR_INVALID_ARGUMENT,
           fmt::format("context: {} plan(s) of this context are still alive; destroy them first", plans));
    owned.tag = HandleTag::kDead;
    delete &owned;
  });
}

mf_status mf_context_backend(mf_context context, mf_backend* backend) {
  return guarded([&] { non_null(backend, "backend") = checked(context, "context").backend->kind(); });
}

mf_status mf_device_count(mf_backend backend, int32_t* count) {
  return guarded([&] {
    int32_t& out = non_null(count, "count");
    switch (c_enum_value(backend)) {
      case MF_BACKEND_CPU: out = 1; return;
      case MF_BACKEND_CUDA: out = cuda_device_count(); return;
      case MF_BACKEND_HIP: out = hip_device_count(); return;
      case MF_BACKEND_AUTO: break;
    }
    fail(MF_ERROR_INVALID_ARGUMENT,
         fmt::format("backend: {} does not name one backend (MF_BACKEND_AUTO is not accepted here)",
                     c_enum_value(backend)));
  });
}

mf_status mf_device_get_info(mf_backend backend, int32_t ordinal, mf_device_info* info) {
  return guarded([&] {
    mf_device_info& out = non_null(info, "info");
    switch (c_enum_value(backend)) {
      case MF_BACKEND_CPU:
        if (ordinal != 0)
          fail(MF_ERROR_BACKEND_UNAVAILABLE, fmt::format("ordinal: the cpu backend has only device 0, not {}", ordinal));
        out = host_device_info(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
        return;
      case MF_BACKEND_CUDA: out = cuda_device_info(ordinal); return;
      case MF_BACKEND_HIP: out = hip_device_info(ordinal); return;
      case MF_BACKEND_AUTO: break;
    }
    fail(MF_ERROR_INVALID_ARGUMENT,
         fmt::format("backend: {} does not name one backend (MF_BACKEND_AUTO is not accepted here)",
                     c_enum_value(backend)));
  });
}

mf_status mf_context_device_info(mf_context context, mf_device_info* info) {
  return guarded([&] { non_null(info, "info") = checked(context, "context").backend->device(); });
}

mf_status mf_plan_workspace_size(mf_plan plan, size_t* bytes) {
  return guarded([&] { non_null(bytes, "bytes") = checked(plan, "plan").executable->workspace_size(); });
}

mf_status mf_plan_describe(mf_plan plan, char* buffer, size_t size, size_t* required) {
  return guarded([&] {
    const std::string text = describe_plan(checked(plan, "plan"));
    if (required != nullptr) *required = text.size() + 1;
    if (buffer == nullptr || size < text.size() + 1)
      fail(MF_ERROR_BUFFER_TOO_SMALL,
           fmt::format("buffer: the description needs {} bytes, {} given", text.size() + 1, buffer ? size : 0));
    std::memcpy(buffer, text.c_str(), text.size() + 1);
  });
}

mf_status mf_plan_destroy(mf_plan plan) {
  return guarded([&] {
    if (plan == nullptr) return;
    mf_plan_s& owned = checked(plan, "plan");
    --owned.context->live_plans;
    owned.tag = HandleTag::kDead;
    delete &owned;
  });
}

mf_status mf_evo_attention_plan_create(mf_context context, const mf_evo_attention_desc* desc,
                                       mf_direction direction, mf_plan* plan) {
  return create_plan_from(context, desc, direction, plan);
}

mf_status mf_evo_attention_execute(mf_context context, mf_plan plan, const mf_evo_attention_args* args,
                                   void* workspace, size_t workspace_size, void* stream) {
  return execute_with(context, plan, args, workspace, workspace_size, stream);
}

mf_status mf_layer_norm_linear_plan_create(mf_context context, const mf_layer_norm_linear_desc* desc,
                                           mf_direction direction, mf_plan* plan) {
  return create_plan_from(context, desc, direction, plan);
}

mf_status mf_layer_norm_linear_execute(mf_context context, mf_plan plan, const mf_layer_norm_linear_args* args,
                                       void* workspace, size_t workspace_size, void* stream) {
  return execute_with(context, plan, args, workspace, workspace_size, stream);
}

mf_status mf_transition_plan_create(mf_context context, const mf_transition_desc* desc, mf_direction direction,
                                    mf_plan* plan) {
  return create_plan_from(context, desc, direction, plan);
}

mf_status mf_transition_execute(mf_context context, mf_plan plan, const mf_transition_args* args, void* workspace,
                                size_t workspace_size, void* stream) {
  return execute_with(context, plan, args, workspace, workspace_size, stream);
}

}  // extern "C"
