#include "mf/runtime/tuning_identity.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <stdexcept>

#include "config_provider.h"
#include "handles.h"
#include "paths.h"
#include "mf/ir/validate.h"
#include "plan.h"
#include "status.h"
#include "mf/ir/error.h"
#include "mf/compiler/target.h"
#include "mf/compiler/template_generator.h"

namespace mf::runtime {
namespace {

mf_context_s& context_of(mf_context context) {
  if (context == nullptr || context->tag != HandleTag::kContext) throw std::invalid_argument("context: not a live context");
  return *context;
}
const Backend& backend_of(mf_context context) { return *context_of(context).backend; }

}  // namespace

std::string default_tuning_db_path() { return default_db_path(default_cache_dir()); }

tuning_db::DeviceRecord tuning_device(mf_context context) { return device_record(backend_of(context)); }

std::string tuning_generator(mf_context context, const ir::Problem& problem) {
  return backend_of(context).generator_for(problem);
}

std::string tuning_generator_hash(mf_context context, const ir::Problem& problem) {
  return backend_of(context).generator_hash(problem);
}

}  // namespace mf::runtime

namespace mf::runtime {

std::optional<std::string> tuning_unsupported(mf_context context, const ir::Problem& problem) {
  try {
    backend_of(context).generator_for(problem);
    return std::nullopt;
  } catch (const Error& error) {
    if (error.status() != MF_ERROR_UNSUPPORTED) throw;
    return error.what();
  } catch (const ir::Error& error) {
    if (error.kind() != ir::ErrorKind::kUnsupported) throw;
    return error.what();
  }
}

std::vector<compiler::ParameterSpace> tuning_spaces(mf_context context, const ir::Problem& problem) {
  return backend_of(context).spaces(problem);
}

std::optional<std::string> tuning_rejects(mf_context context, const ir::Problem& problem, const ir::TileConfig& config) {
  return backend_of(context).rejects(problem, config);
}

std::string tuning_generator_of(mf_context context, const ir::Problem& problem, const ir::TileConfig& config) {
  return backend_of(context).generator_of(problem, config);
}

ir::TileConfig tuning_default_config(mf_context context, const ir::Problem& problem) {
  return backend_of(context).default_config(problem);
}

namespace {

// The template generator's target for a GPU of a tuning record: NVIDIA's arch as the driver
// reports it ("sm_90", compiled for as nvrtc_arch says: "sm_90a"), AMD's as it is ("gfx90a").
compiler::Target record_target(const tuning_db::DeviceRecord& device) {
  const std::int64_t multiprocessors = std::clamp<std::int64_t>(device.multiprocessors, 1, INT_MAX);
  compiler::Target target{device.arch, int(multiprocessors), INT_MAX};
  if (device.vendor == "amd") {
    if (device.arch.rfind("gfx", 0) != 0 || device.arch.size() < 4)
      throw std::invalid_argument(fmt::format("device.arch: '{}' is not an AMD GPU architecture (gfx...)", device.arch));
    return target;
  }
  const std::string digits = device.arch.rfind("sm_", 0) == 0 ? device.arch.substr(3) : "";
  const bool numeric = digits.size() >= 2 && digits.size() <= 4 && std::all_of(digits.begin(), digits.end(), [](char c) {
                         return std::isdigit(static_cast<unsigned char>(c)) != 0;
                       });
  if (!numeric)
    throw std::invalid_argument(
        fmt::format("device.arch: '{}' is not an NVIDIA architecture as the driver reports it (sm_90)", device.arch));
  target.arch = compiler::nvrtc_arch(std::stoi(digits.substr(0, digits.size() - 1)), digits.back() - '0');
  return target;
}

}  // namespace

compiler::ParameterSpace tuning_record_space(const tuning_db::DeviceRecord& device, const ir::Problem& problem,
                                             const std::string& generator) {
  const bool gpu = device.vendor == "nvidia" || device.vendor == "amd";
  if (!gpu && device.vendor != "cpu")
    throw std::invalid_argument(
        fmt::format("device.vendor: no backend measures on '{}' (nvidia, amd, cpu)", device.vendor));
  compiler::ParameterSpace space;
  space.generator = generator;
  if (generator == "mlir" || (generator == "reference" && !gpu)) return space;  // no tile parameters
  if (generator != "template" || !gpu)
    throw std::invalid_argument(fmt::format("generator: the {} backend has no generator '{}' (it has {})",
                                            gpu ? (device.vendor == "nvidia" ? "cuda" : "hip") : "cpu", generator,
                                            gpu ? "template and mlir" : "mlir and reference"));
  const compiler::Target target = record_target(device);
  const auto of = [&](auto generator_type, const auto& op) {
    try {
      generator_type.check_supported(op, problem.direction);
    } catch (const ir::Error& error) {
      throw std::invalid_argument(fmt::format("generator: the template generator does not serve this problem: {}",
                                              error.what()));
    }
    compiler::ParameterSpace found = generator_type.space(op, problem.direction, target);
    found.generator = generator;
    return found;
  };
  return compiler::with_template_generator(problem, of);
}

mf_plan tuning_plan(mf_context context, const ir::Problem& problem, const ir::TileConfig& config) {
  ir::validate(problem);
  if (const auto why = backend_of(context).rejects(problem, config)) throw std::invalid_argument(*why);
  return create_plan_with(context_of(context), problem, config);
}

}  // namespace mf::runtime
