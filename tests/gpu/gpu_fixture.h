// What the GPU tests share: a cuda context (the suite skips without a device), device
// memory, and problems' tensors copied to it. The oracle is mf::reference, run directly
// (bridge::run_reference).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "gpu/device_memory.h"
#include "mf/bridge/binding.h"
#include "mf/bridge/capi.h"
#include "mfjit/mfjit.h"

namespace mf::gpu {

class GpuTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  static mf_context cuda_;
  static std::string skip_reason_;
  static std::unique_ptr<DeviceMemory> device_;
};

// The device copy of a bound problem: one buffer per tensor.
struct DeviceTensors {
  DeviceMemory& memory;
  std::map<std::string, DeviceBuffer, std::less<>> buffers;
  bridge::AnyPointer operator[](std::string_view name) const;
};

DeviceTensors upload(DeviceMemory& memory, const bridge::BoundProblem& bound);
void download(DeviceMemory& memory, const DeviceTensors& device, bridge::BoundProblem& bound, std::string_view name);

}  // namespace mf::gpu
