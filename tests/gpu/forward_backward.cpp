#include "gpu/forward_backward.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "mf/ir/tensor_list.h"
#include "mf/reference/host_tensor.h"

namespace mf::gpu {
namespace {

// Executes the forward, then the backward, with a poisoned workspace of the larger plan's
// size (the MLIR generator's forward kernels need one where the template ones do not).
mf_status run_both(mf_context cuda, DeviceMemory& memory, mf_plan forward_plan, mf_plan backward_plan,
                   const ir::Problem& backward, const DeviceTensors& device) {
  const ir::Problem forward{ir::forward_operator(backward.op), ir::Direction::forward()};
  std::size_t forward_bytes = 0, workspace_bytes = 0;
  mf_plan_workspace_size(forward_plan, &forward_bytes);
  mf_plan_workspace_size(backward_plan, &workspace_bytes);
  workspace_bytes = std::max(workspace_bytes, forward_bytes);
  auto workspace = memory.allocate(std::max<std::size_t>(workspace_bytes, 1));
  memory.poison(workspace, workspace_bytes);
  mf_status status = bridge::execute(cuda, forward_plan, forward, device, reinterpret_cast<void*>(workspace.address),
                                     workspace_bytes, nullptr);
  if (status == MF_SUCCESS)
    status = bridge::execute(cuda, backward_plan, backward, device, reinterpret_cast<void*>(workspace.address),
                             workspace_bytes, nullptr);
  memory.synchronize();
  return status;
}

std::set<std::string> written_by(const ir::Problem& problem) {
  std::set<std::string> names;
  for (const ir::NamedTensor& t : ir::tensor_list(problem))
    if (t.access == ir::Access::kWrite) names.emplace(t.name);
  return names;
}

}  // namespace

std::vector<std::string> check_forward_backward(mf_context cuda, DeviceMemory& memory,
                                                mf_plan forward_plan, mf_plan backward_plan,
                                                const ir::Problem& backward, std::uint64_t seed, double limit) {
  const ir::Problem forward{ir::forward_operator(backward.op), ir::Direction::forward()};
  const std::set<std::string> saved = written_by(forward);
  std::set<std::string> written = written_by(backward);
  written.insert(saved.begin(), saved.end());

  bridge::BoundProblem gpu_side = bridge::bind_random(backward, seed);
  DeviceTensors device = upload(memory, gpu_side);
  for (const auto& name : written) memory.poison(device.buffers.at(name), gpu_side.tensors.at(name).bytes());
  if (run_both(cuda, memory, forward_plan, backward_plan, backward, device) != MF_SUCCESS)
    return {fmt::format("execute: {}", mf_last_error())};
  for (const auto& name : written) download(memory, device, gpu_side, name);

  bridge::BoundProblem reference = bridge::promoted_to_f64(gpu_side);
  bridge::BoundProblem reference_forward{{reference.problem.op, ir::Direction::forward()}, {}};
  for (const ir::NamedTensor& t : ir::tensor_list(forward)) {
    reference_forward.tensors.emplace(std::string(t.name), reference.tensors.at(std::string(t.name)));
    if (t.access == ir::Access::kWrite) reference_forward.tensors.at(std::string(t.name)).poison();
  }
  bridge::run_reference(reference_forward);
  bridge::run_reference(reference);
  std::vector<std::string> failures;
  for (const auto& name : written) {
    const auto& expected = (saved.count(name) ? reference_forward : reference).tensors.at(name);
    const double error = reference::result_error(gpu_side.tensors.at(name), expected);
    if (!(error <= limit)) failures.push_back(fmt::format("{}: relative error {:.3g} > {:.3g}", name, error, limit));
  }
  return failures;
}

std::vector<std::string> differing_between_runs(mf_context cuda, DeviceMemory& memory, mf_plan forward_plan,
                                                mf_plan backward_plan, const ir::Problem& backward,
                                                const std::vector<std::string>& outputs) {
  bridge::BoundProblem first = bridge::bind_random(backward, 5);
  bridge::BoundProblem second = first;
  for (auto* bound : {&first, &second}) {
    DeviceTensors device = upload(memory, *bound);
    if (run_both(cuda, memory, forward_plan, backward_plan, backward, device) != MF_SUCCESS)
      return {fmt::format("execute: {}", mf_last_error())};
    for (const auto& name : outputs) download(memory, device, *bound, name);
  }
  std::vector<std::string> differing;
  for (const auto& name : outputs) {
    const auto& a = first.tensors.at(name);
    if (std::memcmp(a.data(), second.tensors.at(name).data(), a.bytes()) != 0) differing.push_back(name);
  }
  return differing;
}

}  // namespace mf::gpu
