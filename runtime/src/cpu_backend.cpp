#include "cpu_backend.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "cpu_generated.h"
#include "status.h"
#include "mf/reference/reference.h"

namespace mf::runtime {
namespace {

std::string cpu_model_name() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    auto colon = line.find(':');
    if (colon != std::string::npos && colon + 2 <= line.size()) return line.substr(colon + 2);
  }
  return "host CPU";
}

void copy_string(char* destination, std::size_t size, const std::string& source) {
  std::snprintf(destination, size, "%s", source.c_str());
}

reference::EvoAttentionData to_reference(const mf_evo_attention_args& a) {
  return {a.q, a.k, a.v, a.bias, a.mask, a.o, a.lse, a.d_o, a.d_q, a.d_k, a.d_v, a.d_bias};
}

reference::LayerNormLinearData to_reference(const mf_layer_norm_linear_args& a) {
  return {a.x, a.gamma, a.beta, a.weight, a.bias, a.y, a.mean, a.rstd,
          a.d_y, a.d_x, a.d_gamma, a.d_beta, a.d_weight, a.d_bias};
}

reference::TransitionData to_reference(const mf_transition_args& a) {
  return {a.x, a.gamma, a.beta, a.w1, a.w2, a.y, a.mean, a.rstd, a.d_y, a.d_x, a.d_gamma, a.d_beta, a.d_w1, a.d_w2};
}

class ReferenceExecutable final : public Executable {
 public:
  ReferenceExecutable(ir::Problem problem, reference::ThreadPool& pool) : problem_(std::move(problem)), pool_(pool) {}

  std::size_t workspace_size() const override { return 0; }

  void execute(const OperatorArgs& args, void* /*workspace*/, void* /*stream*/) override {
    std::visit(
        [&](const auto& op) {
          using Args = decltype(arguments_of(op));
          reference::run(op, problem_.direction, to_reference(std::get<Args>(args)), pool_);
        },
        problem_.op);
  }

 private:
  static mf_evo_attention_args arguments_of(const ir::EvoAttention&);
  static mf_layer_norm_linear_args arguments_of(const ir::LayerNormLinear&);
  static mf_transition_args arguments_of(const ir::Transition&);

  ir::Problem problem_;
  reference::ThreadPool& pool_;
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : pool_(threads), device_(host_device_info(pool_.threads())) {}

  mf_backend kind() const override { return MF_BACKEND_CPU; }
  const mf_device_info& device() const override { return device_; }
  // Generated code where the MLIR generator serves the problem, else the reference.
  std::string generator_for(const ir::Problem& problem) const override { return offered(problem).front(); }
  // Neither host generator has tunable parameters yet.
  ir::TileConfig default_config(const ir::Problem&) const override { return {}; }
  // The tuner measures the reference beside the generated code: on a host whose threads
  // outnumber what the generated code uses, the reference may be the faster one.
  std::vector<compiler::ParameterSpace> spaces(const ir::Problem& problem) const override {
    std::vector<compiler::ParameterSpace> out(offered(problem).size());
    if (out.size() > 1) out[1].generator = kReference;
    return out;
  }
  std::optional<std::string> rejects(const ir::Problem& problem, const ir::TileConfig& config) const override {
    return rejection(spaces(problem), config, generator_for(problem));
  }
  std::string generator_hash(const ir::Problem& problem) const override {
    std::string hash;
    for (const auto& name : offered(problem))
      hash += (hash.empty() ? "" : " + ") + (name == kMlir ? generated_version() : std::string("reference/1"));
    return hash;
  }
  std::string toolkit_version() const override { return generated_version(); }
  std::unique_ptr<Executable> build(const ir::Problem& problem, const ir::TileConfig& config) override {
    if (const auto why = rejects(problem, config)) fail(MF_ERROR_INVALID_ARGUMENT, *why);
    if (generator_of(problem, config) == kMlir) return build_generated(problem, pool_);
    return std::make_unique<ReferenceExecutable>(problem, pool_);
  }

 private:
  static constexpr const char* kMlir = "mlir";
  static constexpr const char* kReference = "reference";

  // The MLIR generator's host code first where it serves the problem; the reference always.
  static std::vector<std::string> offered(const ir::Problem& problem) {
    if (generated_unsupported(problem)) return {kReference};
    return {kMlir, kReference};
  }

  reference::ThreadPool pool_;
  mf_device_info device_;
};

}  // namespace

mf_device_info host_device_info(int threads) {
  mf_device_info info{};
  copy_string(info.name, sizeof info.name, cpu_model_name());
  utsname machine{};
  copy_string(info.arch, sizeof info.arch, uname(&machine) == 0 ? machine.machine : "unknown");
  info.multiprocessors = threads;
  info.memory_bytes = static_cast<std::int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  info.l2_cache_bytes = std::max<long>(sysconf(_SC_LEVEL2_CACHE_SIZE), 0);
  info.driver_version = 0;
  return info;
}

std::unique_ptr<Backend> create_cpu_backend(int threads) { return std::make_unique<CpuBackend>(threads); }

}  // namespace mf::runtime
