// Every C API function given bad input: the documented status, a message naming the
// argument, and no crash (the suite runs under AddressSanitizer and UBSan).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mf/ir/evo_attention.h"
#include "mf/ir/layer_norm_linear.h"
#include "mf/ir/transition.h"
#include "runtime/c_callers.h"
#include "runtime/capi_helpers.h"
#include "tuning_db/db_test_helpers.h"

namespace mf::capi_test {
namespace {

constexpr std::int64_t kHuge = std::int64_t{1} << 62;

// B=2, S=3, N=5, H=2, D=8 in f32, with bias [2, 1, 2, 5, 5] and boolean mask [2, 3, 1, 1, 5].
using ir::DType, ir::EvoLayoutOptions;

ir::EvoAttention evo() { return ir::msa_row_attention(2, 3, 5, 2, 8, options<EvoLayoutOptions>(DType::kF32)); }
ir::LayerNormLinear linear() {
  return ir::layer_norm_linear(7, 8, 6, options<ir::LinearOptions>(DType::kF32));
}
ir::Transition transition() { return ir::transition(7, 8, 2, options<ir::TransitionOptions>(DType::kF32)); }

// Full descriptors (backward fields filled) of the operators above.
template <class Op>
auto forward_desc(const Op& op) {
  return to_c(op, 0);
}
template <class Op>
auto backward_desc(const Op& op) {
  return to_c(ir::with_gradients(op, op.all_gradients()), op.all_gradients());
}

// Plan creation that is expected to fail; a plan made against expectation is destroyed.
template <class Desc, class Create>
mf_status try_create(mf_context context, const Desc& desc, int direction, Create create) {
  mf_plan plan = nullptr;
  const mf_status status = create(context, &desc, direction, &plan);
  if (status == MF_SUCCESS) {
    EXPECT_EQ(mf_plan_destroy(plan), MF_SUCCESS);
  }
  return status;
}
mf_status try_create(mf_context context, const mf_evo_attention_desc& desc, int direction) {
  return try_create(context, desc, direction, c_evo_attention_plan_create);
}
mf_status try_create(mf_context context, const mf_layer_norm_linear_desc& desc, int direction) {
  return try_create(context, desc, direction, c_layer_norm_linear_plan_create);
}
mf_status try_create(mf_context context, const mf_transition_desc& desc, int direction) {
  return try_create(context, desc, direction, c_transition_plan_create);
}

// One broken descriptor: `edit` applied to the valid one.
template <class Desc>
struct BrokenDesc {
  std::string what;
  int direction;
  std::function<void(Desc&)> edit;
  mf_status status;
  std::string substring;
};

template <class Desc>
void expect_rejected(mf_context context, const Desc& forward, const Desc& backward,
                     const std::vector<BrokenDesc<Desc>>& cases) {
  for (const BrokenDesc<Desc>& broken : cases) {
    SCOPED_TRACE(broken.what);
    Desc desc = broken.direction == MF_BACKWARD ? backward : forward;
    broken.edit(desc);
    expect_status(try_create(context, desc, broken.direction), broken.status, broken.substring);
  }
}

class CapiErrors : public ::testing::Test {
 protected:
  // A valid plan of `problem`, to execute or describe.
  Plan plan_of(const ir::Problem& problem) { return make_plan(context_.get(), problem); }
  mf_context context() const { return context_.get(); }

  Context context_ = cpu_context();
};

// ---- status strings, version, last error ---------------------------------------------------

TEST(CapiStatus, EveryStatusHasADistinctName) {
  std::set<std::string> names;
  for (int status = MF_SUCCESS; status <= MF_ERROR_COMPILE; ++status) {
    const char* name = c_status_string(status);
    ASSERT_NE(name, nullptr) << status;
    EXPECT_EQ(std::string(name).rfind("MF_", 0), 0u) << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(MF_ERROR_COMPILE) + 1);
  EXPECT_STREQ(mf_status_string(MF_SUCCESS), "MF_SUCCESS");
  EXPECT_STREQ(mf_status_string(MF_ERROR_SHAPE_MISMATCH), "MF_ERROR_SHAPE_MISMATCH");
  EXPECT_STREQ(mf_status_string(MF_ERROR_INTERNAL), "MF_ERROR_INTERNAL");
  for (int unknown : {-1, MF_ERROR_COMPILE + 1, 1000, std::numeric_limits<int>::max()}) {
    const char* name = c_status_string(unknown);
    ASSERT_NE(name, nullptr) << unknown;
    EXPECT_EQ(names.count(name), 0u) << unknown << " is named like a known status: " << name;
  }
}

TEST(CapiVersion, MatchesTheHeader) {
  int major = -1, minor = -1, patch = -1;
  mf_version(&major, &minor, &patch);
  EXPECT_EQ(major, MF_VERSION_MAJOR);
  EXPECT_EQ(minor, MF_VERSION_MINOR);
  EXPECT_EQ(patch, MF_VERSION_PATCH);
  mf_version(nullptr, nullptr, nullptr);
  int only_minor = -1;
  mf_version(nullptr, &only_minor, nullptr);
  EXPECT_EQ(only_minor, MF_VERSION_MINOR);
  ASSERT_NE(mf_version_string(), nullptr);
  EXPECT_EQ(std::string(mf_version_string()),
            fmt::format("{}.{}.{}", MF_VERSION_MAJOR, MF_VERSION_MINOR, MF_VERSION_PATCH));
}

// Provokes an error whose message contains "count".
void provoke_error() {
  ASSERT_EQ(mf_device_count(MF_BACKEND_CPU, nullptr), MF_ERROR_INVALID_ARGUMENT);
  ASSERT_STRNE(mf_last_error(), "");
}

TEST_F(CapiErrors, EverySuccessfulCallClearsTheLastError) {
  const Plan plan = plan_of({evo(), ir::Direction::forward()});
  std::vector<char> buffer(1 << 16);
  mf_device_info info{};
  mf_backend backend{};
  mf_tensor_desc desc{};
  int32_t count = 0;
  std::size_t bytes = 0;
  const int64_t shape[] = {2, 3};
  const std::vector<std::pair<std::string, std::function<mf_status()>>> calls = {
      {"mf_device_count", [&] { return mf_device_count(MF_BACKEND_CPU, &count); }},
      {"mf_device_get_info", [&] { return mf_device_get_info(MF_BACKEND_CPU, 0, &info); }},
      {"mf_context_backend", [&] { return mf_context_backend(context(), &backend); }},
      {"mf_context_device_info", [&] { return mf_context_device_info(context(), &info); }},
      {"mf_tensor_desc_contiguous", [&] { return mf_tensor_desc_contiguous(&desc, MF_DTYPE_F32, 2, shape); }},
      {"mf_plan_workspace_size", [&] { return mf_plan_workspace_size(plan.get(), &bytes); }},
      {"mf_plan_describe", [&] { return mf_plan_describe(plan.get(), buffer.data(), buffer.size(), nullptr); }},
      {"mf_plan_destroy(NULL)", [&] { return mf_plan_destroy(nullptr); }},
      {"mf_context_destroy(NULL)", [&] { return mf_context_destroy(nullptr); }},
  };
  for (const auto& [name, call] : calls) {
    SCOPED_TRACE(name);
    provoke_error();
    EXPECT_EQ(call(), MF_SUCCESS) << mf_last_error();
    EXPECT_STREQ(mf_last_error(), "");
  }
}

TEST(CapiLastError, IsThreadLocal) {
  provoke_error();
  const std::string mine = mf_last_error();
  std::string seen_by_other = "not run";
  std::string other_error;
  std::thread other([&] {
    seen_by_other = mf_last_error();
    mf_device_info info;
    EXPECT_EQ(mf_device_get_info(MF_BACKEND_CPU, 7, &info), MF_ERROR_BACKEND_UNAVAILABLE);
    other_error = mf_last_error();
  });
  other.join();
  EXPECT_EQ(seen_by_other, "");
  EXPECT_NE(other_error.find("ordinal"), std::string::npos) << other_error;
  EXPECT_EQ(std::string(mf_last_error()), mine);
  EXPECT_NE(mine.find("count"), std::string::npos) << mine;
}

// ---- tensor descriptors --------------------------------------------------------------------

TEST(CapiTensorDesc, ContiguousFillsRowMajorStrides) {
  mf_tensor_desc desc;
  std::memset(&desc, 0x5A, sizeof desc);
  const int64_t shape[] = {2, 3, 1, 4};
  expect_success(mf_tensor_desc_contiguous(&desc, MF_DTYPE_BF16, 4, shape));
  EXPECT_EQ(desc.dtype, MF_DTYPE_BF16);
  EXPECT_EQ(desc.rank, 4);
  const int64_t strides[] = {12, 4, 4, 1};
  for (int d = 0; d < 4; ++d) {
    EXPECT_EQ(desc.shape[d], shape[d]) << d;
    EXPECT_EQ(desc.strides[d], strides[d]) << d;
  }
  for (int d = 4; d < MF_MAX_RANK; ++d) {
    EXPECT_EQ(desc.shape[d], 0) << d;
    EXPECT_EQ(desc.strides[d], 0) << d;
  }
  const int64_t eight[MF_MAX_RANK] = {1, 2, 1, 2, 1, 2, 1, 3};
  expect_success(mf_tensor_desc_contiguous(&desc, MF_DTYPE_BOOL, MF_MAX_RANK, eight));
  EXPECT_EQ(desc.strides[0], 24);
  EXPECT_EQ(desc.strides[MF_MAX_RANK - 1], 1);
}

TEST(CapiTensorDesc, ContiguousRejectsBadInput) {
  mf_tensor_desc desc{};
  const int64_t shape[MF_MAX_RANK + 1] = {2, 3, 4, 5, 6, 7, 8, 9, 10};
  expect_status(mf_tensor_desc_contiguous(nullptr, MF_DTYPE_F32, 2, shape), MF_ERROR_INVALID_ARGUMENT, "desc: is NULL");
  expect_status(mf_tensor_desc_contiguous(&desc, MF_DTYPE_F32, 2, nullptr), MF_ERROR_INVALID_ARGUMENT, "shape: is NULL");
  expect_status(mf_tensor_desc_contiguous(&desc, MF_DTYPE_F32, 0, shape), MF_ERROR_INVALID_ARGUMENT, "rank: 0");
  expect_status(mf_tensor_desc_contiguous(&desc, MF_DTYPE_F32, MF_MAX_RANK + 1, shape), MF_ERROR_INVALID_ARGUMENT,
                "rank: 9");
  expect_status(mf_tensor_desc_contiguous(&desc, MF_DTYPE_NONE, 2, shape), MF_ERROR_INVALID_ARGUMENT, "dtype");
  expect_status(c_tensor_desc_contiguous(&desc, 42, 2, shape), MF_ERROR_INVALID_ARGUMENT, "dtype: 42");
  const int64_t zero[] = {2, 0, 3};
  expect_status(mf_tensor_desc_contiguous(&desc, MF_DTYPE_F32, 3, zero), MF_ERROR_SHAPE_MISMATCH, "shape[1]: 0");
  const int64_t negative[] = {-4};
  expect_status(mf_tensor_desc_contiguous(&desc, MF_DTYPE_F32, 1, negative), MF_ERROR_SHAPE_MISMATCH, "shape[0]: -4");
  const int64_t huge[] = {2, int64_t{1} << 32, int64_t{1} << 32, 2};  // the stride of dimension 0 is 2^65
  expect_status(mf_tensor_desc_contiguous(&desc, MF_DTYPE_F32, 4, huge), MF_ERROR_OVERFLOW, "overflows");
}

// ---- contexts ------------------------------------------------------------------------------

TEST(CapiContext, OptionsInitSetsTheDefaults) {
  mf_context_options options;
  std::memset(&options, 0xFF, sizeof options);
  mf_context_options_init(&options);
  EXPECT_EQ(options.backend, MF_BACKEND_AUTO);
  EXPECT_EQ(options.device, 0);
  EXPECT_EQ(options.cpu_threads, 0);
  EXPECT_EQ(options.cache_dir, nullptr);
  EXPECT_EQ(options.db_path, nullptr);
  mf_context_options_init(nullptr);  // ignored, no crash
}

TEST(CapiContext, CreateRejectsBadOptions) {
  mf_context_options options;
  mf_context_options_init(&options);
  options.backend = MF_BACKEND_CPU;
  expect_status(mf_context_create(&options, nullptr), MF_ERROR_INVALID_ARGUMENT, "context: is NULL");

  const auto expect_rejected_options = [](const mf_context_options& bad, mf_status status, std::string_view what) {
    mf_context context = reinterpret_cast<mf_context>(&status);  // must be overwritten with NULL
    expect_status(mf_context_create(&bad, &context), status, what);
    EXPECT_EQ(context, nullptr);
  };
  mf_context_options bad = options;
  store_raw(bad.backend, 4);
  expect_rejected_options(bad, MF_ERROR_INVALID_ARGUMENT, "options.backend: 4");
  store_raw(bad.backend, -1);
  expect_rejected_options(bad, MF_ERROR_INVALID_ARGUMENT, "options.backend: -1");
  bad = options;
  bad.device = -1;
  expect_rejected_options(bad, MF_ERROR_INVALID_ARGUMENT, "options.device: -1");
  bad = options;
  bad.cpu_threads = -3;
  expect_rejected_options(bad, MF_ERROR_INVALID_ARGUMENT, "options.cpu_threads: -3");
  bad = options;
  bad.cpu_threads = MF_MAX_CPU_THREADS + 1;
  expect_rejected_options(bad, MF_ERROR_INVALID_ARGUMENT, "options.cpu_threads: 1025 is outside 0..1024");
  bad = options;
  bad.backend = MF_BACKEND_HIP;
  expect_rejected_options(bad, MF_ERROR_BACKEND_UNAVAILABLE, "hip");
}

TEST(CapiContext, DefaultOptionsCreateAContext) {
  mf_context context = nullptr;
  expect_success(mf_context_create(nullptr, &context));
  mf_backend backend = MF_BACKEND_AUTO;
  expect_success(mf_context_backend(context, &backend));
  EXPECT_NE(backend, MF_BACKEND_AUTO);
  expect_success(mf_context_destroy(context));
}

TEST_F(CapiErrors, CpuContextDescribesItsDevice) {
  mf_backend backend = MF_BACKEND_AUTO;
  expect_success(mf_context_backend(context(), &backend));
  EXPECT_EQ(backend, MF_BACKEND_CPU);
  mf_device_info info{};
  expect_success(mf_context_device_info(context(), &info));
  EXPECT_GT(std::strlen(info.name), 0u);
  EXPECT_LT(std::strlen(info.name), sizeof info.name);
  EXPECT_GT(std::strlen(info.arch), 0u);
  EXPECT_EQ(info.multiprocessors, kCpuThreads);
  EXPECT_GT(info.memory_bytes, 0);
  EXPECT_GE(info.l2_cache_bytes, 0);
  EXPECT_EQ(info.driver_version, 0);
}

TEST_F(CapiErrors, ContextFunctionsCheckTheirHandles) {
  const Plan plan = plan_of({evo(), ir::Direction::forward()});
  const auto plan_as_context = reinterpret_cast<mf_context>(plan.get());
  mf_backend backend{};
  mf_device_info info{};
  expect_status(mf_context_backend(nullptr, &backend), MF_ERROR_INVALID_HANDLE, "context: is NULL");
  expect_status(mf_context_backend(plan_as_context, &backend), MF_ERROR_INVALID_HANDLE,
                "context: is not a live mf_context");
  expect_status(mf_context_backend(context(), nullptr), MF_ERROR_INVALID_ARGUMENT, "backend: is NULL");
  expect_status(mf_context_device_info(nullptr, &info), MF_ERROR_INVALID_HANDLE, "context: is NULL");
  expect_status(mf_context_device_info(plan_as_context, &info), MF_ERROR_INVALID_HANDLE, "context: is not a live");
  expect_status(mf_context_device_info(context(), nullptr), MF_ERROR_INVALID_ARGUMENT, "info: is NULL");
  expect_status(mf_context_destroy(plan_as_context), MF_ERROR_INVALID_HANDLE, "context: is not a live mf_context");
}

TEST_F(CapiErrors, ContextWithLivePlansIsKept) {
  mf_plan plan = nullptr;
  expect_success(plan_create(context(), {evo(), ir::Direction::forward()}, &plan));
  expect_status(mf_context_destroy(context()), MF_ERROR_INVALID_ARGUMENT, "1 plan(s)");
  // Still alive and usable.
  mf_backend backend{};
  expect_success(mf_context_backend(context(), &backend));
  mf_plan second = nullptr;
  expect_success(plan_create(context(), {linear(), ir::Direction::forward()}, &second));
  expect_status(mf_context_destroy(context()), MF_ERROR_INVALID_ARGUMENT, "2 plan(s)");
  expect_success(mf_plan_destroy(plan));
  expect_success(mf_plan_destroy(second));
  expect_success(mf_context_destroy(context_.release()));
}

// ---- devices -------------------------------------------------------------------------------

TEST(CapiDevice, CountRejectsAutoAndUnknownBackends) {
  int32_t count = -1;
  expect_success(mf_device_count(MF_BACKEND_CPU, &count));
  EXPECT_EQ(count, 1);
  expect_success(mf_device_count(MF_BACKEND_HIP, &count));
  EXPECT_GE(count, 0);
  expect_success(mf_device_count(MF_BACKEND_CUDA, &count));
  EXPECT_GE(count, 0);
  expect_status(mf_device_count(MF_BACKEND_AUTO, &count), MF_ERROR_INVALID_ARGUMENT, "backend: 0");
  expect_status(c_device_count(7, &count), MF_ERROR_INVALID_ARGUMENT, "backend: 7");
  expect_status(c_device_count(-2, &count), MF_ERROR_INVALID_ARGUMENT, "backend: -2");
  expect_status(mf_device_count(MF_BACKEND_CPU, nullptr), MF_ERROR_INVALID_ARGUMENT, "count: is NULL");
}

TEST(CapiDevice, GetInfoChecksBackendAndOrdinal) {
  mf_device_info info{};
  expect_success(mf_device_get_info(MF_BACKEND_CPU, 0, &info));
  EXPECT_GT(std::strlen(info.name), 0u);
  EXPECT_GT(std::strlen(info.arch), 0u);
  EXPECT_GE(info.multiprocessors, 1);
  EXPECT_GT(info.memory_bytes, 0);
  EXPECT_EQ(info.driver_version, 0);
  expect_status(mf_device_get_info(MF_BACKEND_CPU, 1, &info), MF_ERROR_BACKEND_UNAVAILABLE, "ordinal");
  expect_status(mf_device_get_info(MF_BACKEND_CPU, -1, &info), MF_ERROR_BACKEND_UNAVAILABLE, "ordinal");
  expect_status(mf_device_get_info(MF_BACKEND_HIP, 0, &info), MF_ERROR_BACKEND_UNAVAILABLE, "hip");
  expect_status(mf_device_get_info(MF_BACKEND_AUTO, 0, &info), MF_ERROR_INVALID_ARGUMENT, "backend: 0");
  expect_status(c_device_get_info(9, 0, &info), MF_ERROR_INVALID_ARGUMENT, "backend: 9");
  expect_status(mf_device_get_info(MF_BACKEND_CPU, 0, nullptr), MF_ERROR_INVALID_ARGUMENT, "info: is NULL");
}

// ---- plans: common -------------------------------------------------------------------------

TEST_F(CapiErrors, WorkspaceSizeChecksItsArguments) {
  const Plan plan = plan_of({evo(), ir::Direction::forward()});
  std::size_t bytes = 99;
  expect_success(mf_plan_workspace_size(plan.get(), &bytes));
  EXPECT_EQ(bytes, 0u);  // the reference backend needs none
  expect_status(mf_plan_workspace_size(nullptr, &bytes), MF_ERROR_INVALID_HANDLE, "plan: is NULL");
  expect_status(mf_plan_workspace_size(reinterpret_cast<mf_plan>(context()), &bytes), MF_ERROR_INVALID_HANDLE,
                "plan: is not a live mf_plan");
  expect_status(mf_plan_workspace_size(plan.get(), nullptr), MF_ERROR_INVALID_ARGUMENT, "bytes: is NULL");
}

TEST_F(CapiErrors, DescribeReportsTheSizeItNeeds) {
  const Plan plan = plan_of({evo(), ir::Direction::forward()});
  std::size_t required = 0;
  expect_status(mf_plan_describe(plan.get(), nullptr, 0, &required), MF_ERROR_BUFFER_TOO_SMALL, "buffer");
  ASSERT_GT(required, 2u);
  std::vector<char> buffer(required, 'x');
  std::size_t again = 0;
  expect_status(mf_plan_describe(plan.get(), buffer.data(), required - 1, &again), MF_ERROR_BUFFER_TOO_SMALL,
                fmt::format("needs {} bytes, {} given", required, required - 1));
  EXPECT_EQ(again, required);
  expect_status(mf_plan_describe(plan.get(), nullptr, 0, nullptr), MF_ERROR_BUFFER_TOO_SMALL, "buffer");
  expect_success(mf_plan_describe(plan.get(), buffer.data(), required, nullptr));
  EXPECT_EQ(std::strlen(buffer.data()), required - 1);
  EXPECT_EQ(buffer.front(), '{');
  expect_status(mf_plan_describe(nullptr, buffer.data(), buffer.size(), &required), MF_ERROR_INVALID_HANDLE,
                "plan: is NULL");
  expect_status(mf_plan_describe(reinterpret_cast<mf_plan>(context()), buffer.data(), buffer.size(), &required),
                MF_ERROR_INVALID_HANDLE, "plan: is not a live mf_plan");
}

// A plan's description is JSON, and JSON is UTF-8: bytes that are not (a tuning database's
// path — Linux paths are bytes — or the warning about a damaged one, which may quote the
// file's bytes) are replaced, not a reason to fail (issue 27, found by the hostile-file
// suite: mf_plan_describe failed with MF_ERROR_INTERNAL).
TEST(CapiPlanDescription, BytesThatAreNotUtf8AreReplaced) {
  const tuning_db::testing::ScratchDir dir;
  const std::string path = dir.file("tuning-\xff\xfe.db");
  std::ofstream(path) << "not a database, but long enough to be read as the header of one, with \xff in it\n";
  mf_context_options options;
  mf_context_options_init(&options);
  options.backend = MF_BACKEND_CPU;
  options.db_path = path.c_str();
  mf_context raw = nullptr;
  ASSERT_EQ(mf_context_create(&options, &raw), MF_SUCCESS) << mf_last_error();
  const Context context(raw);
  const Plan plan = make_plan(context.get(), {evo(), ir::Direction::forward()});
  std::size_t required = 0;
  expect_status(mf_plan_describe(plan.get(), nullptr, 0, &required), MF_ERROR_BUFFER_TOO_SMALL, "buffer");
  std::vector<char> buffer(required);
  expect_success(mf_plan_describe(plan.get(), buffer.data(), buffer.size(), nullptr));
  const auto description = nlohmann::json::parse(buffer.data());
  EXPECT_EQ(description.value("tuning_db", ""), dir.file("tuning-\xef\xbf\xbd\xef\xbf\xbd.db"));  // U+FFFD each
  EXPECT_NE(description.value("tuning_db_warning", "").find("\xef\xbf\xbd"), std::string::npos);
}

TEST_F(CapiErrors, DestroyChecksTheHandleKind) {
  expect_success(mf_plan_destroy(nullptr));
  expect_success(mf_context_destroy(nullptr));
  expect_status(mf_plan_destroy(reinterpret_cast<mf_plan>(context())), MF_ERROR_INVALID_HANDLE,
                "plan: is not a live mf_plan");
}

// ---- plan creation -------------------------------------------------------------------------

// NULL out-pointer, NULL descriptor, NULL and wrong-kind context for one operator.
template <class Desc, class Create>
void expect_plan_create_checks_pointers(mf_context context, const Desc& desc, Create create) {
  const Plan other = make_plan(context, {evo(), ir::Direction::forward()});
  const auto plan_as_context = reinterpret_cast<mf_context>(other.get());
  expect_status(create(context, &desc, MF_FORWARD, nullptr), MF_ERROR_INVALID_ARGUMENT, "plan: is NULL");
  const auto expect_fails = [&](mf_context c, const Desc* d, mf_status status, std::string_view what) {
    mf_plan plan = other.get();  // must be overwritten with NULL
    expect_status(create(c, d, MF_FORWARD, &plan), status, what);
    EXPECT_EQ(plan, nullptr);
  };
  expect_fails(context, nullptr, MF_ERROR_INVALID_ARGUMENT, "desc: is NULL");
  expect_fails(nullptr, &desc, MF_ERROR_INVALID_HANDLE, "context: is NULL");
  expect_fails(plan_as_context, &desc, MF_ERROR_INVALID_HANDLE, "context: is not a live mf_context");
}

TEST_F(CapiErrors, PlanCreateChecksPointersAndHandles) {
  {
    SCOPED_TRACE("evo_attention");
    expect_plan_create_checks_pointers(context(), forward_desc(evo()), mf_evo_attention_plan_create);
  }
  {
    SCOPED_TRACE("layer_norm_linear");
    expect_plan_create_checks_pointers(context(), forward_desc(linear()), mf_layer_norm_linear_plan_create);
  }
  {
    SCOPED_TRACE("transition");
    expect_plan_create_checks_pointers(context(), forward_desc(transition()), mf_transition_plan_create);
  }
}

TEST_F(CapiErrors, EvoAttentionPlanRejectsBadDescriptors) {
  using D = mf_evo_attention_desc;
  const D head_dim_512 = forward_desc(ir::msa_row_attention(1, 1, 3, 1, 512, options<EvoLayoutOptions>(DType::kF32)));
  const std::vector<BrokenDesc<D>> cases = {
      {"q absent", MF_FORWARD, [](D& d) { d.q.dtype = MF_DTYPE_NONE; }, MF_ERROR_INVALID_ARGUMENT,
       "desc.q: is required"},
      {"o absent", MF_FORWARD, [](D& d) { d.o = {}; }, MF_ERROR_INVALID_ARGUMENT, "desc.o: is required"},
      {"rank 0", MF_FORWARD, [](D& d) { d.k.rank = 0; }, MF_ERROR_INVALID_ARGUMENT, "desc.k.rank: 0 is outside 1..8"},
      {"rank 9", MF_FORWARD, [](D& d) { d.bias.rank = 9; }, MF_ERROR_INVALID_ARGUMENT, "desc.bias.rank: 9"},
      {"negative rank", MF_FORWARD, [](D& d) { d.lse.rank = -1; }, MF_ERROR_INVALID_ARGUMENT, "desc.lse.rank: -1"},
      {"dtype out of range", MF_FORWARD, [](D& d) { store_raw(d.v.dtype, 42); }, MF_ERROR_INVALID_ARGUMENT,
       "desc.v.dtype: 42"},
      {"mask kind out of range", MF_FORWARD, [](D& d) { store_raw(d.mask_kind, 42); }, MF_ERROR_INVALID_ARGUMENT,
       "desc.mask_kind: 42"},
      {"direction out of range", 2, [](D&) {}, MF_ERROR_INVALID_ARGUMENT, "direction: 2"},
      {"negative direction", -1, [](D&) {}, MF_ERROR_INVALID_ARGUMENT, "direction: -1"},
      {"negative stride", MF_FORWARD, [](D& d) { d.q.strides[2] = -16; }, MF_ERROR_INVALID_ARGUMENT,
       "q: dimension 2 has stride -16"},
      {"zero size", MF_FORWARD, [](D& d) { d.q.shape[2] = 0; }, MF_ERROR_SHAPE_MISMATCH, "q: dimension 2 has size 0"},
      {"negative size", MF_FORWARD, [](D& d) { d.k.shape[0] = -2; }, MF_ERROR_SHAPE_MISMATCH,
       "k: dimension 0 has size -2"},
      {"q of rank 4", MF_FORWARD, [](D& d) { d.q.rank = 4; }, MF_ERROR_SHAPE_MISMATCH, "q: has rank 4"},
      {"k shape differs from q", MF_FORWARD, [](D& d) { d.k.shape[2] = 6; }, MF_ERROR_SHAPE_MISMATCH,
       "k: has shape [2, 3, 6, 2, 8], must be [2, 3, 5, 2, 8]"},
      {"o shape differs from q", MF_FORWARD, [](D& d) { d.o.shape[4] = 4; }, MF_ERROR_SHAPE_MISMATCH, "o: has shape"},
      {"bias not broadcastable", MF_FORWARD, [](D& d) { d.bias.shape[2] = 3; }, MF_ERROR_SHAPE_MISMATCH,
       "bias: dimension 2 has size 3"},
      {"bias of rank 4", MF_FORWARD, [](D& d) { d.bias.rank = 4; }, MF_ERROR_SHAPE_MISMATCH, "bias: has rank 4"},
      {"mask not broadcastable", MF_FORWARD, [](D& d) { d.mask.shape[2] = 2; }, MF_ERROR_SHAPE_MISMATCH,
       "mask: dimension 2 has size 2"},
      {"lse shape", MF_FORWARD, [](D& d) { d.lse.shape[3] = 4; }, MF_ERROR_SHAPE_MISMATCH, "lse: has shape"},
      {"bool q", MF_FORWARD, [](D& d) { d.q.dtype = MF_DTYPE_BOOL; }, MF_ERROR_UNSUPPORTED, "q: dtype bool"},
      {"k dtype differs", MF_FORWARD, [](D& d) { d.k.dtype = MF_DTYPE_F16; }, MF_ERROR_INVALID_ARGUMENT,
       "k: dtype f16 differs"},
      {"bf16 lse", MF_FORWARD, [](D& d) { d.lse.dtype = MF_DTYPE_BF16; }, MF_ERROR_UNSUPPORTED, "lse: dtype bf16"},
      {"f32 boolean mask", MF_FORWARD, [](D& d) { d.mask.dtype = MF_DTYPE_F32; }, MF_ERROR_UNSUPPORTED,
       "mask: dtype f32"},
      {"head dim 512", MF_FORWARD, [&](D& d) { d = head_dim_512; }, MF_ERROR_UNSUPPORTED, "head dim"},
      {"offset overflow", MF_FORWARD, [](D& d) { d.q.strides[1] = kHuge; }, MF_ERROR_OVERFLOW, "q: largest element"},
      {"byte overflow", MF_FORWARD,
       [](D& d) {
         d.k.shape[0] = 2;
         d.k.strides[0] = kHuge;
       },
       MF_ERROR_OVERFLOW, "k: byte extent"},
      {"NaN scale", MF_FORWARD, [](D& d) { d.scale = std::numeric_limits<double>::quiet_NaN(); },
       MF_ERROR_INVALID_ARGUMENT, "scale"},
      {"boolean mask absent", MF_FORWARD, [](D& d) { d.mask = {}; }, MF_ERROR_INVALID_ARGUMENT, "mask: must be given"},
      {"mask without a kind", MF_FORWARD, [](D& d) { d.mask_kind = MF_MASK_NONE; }, MF_ERROR_INVALID_ARGUMENT,
       "mask: must be absent"},
      {"o overlaps itself", MF_FORWARD, [](D& d) { d.o.strides[2] = 0; }, MF_ERROR_INVALID_ARGUMENT,
       "o: overlaps itself"},
      {"dbias mode out of range", MF_BACKWARD, [](D& d) { store_raw(d.dbias_mode, 42); }, MF_ERROR_INVALID_ARGUMENT,
       "desc.dbias_mode: 42"},
      {"backward without d_o", MF_BACKWARD, [](D& d) { d.d_o = {}; }, MF_ERROR_INVALID_ARGUMENT,
       "d_o: must be given"},
      {"backward without lse", MF_BACKWARD, [](D& d) { d.lse = {}; }, MF_ERROR_INVALID_ARGUMENT,
       "lse: must be given"},
      {"gradient bit without its descriptor", MF_BACKWARD, [](D& d) { d.d_k = {}; }, MF_ERROR_INVALID_ARGUMENT,
       "d_k: must be given"},
      {"descriptor without its bit", MF_BACKWARD, [](D& d) { d.gradients &= ~MF_EVO_GRAD_V; },
       MF_ERROR_INVALID_ARGUMENT, "d_v: must be absent"},
      {"no gradient wanted", MF_BACKWARD,
       [](D& d) {
         d.gradients = 0;
         d.d_q = d.d_k = d.d_v = d.d_bias = {};
       },
       MF_ERROR_INVALID_ARGUMENT, "gradients: the backward must ask for at least one gradient"},
      {"unknown gradient bit", MF_BACKWARD, [](D& d) { d.gradients |= 0x40u; }, MF_ERROR_INVALID_ARGUMENT,
       "gradients: unknown bits 0x40"},
      {"bias gradient without bias", MF_BACKWARD,
       [](D& d) {
         d.bias = {};
         d.d_bias = {};
       },
       MF_ERROR_INVALID_ARGUMENT, "gradient of bias"},
      {"d_q shape", MF_BACKWARD, [](D& d) { d.d_q.shape[1] = 1; }, MF_ERROR_SHAPE_MISMATCH, "d_q: has shape"},
      {"d_bias dtype", MF_BACKWARD, [](D& d) { d.d_bias.dtype = MF_DTYPE_F64; }, MF_ERROR_INVALID_ARGUMENT,
       "d_bias: dtype f64 differs"},
      {"d_q rank 9", MF_BACKWARD, [](D& d) { d.d_q.rank = 9; }, MF_ERROR_INVALID_ARGUMENT, "desc.d_q.rank: 9"},
  };
  expect_rejected(context(), forward_desc(evo()), backward_desc(evo()), cases);
}

TEST_F(CapiErrors, LayerNormLinearPlanRejectsBadDescriptors) {
  using D = mf_layer_norm_linear_desc;
  const std::vector<BrokenDesc<D>> cases = {
      {"x absent", MF_FORWARD, [](D& d) { d.x = {}; }, MF_ERROR_INVALID_ARGUMENT, "desc.x: is required"},
      {"gamma absent", MF_FORWARD, [](D& d) { d.gamma = {}; }, MF_ERROR_INVALID_ARGUMENT, "desc.gamma: is required"},
      {"weight absent", MF_FORWARD, [](D& d) { d.weight = {}; }, MF_ERROR_INVALID_ARGUMENT,
       "desc.weight: is required"},
      {"rank 9", MF_FORWARD, [](D& d) { d.weight.rank = 9; }, MF_ERROR_INVALID_ARGUMENT, "desc.weight.rank: 9"},
      {"dtype out of range", MF_FORWARD, [](D& d) { store_raw(d.beta.dtype, 42); }, MF_ERROR_INVALID_ARGUMENT,
       "desc.beta.dtype: 42"},
      {"direction out of range", 5, [](D&) {}, MF_ERROR_INVALID_ARGUMENT, "direction: 5"},
      {"x of rank 3", MF_FORWARD,
       [](D& d) {
         d.x.rank = 3;
         d.x.shape[2] = d.x.strides[2] = 1;
       },
       MF_ERROR_SHAPE_MISMATCH, "x: has rank 3"},
      {"weight rows", MF_FORWARD, [](D& d) { d.weight.shape[0] = 9; }, MF_ERROR_SHAPE_MISMATCH,
       "weight: dimension 0 has size 9"},
      {"y shape", MF_FORWARD, [](D& d) { d.y.shape[1] = 5; }, MF_ERROR_SHAPE_MISMATCH, "y: has shape"},
      {"bias shape", MF_FORWARD, [](D& d) { d.bias.shape[0] = 7; }, MF_ERROR_SHAPE_MISMATCH, "bias: has shape"},
      {"negative stride", MF_FORWARD, [](D& d) { d.x.strides[1] = -1; }, MF_ERROR_INVALID_ARGUMENT,
       "x: dimension 1 has stride -1"},
      {"negative eps", MF_FORWARD, [](D& d) { d.eps = -1.0; }, MF_ERROR_INVALID_ARGUMENT, "eps"},
      {"bool x", MF_FORWARD, [](D& d) { d.x.dtype = MF_DTYPE_BOOL; }, MF_ERROR_UNSUPPORTED, "x: dtype bool"},
      {"mean without rstd", MF_FORWARD, [](D& d) { d.rstd = {}; }, MF_ERROR_INVALID_ARGUMENT,
       "rstd: must be given together with mean"},
      {"overflow", MF_FORWARD, [](D& d) { d.y.strides[0] = kHuge; }, MF_ERROR_OVERFLOW, "y: largest element"},
      {"backward without d_y", MF_BACKWARD, [](D& d) { d.d_y = {}; }, MF_ERROR_INVALID_ARGUMENT, "d_y: must be given"},
      {"backward without mean", MF_BACKWARD,
       [](D& d) {
         d.mean = {};
         d.rstd = {};
       },
       MF_ERROR_INVALID_ARGUMENT, "mean: must be given"},
      {"gradient bit without its descriptor", MF_BACKWARD, [](D& d) { d.d_gamma = {}; }, MF_ERROR_INVALID_ARGUMENT,
       "d_gamma: must be given"},
      {"descriptor without its bit", MF_BACKWARD, [](D& d) { d.gradients &= ~MF_LNL_GRAD_WEIGHT; },
       MF_ERROR_INVALID_ARGUMENT, "d_weight: must be absent"},
      {"beta gradient without beta", MF_BACKWARD,
       [](D& d) {
         d.beta = {};
         d.d_beta = {};
       },
       MF_ERROR_INVALID_ARGUMENT, "gradient of beta"},
  };
  expect_rejected(context(), forward_desc(linear()), backward_desc(linear()), cases);
}

TEST_F(CapiErrors, TransitionPlanRejectsBadDescriptors) {
  using D = mf_transition_desc;
  const std::vector<BrokenDesc<D>> cases = {
      {"x absent", MF_FORWARD, [](D& d) { d.x = {}; }, MF_ERROR_INVALID_ARGUMENT, "desc.x: is required"},
      {"w2 absent", MF_FORWARD, [](D& d) { d.w2 = {}; }, MF_ERROR_INVALID_ARGUMENT, "desc.w2: is required"},
      {"rank 0", MF_FORWARD, [](D& d) { d.w1.rank = 0; }, MF_ERROR_INVALID_ARGUMENT, "desc.w1.rank: 0"},
      {"dtype out of range", MF_FORWARD, [](D& d) { store_raw(d.y.dtype, 42); }, MF_ERROR_INVALID_ARGUMENT,
       "desc.y.dtype: 42"},
      {"direction out of range", 3, [](D&) {}, MF_ERROR_INVALID_ARGUMENT, "direction: 3"},
      {"beta without gamma", MF_FORWARD,
       [](D& d) {
         d.gamma = {};
         d.mean = {};
         d.rstd = {};
       },
       MF_ERROR_INVALID_ARGUMENT, "beta: requires gamma"},
      {"statistics without LayerNorm", MF_FORWARD,
       [](D& d) {
         d.gamma = {};
         d.beta = {};
       },
       MF_ERROR_INVALID_ARGUMENT, "mean: must be absent"},
      {"odd w1", MF_FORWARD, [](D& d) { d.w1.shape[1] = 31; }, MF_ERROR_SHAPE_MISMATCH, "must be even"},
      {"w2 shape", MF_FORWARD, [](D& d) { d.w2.shape[0] = 15; }, MF_ERROR_SHAPE_MISMATCH, "w2: has shape"},
      {"zero rows", MF_FORWARD, [](D& d) { d.x.shape[0] = 0; }, MF_ERROR_SHAPE_MISMATCH, "x: dimension 0 has size 0"},
      {"f16 gamma next to f32 x", MF_FORWARD, [](D& d) { d.gamma.dtype = MF_DTYPE_F16; }, MF_ERROR_UNSUPPORTED,
       "gamma: dtype f16"},
      {"y overlaps itself", MF_FORWARD, [](D& d) { d.y.strides[0] = 0; }, MF_ERROR_INVALID_ARGUMENT,
       "y: overlaps itself"},
      {"gradient bit without its descriptor", MF_BACKWARD, [](D& d) { d.d_w2 = {}; }, MF_ERROR_INVALID_ARGUMENT,
       "d_w2: must be given"},
      {"descriptor without its bit", MF_BACKWARD, [](D& d) { d.gradients &= ~MF_TRANSITION_GRAD_X; },
       MF_ERROR_INVALID_ARGUMENT, "d_x: must be absent"},
      {"backward without d_y", MF_BACKWARD, [](D& d) { d.d_y = {}; }, MF_ERROR_INVALID_ARGUMENT, "d_y: must be given"},
  };
  expect_rejected(context(), forward_desc(transition()), backward_desc(transition()), cases);
}

// ---- execution -----------------------------------------------------------------------------

class CapiExecuteErrors : public CapiErrors {
 protected:
  const ir::Problem forward_{evo(), ir::Direction::forward()};
  const ir::Problem backward_ = backward_problem(evo());
  TensorSet forward_tensors_{forward_, 1};
  TensorSet backward_tensors_{backward_, 2};

  mf_status run(const Plan& plan, const ir::Problem& problem, TensorSet& tensors) {
    return execute(context(), plan.get(), problem, tensors);
  }
};

TEST_F(CapiExecuteErrors, ChecksHandlesAndArgs) {
  const Plan plan = plan_of(forward_);
  const auto args = pointers<mf_evo_attention_args>(evo(), forward_tensors_);
  const auto plan_as_context = reinterpret_cast<mf_context>(plan.get());
  expect_status(mf_evo_attention_execute(nullptr, plan.get(), &args, nullptr, 0, nullptr), MF_ERROR_INVALID_HANDLE,
                "context: is NULL");
  expect_status(mf_evo_attention_execute(plan_as_context, plan.get(), &args, nullptr, 0, nullptr),
                MF_ERROR_INVALID_HANDLE, "context: is not a live mf_context");
  expect_status(mf_evo_attention_execute(context(), nullptr, &args, nullptr, 0, nullptr), MF_ERROR_INVALID_HANDLE,
                "plan: is NULL");
  expect_status(mf_evo_attention_execute(context(), reinterpret_cast<mf_plan>(context()), &args, nullptr, 0, nullptr),
                MF_ERROR_INVALID_HANDLE, "plan: is not a live mf_plan");
  expect_status(mf_evo_attention_execute(context(), plan.get(), nullptr, nullptr, 0, nullptr),
                MF_ERROR_INVALID_ARGUMENT, "args: is NULL");
  const mf_layer_norm_linear_args linear_args{};
  expect_status(mf_layer_norm_linear_execute(context(), plan.get(), &linear_args, nullptr, 0, nullptr),
                MF_ERROR_INVALID_ARGUMENT, "execute it with mf_evo_attention_execute");
  const mf_transition_args transition_args{};
  expect_status(mf_transition_execute(context(), plan.get(), &transition_args, nullptr, 0, nullptr),
                MF_ERROR_INVALID_ARGUMENT, "execute it with mf_evo_attention_execute");
  const Plan linear_plan = plan_of({linear(), ir::Direction::forward()});
  expect_status(mf_evo_attention_execute(context(), linear_plan.get(), &args, nullptr, 0, nullptr),
                MF_ERROR_INVALID_ARGUMENT, "execute it with mf_layer_norm_linear_execute");
  // Nothing was written by the failed calls.
  for (double value : forward_tensors_.at("o").values()) ASSERT_TRUE(std::isnan(value));
}

TEST_F(CapiExecuteErrors, PlanOfAnotherContextIsRejected) {
  const Context other = cpu_context();
  const Plan plan = make_plan(other.get(), forward_);
  expect_status(run(plan, forward_, forward_tensors_), MF_ERROR_CONTEXT_MISMATCH, "plan: belongs to another context");
  const auto args = pointers<mf_evo_attention_args>(evo(), forward_tensors_);
  expect_success(mf_evo_attention_execute(other.get(), plan.get(), &args, nullptr, 0, nullptr));
}

TEST_F(CapiExecuteErrors, NullDataOfEveryPresentTensorIsRejected) {
  for (const auto* problem : {&forward_, &backward_}) {
    TensorSet& tensors = problem == &forward_ ? forward_tensors_ : backward_tensors_;
    const Plan plan = plan_of(*problem);
    for (const ir::NamedTensor& named : ir::tensor_list(*problem)) {
      const std::string name(named.name);
      SCOPED_TRACE(name);
      void* original = tensors[name];
      tensors.bind(name, nullptr);
      expect_status(run(plan, *problem, tensors), MF_ERROR_INVALID_ARGUMENT, fmt::format("args.{}: is NULL", name));
      tensors.bind(name, original);
    }
    expect_success(run(plan, *problem, tensors));
  }
}

TEST_F(CapiExecuteErrors, PointersOfAbsentTensorsAreIgnored) {
  const ir::Problem bare{ir::msa_row_attention(1, 2, 3, 1, 8, options<EvoLayoutOptions>(DType::kF32, [](auto& o) {
                                                 o.with_bias = false;
                                                 o.mask_kind = ir::MaskKind::kNone;
                                               })),
                         ir::Direction::forward()};
  TensorSet tensors(bare, 3);
  for (const char* absent : {"bias", "mask", "d_o", "d_q", "d_k", "d_v", "d_bias"})
    tensors.bind(absent, reinterpret_cast<void*>(std::uintptr_t{1}));  // never dereferenced
  const Plan plan = plan_of(bare);
  expect_success(run(plan, bare, tensors));
}

TEST_F(CapiExecuteErrors, MisalignedDataIsRejected) {
  const Plan plan = plan_of(forward_);
  for (const char* name : {"q", "v", "bias", "o", "lse"}) {
    SCOPED_TRACE(name);
    void* original = forward_tensors_[name];
    forward_tensors_.bind(name, static_cast<char*>(original) + 1);
    expect_status(run(plan, forward_, forward_tensors_), MF_ERROR_MISALIGNED, fmt::format("args.{}: address", name));
    forward_tensors_.bind(name, original);
  }
  // Two-byte elements need two-byte alignment.
  const ir::Problem half{ir::msa_row_attention(1, 2, 3, 1, 8, options<EvoLayoutOptions>(DType::kBF16)), ir::Direction::forward()};
  TensorSet tensors(half, 4);
  tensors.bind("k", static_cast<char*>(static_cast<void*>(tensors["k"])) + 1);
  const Plan half_plan = plan_of(half);
  expect_status(run(half_plan, half, tensors), MF_ERROR_MISALIGNED, "args.k: address");
}

TEST_F(CapiExecuteErrors, OutputsOverlappingOtherTensorsAreRejected) {
  {
    const Plan plan = plan_of(forward_);
    forward_tensors_.bind("o", forward_tensors_["q"]);
    expect_status(run(plan, forward_, forward_tensors_), MF_ERROR_INVALID_ARGUMENT,
                  "args.o: the memory it writes overlaps args.q");
    forward_tensors_.bind("o", forward_tensors_.at("o").data());
    forward_tensors_.bind("lse", static_cast<float*>(static_cast<void*>(forward_tensors_["o"])) + 4);
    expect_status(run(plan, forward_, forward_tensors_), MF_ERROR_INVALID_ARGUMENT,
                  "args.o: the memory it writes overlaps args.lse");
  }
  const Plan plan = plan_of(backward_);
  backward_tensors_.bind("d_q", backward_tensors_["k"]);
  expect_status(run(plan, backward_, backward_tensors_), MF_ERROR_INVALID_ARGUMENT,
                "args.d_q: the memory it writes overlaps args.k");
  backward_tensors_.bind("d_q", backward_tensors_["d_k"]);
  expect_status(run(plan, backward_, backward_tensors_), MF_ERROR_INVALID_ARGUMENT,
                "args.d_q: the memory it writes overlaps args.d_k");
  backward_tensors_.bind("d_q", backward_tensors_.at("d_q").data());
  expect_success(run(plan, backward_, backward_tensors_));
}

TEST_F(CapiExecuteErrors, CpuIgnoresTheStreamAndSpareWorkspace) {
  const Plan plan = plan_of(forward_);
  const auto args = pointers<mf_evo_attention_args>(evo(), forward_tensors_);
  std::vector<std::byte> workspace(64);
  expect_success(mf_evo_attention_execute(context(), plan.get(), &args, workspace.data(), workspace.size(),
                                          reinterpret_cast<void*>(std::uintptr_t{0x1234})));
}

}  // namespace
}  // namespace mf::capi_test
