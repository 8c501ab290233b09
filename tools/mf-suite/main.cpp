// mf-suite: runs the AF3 problem suite (DESIGN.md §5) through the C API on the detected
// backend and prints, per problem and pass, the time and the error against the fp64
// reference. The README's main job until mf-tune exists.
#include <fmt/format.h>

#include <cstdlib>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <string>

#include "mf/bridge/binding.h"
#include "mf/ir/tensor_list.h"
#include "suite.h"

namespace {

using mf::bridge::BoundProblem;

struct Options {
  mf_backend backend = MF_BACKEND_AUTO;
  bool full_size = false;  // default: scaled down on the cpu, full size on a GPU
  int repeats = 3;
  bool sweep = false;  // add the other crop sizes N of DESIGN.md §5
  std::string filter;
};

[[noreturn]] void usage(const char* message) {
  std::fprintf(stderr,
               "%s\nusage: mf-suite [--backend auto|cpu|cuda] [--full-size] [--sweep] [--repeats N] [--filter TEXT]\n",
               message);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + arg).c_str());
      return argv[++i];
    };
    if (arg == "--backend") {
      std::string name = value();
      if (name == "auto") options.backend = MF_BACKEND_AUTO;
      else if (name == "cpu") options.backend = MF_BACKEND_CPU;
      else if (name == "cuda") options.backend = MF_BACKEND_CUDA;
      else usage(("unknown backend " + name).c_str());
    } else if (arg == "--full-size") {
      options.full_size = true;
    } else if (arg == "--sweep") {
      options.sweep = true;
    } else if (arg == "--repeats") {
      options.repeats = std::atoi(value().c_str());
      if (options.repeats < 1) usage("--repeats must be at least 1");
    } else if (arg == "--filter") {
      options.filter = value();
    } else {
      usage(("unknown argument " + arg).c_str());
    }
  }
  return options;
}

mf_context create_context(mf_backend backend) {
  mf_context_options options;
  mf_context_options_init(&options);
  options.backend = backend;
  mf_context context = nullptr;
  if (mf_status status = mf_context_create(&options, &context); status != MF_SUCCESS)
    throw std::runtime_error(fmt::format("context: {}: {}", mf_status_string(status), mf_last_error()));
  return context;
}

const char* backend_name(mf_context context) {
  mf_backend backend = MF_BACKEND_AUTO;
  mf_context_backend(context, &backend);
  return backend == MF_BACKEND_CUDA ? "cuda" : backend == MF_BACKEND_HIP ? "hip" : "cpu";
}

// DESIGN.md §1.4 tolerance of the problem's dtype (that of its first tensor).
double tolerance(const mf::ir::Problem& problem) {
  return mf::reference::tolerance(mf::ir::tensor_list(problem).front().desc->dtype);
}

// The worst relative error over the tensors the pass writes.
std::pair<double, std::string> worst_error(const BoundProblem& out, const BoundProblem& ref) {
  std::pair<double, std::string> worst{0.0, "-"};
  for (const auto& tensor : mf::ir::tensor_list(out.problem)) {
    if (tensor.access != mf::ir::Access::kWrite) continue;
    const std::string name(tensor.name);
    const double error = mf::reference::relative_error(out.tensors.at(name), ref.tensors.at(name));
    if (!(error <= worst.first)) worst = {error, name};
  }
  return worst;
}

// The backward reads what the forward saved, for the forward's inputs: hand it both (a
// backward's own random x with the forward's mean and rstd would be inconsistent).
void take_forward_tensors(BoundProblem& backward, BoundProblem& forward) {
  for (const auto& [name, tensor] : forward.tensors)
    if (backward.tensors.contains(name)) backward.tensors.at(name) = tensor;
}

struct PassResult {
  double ms = 0;
  double reference_ms = 0;  // the fp64 reference on the host, one run
  std::pair<double, std::string> error;
  std::string failure;
  mf_status status = MF_SUCCESS;
};

PassResult run_pass(mf_context context, BoundProblem& bound, BoundProblem& ref_bound, int repeats) {
  PassResult result;
  try {
    result.ms = mf::bridge::run_through_c_api(context, bound, repeats);
    const auto start = std::chrono::steady_clock::now();
    mf::bridge::run_reference(ref_bound);
    result.reference_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    result.error = worst_error(bound, ref_bound);
  } catch (const mf::bridge::CapiError& error) {
    result.failure = error.what();
    result.status = error.status;
  }
  return result;
}

struct Runner {
  mf_context context;
  int repeats;
  std::uint64_t seed;
};

// Runs one problem forward and backward on runner.context; false when its backend has no
// generator for it (nothing printed then). Counts the passes outside tolerance.
bool run_problem(Runner& runner, const std::string& name, int count, const mf::ir::Operator& op,
                 const std::string& backend_label, int& failures) {
  const mf::ir::Problem forward{op, mf::ir::Direction::forward()};
  const mf::ir::Problem backward = std::visit(
      [](const auto& o) {
        return mf::ir::Problem{with_gradients(o, o.all_gradients()), mf::ir::Direction::backward(o.all_gradients())};
      },
      op);
  BoundProblem fwd = mf::bridge::bind_random(forward, runner.seed);
  BoundProblem bwd = mf::bridge::bind_random(backward, runner.seed + 50);
  runner.seed += 100;
  for (const bool is_forward : {true, false}) {
    if (!is_forward) take_forward_tensors(bwd, fwd);
    BoundProblem& bound = is_forward ? fwd : bwd;
    BoundProblem ref_bound = mf::bridge::promoted_to_f64(bound);
    const PassResult result = run_pass(runner.context, bound, ref_bound, runner.repeats);
    if (result.status == MF_ERROR_UNSUPPORTED) return false;
    const double limit = tolerance(bound.problem);
    const bool ok = result.failure.empty() && result.error.first < limit;
    failures += ok ? 0 : 1;
    const char* pass = is_forward ? "fwd" : "bwd";
    if (!result.failure.empty())
      fmt::print("{:<40} {:<4} {:<7} {:>5} {:>11} {:>11} {:>10} {:<8} FAILED: {}\n", name, pass, backend_label, count,
                 "-", "-", "-", "-", result.failure);
    else
      fmt::print("{:<40} {:<4} {:<7} {:>5} {:>11.3f} {:>11.3f} {:>10.2e} {:<8} {}\n", name, pass, backend_label, count,
                 result.ms, result.reference_ms, result.error.first, result.error.second,
                 ok ? "ok" : fmt::format("ABOVE {:.0e}", limit));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  int failures = 0;
  try {
    mf_context context = create_context(options.backend);
    mf_context cpu = create_context(MF_BACKEND_CPU);
    const bool on_cpu = std::strcmp(backend_name(context), "cpu") == 0;
    const bool scaled = on_cpu && !options.full_size;
    mf_device_info device{};
    mf_context_device_info(context, &device);
    fmt::print("mfjit {} — AF3 suite on {} ({}, {}, {} multiprocessors, {} MiB L2, driver {}){}\n",
               mf_version_string(), backend_name(context), device.name, device.arch, device.multiprocessors,
               device.l2_cache_bytes >> 20, device.driver_version, scaled ? ", scaled down for the CPU" : "");
    fmt::print("error: ‖out − ref‖/‖ref‖ against the fp64 reference, worst tensor the pass writes; time: median\n"
               "of the runs through the C API; ref.: one run of the fp64 reference on this host\n\n");
    fmt::print("{:<40} {:<4} {:<7} {:>5} {:>11} {:>11} {:>10} {:<8} {}\n", "problem", "pass", "backend", "count",
               "time [ms]", "ref. [ms]", "error", "worst", "status");
    Runner runner{context, options.repeats, 1};
    Runner cpu_runner{cpu, options.repeats, 1};
    auto full = mf::tools::af3_suite(false);
    auto small = mf::tools::af3_suite(!options.full_size);
    if (options.sweep) {
      std::ranges::move(mf::tools::sequence_sweep(false), std::back_inserter(full));
      std::ranges::move(mf::tools::sequence_sweep(!options.full_size), std::back_inserter(small));
    }
    bool fell_back = false;
    for (std::size_t i = 0; i < full.size(); ++i) {
      const auto& entry = scaled ? small[i] : full[i];
      if (!options.filter.empty() && entry.name.find(options.filter) == std::string::npos) continue;
      if (run_problem(runner, entry.name, entry.count_per_step, entry.forward, backend_name(context), failures))
        continue;
      // No generator on this backend yet: the cpu backend runs it, scaled like a cpu run.
      fell_back = true;
      cpu_runner.seed = runner.seed;
      if (!run_problem(cpu_runner, small[i].name, small[i].count_per_step, small[i].forward, "cpu*", failures))
        throw std::logic_error("the cpu backend reported an operator unsupported");
    }
    if (fell_back)
      fmt::print("\n* {} has no generator for these operators yet: they ran on the cpu backend{}\n",
                 backend_name(context), options.full_size ? "" : ", scaled down");
    mf_context_destroy(cpu);
    mf_context_destroy(context);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "mf-suite: %s\n", error.what());
    return 1;
  }
  fmt::print("\n{}\n", failures == 0 ? "all problems within tolerance" : fmt::format("{} pass(es) failed", failures));
  return failures == 0 ? 0 : 1;
}
