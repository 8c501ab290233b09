#include "mf/tuner/capi_bench.h"

#include <fmt/format.h>

#include <cmath>
#include <future>
#include <map>
#include <stdexcept>

#include "cache_flush.h"
#include "mf/bridge/binding.h"
#include "mf/bridge/capi.h"
#include "mf/ir/tensor_list.h"
#include "mf/reference/host_tensor.h"
#include "mf/runtime/tuning_identity.h"

namespace mf::tuner {

std::unique_ptr<BenchMemory> make_host_memory();
std::unique_ptr<BenchMemory> make_gpu_memory(mf_backend backend, int ordinal, std::size_t flush_bytes);

namespace {

void check(mf_status status, const char* call) {
  if (status != MF_SUCCESS) throw std::runtime_error(fmt::format("{}: {}: {}", call, mf_status_string(status), mf_last_error()));
}

// A plan of one configuration.
struct PlanCandidate final : Compiled {
  mf_plan plan = nullptr;
  explicit PlanCandidate(mf_plan made) : plan(made) {}
  ~PlanCandidate() override { mf_plan_destroy(plan); }
};

// The tensors' buffers in the bench memory, looked up by name as bridge::execute does.
struct Buffers {
  std::map<std::string, void*, std::less<>> address;
  bridge::AnyPointer operator[](std::string_view name) const {
    const auto found = address.find(name);
    return {found == address.end() ? nullptr : found->second};
  }
};

class CapiBench final : public Bench {
 public:
  CapiBench(mf_context context, const ir::Problem& problem, std::uint64_t seed, std::unique_ptr<BenchMemory> memory)
      : context_(context), problem_(problem), memory_(std::move(memory)), bound_(bridge::bind_random(problem, seed)) {
    for (const auto& [name, host] : bound_.tensors) {
      void* buffer = memory_->allocate(host.bytes());
      memory_->upload(buffer, host.data(), host.bytes());
      buffers_.address.emplace(name, buffer);
    }
    for (const ir::NamedTensor& t : ir::tensor_list(problem_))
      if (t.access == ir::Access::kWrite) outputs_.emplace_back(t.name);
    if (problem_.direction.pass == ir::Pass::kBackward) run_forward();
    // The exact values once: flattening a strided tensor costs as much as the comparison.
    const bridge::BoundProblem reference = reference_result();
    for (const auto& name : outputs_) exact_.emplace(name, reference.tensors.at(name).values());
  }
  ~CapiBench() override {
    if (workspace_ != nullptr) memory_->release(workspace_);
  }

  std::vector<compiler::ParameterSpace> spaces() const override { return runtime::tuning_spaces(context_, problem_); }
  ir::TileConfig default_config() const override { return runtime::tuning_default_config(context_, problem_); }

  std::unique_ptr<Compiled> compile(const ir::TileConfig& config) const override {
    return std::make_unique<PlanCandidate>(runtime::tuning_plan(context_, problem_, config));
  }

  std::string verify(Compiled& candidate) override {
    reset_outputs();
    run(static_cast<PlanCandidate&>(candidate).plan);
    memory_->synchronize();
    // Each output is compared on its own thread while the next one downloads: a backward's
    // three large gradients would otherwise make the check cost more than the timing.
    std::vector<reference::HostTensor> actual;
    std::vector<std::future<double>> errors;
    actual.reserve(outputs_.size());
    for (const auto& name : outputs_) {
      reference::HostTensor& tensor = actual.emplace_back(bound_.tensors.at(name).desc());
      memory_->download(tensor.data(), buffers_.address.at(name), tensor.bytes());
      errors.push_back(std::async(std::launch::async, [&tensor, &exact = exact_.at(name)] {
        return reference::result_error(tensor, exact);
      }));
    }
    std::string failures;
    for (std::size_t i = 0; i < outputs_.size(); ++i) {
      const double error = errors[i].get();
      const double limit = std::max(reference::tolerance(input_dtype()), reference::tolerance(actual[i].desc().dtype));
      if (!(error <= limit))
        failures += fmt::format("{}{}: relative error {:.3g} > {:.3g}", failures.empty() ? "" : "; ", outputs_[i],
                                error, limit);
    }
    return failures;
  }

  std::vector<double> time(Compiled& candidate, int warmup, int repeats) override {
    const mf_plan plan = static_cast<PlanCandidate&>(candidate).plan;
    for (int i = 0; i < warmup; ++i) run(plan);
    std::vector<double> samples;
    for (int i = 0; i < repeats; ++i) {
      reset_outputs();
      memory_->flush_caches();
      samples.push_back(memory_->time_us([&] { run(plan); }));
    }
    return samples;
  }

 private:
  ir::DType input_dtype() const {
    return std::visit(
        [](const auto& op) {
          using Op = std::decay_t<decltype(op)>;
          if constexpr (std::is_same_v<Op, ir::EvoAttention>) return op.q.dtype;
          else return op.x.dtype;
        },
        problem_.op);
  }

  void reset_outputs() {
    for (const auto& name : outputs_) memory_->poison(buffers_.address.at(name), bound_.tensors.at(name).bytes());
  }

  void run(mf_plan plan) {
    std::size_t bytes = 0;
    check(mf_plan_workspace_size(plan, &bytes), "mf_plan_workspace_size");
    if (bytes > workspace_bytes_) {
      if (workspace_ != nullptr) memory_->release(workspace_);
      workspace_ = memory_->allocate(bytes);
      workspace_bytes_ = bytes;
    }
    check(bridge::execute(context_, plan, problem_, buffers_, workspace_, workspace_bytes_, nullptr), "execute");
  }

  // A backward reads what its forward saved: run the forward (the generator's default) on
  // the bound inputs, as training does, and keep its outputs as the backward's inputs.
  void run_forward() {
    const ir::Problem forward{ir::forward_operator(problem_.op), ir::Direction::forward()};
    PlanCandidate plan(runtime::tuning_plan(context_, forward, runtime::tuning_default_config(context_, forward)));
    std::size_t bytes = 0;
    check(mf_plan_workspace_size(plan.plan, &bytes), "mf_plan_workspace_size");
    void* workspace = bytes > 0 ? memory_->allocate(bytes) : nullptr;
    check(bridge::execute(context_, plan.plan, forward, buffers_, workspace, bytes, nullptr), "forward execute");
    memory_->synchronize();
    if (workspace != nullptr) memory_->release(workspace);
    for (const ir::NamedTensor& t : ir::tensor_list(forward))
      if (t.access == ir::Access::kWrite) {
        auto& host = bound_.tensors.at(std::string(t.name));
        memory_->download(host.data(), buffers_.address.at(std::string(t.name)), host.bytes());
      }
  }

  // The outputs in fp64 from the reference implementation (never from a generator that
  // is itself tuned or tested).
  bridge::BoundProblem reference_result() const {
    bridge::BoundProblem reference = bridge::promoted_to_f64(bound_);
    bridge::run_reference(reference);
    return reference;
  }

  mf_context context_;
  ir::Problem problem_;
  std::unique_ptr<BenchMemory> memory_;
  bridge::BoundProblem bound_;
  std::map<std::string, std::vector<double>> exact_;  // per output, the reference's values
  Buffers buffers_;
  std::vector<std::string> outputs_;
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
};

}  // namespace

std::unique_ptr<BenchMemory> bench_memory_for(mf_context context, int device) {
  mf_backend backend = MF_BACKEND_AUTO;
  check(mf_context_backend(context, &backend), "mf_context_backend");
  if (backend == MF_BACKEND_CPU) return make_host_memory();
  mf_device_info info{};
  check(mf_context_device_info(context, &info), "mf_context_device_info");
  const std::size_t flush_bytes = cache_flush_bytes(info.arch, info.l2_cache_bytes);
  if (backend == MF_BACKEND_CUDA || backend == MF_BACKEND_HIP) return make_gpu_memory(backend, device, flush_bytes);
  throw std::runtime_error("the tuner cannot measure on this backend's devices");
}

std::unique_ptr<Bench> make_capi_bench(mf_context context, const ir::Problem& problem, std::uint64_t seed,
                                       std::unique_ptr<BenchMemory> memory) {
  return std::make_unique<CapiBench>(context, problem, seed, std::move(memory));
}

}  // namespace mf::tuner
