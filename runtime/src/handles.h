// The objects behind the C API's opaque handles.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "argument_check.h"
#include "backend.h"
#include "config_provider.h"

// Both handle kinds start with a tag, so a handle of the wrong kind is reported instead of
// used. Destroying clears the tag, which catches some uses of a destroyed handle in
// debugging, but such use stays undefined (the memory may hold a new handle).
enum class HandleTag : std::uint32_t { kDead = 0, kContext = 0x6D66'6378, kPlan = 0x6D66'706C };

struct mf_context_s {
  HandleTag tag = HandleTag::kContext;
  std::unique_ptr<mf::runtime::Backend> backend;
  std::unique_ptr<mf::runtime::ConfigProvider> configs;
  std::string cache_dir;
  std::string db_path;
  std::atomic<int> live_plans{0};
};

struct mf_plan_s {
  HandleTag tag = HandleTag::kPlan;
  mf_context_s* context = nullptr;
  mf::ir::Problem problem;
  std::vector<mf::runtime::TensorFootprint> tensors;  // of `problem`, for the argument checks
  std::string key;
  std::string generator;
  mf::runtime::ConfigChoice config;
  std::unique_ptr<mf::runtime::Executable> executable;
};

namespace mf::runtime {

// Throw MF_ERROR_INVALID_HANDLE naming `argument` unless the handle is live and of the kind.
mf_context_s& checked(mf_context context, const char* argument);
mf_plan_s& checked(mf_plan plan, const char* argument);

}  // namespace mf::runtime
