#include "gpu/gpu_fixture.h"

namespace mf::gpu {

mf_context GpuTest::cuda_ = nullptr;
std::string GpuTest::skip_reason_;
std::unique_ptr<DeviceMemory> GpuTest::device_;

void GpuTest::SetUpTestSuite() {
  mf_context_options options;
  mf_context_options_init(&options);
  options.backend = MF_BACKEND_CUDA;
  if (mf_context_create(&options, &cuda_) != MF_SUCCESS) {
    skip_reason_ = mf_last_error();
    return;
  }
  device_ = std::make_unique<DeviceMemory>();
}

void GpuTest::TearDownTestSuite() {
  if (cuda_ != nullptr) mf_context_destroy(cuda_);
  cuda_ = nullptr;
  device_.reset();
}

void GpuTest::SetUp() {
  if (cuda_ == nullptr) GTEST_SKIP() << "no cuda device: " << skip_reason_;
}

bridge::AnyPointer DeviceTensors::operator[](std::string_view name) const {
  auto found = buffers.find(name);
  return {found == buffers.end() ? nullptr : reinterpret_cast<void*>(found->second.address)};
}

DeviceTensors upload(DeviceMemory& memory, const bridge::BoundProblem& bound) {
  DeviceTensors device{memory, {}};
  for (const auto& [name, host] : bound.tensors) {
    auto buffer = memory.allocate(host.bytes());
    memory.upload(buffer, host.data(), host.bytes());
    device.buffers.emplace(name, std::move(buffer));
  }
  return device;
}

void download(DeviceMemory& memory, const DeviceTensors& device, bridge::BoundProblem& bound, std::string_view name) {
  auto& host = bound.tensors.at(std::string(name));
  memory.download(host.data(), device.buffers.at(std::string(name)), host.bytes());
}

}  // namespace mf::gpu
