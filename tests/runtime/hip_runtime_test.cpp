// The hip backend where no AMD GPU is present: the C API reports no HIP devices, and
// describing a device or creating a context is MF_ERROR_BACKEND_UNAVAILABLE with the HIP
// runtime's own reason (hipInit's error with the distribution's HIP and no device; the
// dlopen failure under $MFJIT_HIP_RUNTIME naming a missing library, the ctest entry
// runtime.hip_runtime_missing).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "hip_runtime.h"
#include "runtime/capi_helpers.h"

namespace mf::runtime {
namespace {

using capi_test::expect_status;
using capi_test::expect_success;

constexpr const char* kMissingLibrary = "/nonexistent/libamdhip64.so.5";

bool runtime_missing_run() {
  const char* library = std::getenv("MFJIT_HIP_RUNTIME");
  return library != nullptr && std::string(library) == kMissingLibrary;
}

// What every no-device path must say: why there is no HIP device.
std::string expected_reason() { return runtime_missing_run() ? kMissingLibrary : "hipInit failed"; }

class HipWithoutDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    if (hip_device_count() > 0) GTEST_SKIP() << "this machine has an AMD GPU";
  }
};

TEST_F(HipWithoutDevice, ReportsNoDevices) {
  EXPECT_THAT(hip_unavailable_reason(), ::testing::HasSubstr(expected_reason()));
  int32_t count = -1;
  expect_success(mf_device_count(MF_BACKEND_HIP, &count));
  EXPECT_EQ(count, 0);
}

TEST_F(HipWithoutDevice, DeviceInfoNamesWhy) {
  mf_device_info info{};
  expect_status(mf_device_get_info(MF_BACKEND_HIP, 0, &info), MF_ERROR_BACKEND_UNAVAILABLE,
                "hip backend unavailable: ");
  expect_status(mf_device_get_info(MF_BACKEND_HIP, 0, &info), MF_ERROR_BACKEND_UNAVAILABLE, expected_reason());
}

TEST_F(HipWithoutDevice, ContextCreationNamesWhy) {
  mf_context_options options{};
  mf_context_options_init(&options);
  options.backend = MF_BACKEND_HIP;
  mf_context context = nullptr;
  expect_status(mf_context_create(&options, &context), MF_ERROR_BACKEND_UNAVAILABLE, expected_reason());
  EXPECT_EQ(context, nullptr);
}

}  // namespace
}  // namespace mf::runtime
