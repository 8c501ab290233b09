// What a device backend offers plan creation: its device, the generator it would use for
// a problem with that generator's default configuration, and executables built from a
// problem plus a configuration.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mf/compiler/parameter_space.h"
#include "mf/ir/problem.h"
#include "mf/ir/tile_config.h"
#include "mfjit/mfjit.h"

namespace mf::runtime {

// The data pointers of one execution, for whichever operator the plan runs.
using OperatorArgs = std::variant<mf_evo_attention_args, mf_layer_norm_linear_args, mf_transition_args>;

// One compiled (or, on the reference backend, interpreted) instance of a problem.
class Executable {
 public:
  virtual ~Executable() = default;
  virtual std::size_t workspace_size() const = 0;
  // args are already checked against the problem (present, aligned, not aliasing).
  virtual void execute(const OperatorArgs& args, void* workspace, void* stream) = 0;
};

// A backend may offer several generators for one problem (the cuda backend: the template
// generator and the MLIR generator); the tuner measures them all and its winner names the
// one it belongs to (ir::TileConfig::generator). The first generator serves untuned plans,
// and its configurations leave the name empty.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual mf_backend kind() const = 0;
  virtual const mf_device_info& device() const = 0;
  // The first generator this backend offers for `problem`, or throws MF_ERROR_UNSUPPORTED
  // naming what is missing.
  virtual std::string generator_for(const ir::Problem& problem) const = 0;
  // The first generator's default configuration.
  virtual ir::TileConfig default_config(const ir::Problem& problem) const = 0;
  // Every configuration of every generator offered for `problem` on this device (the
  // tuner's candidates), one space per generator, the first generator's first; a generator
  // with nothing to tune has one empty configuration.
  virtual std::vector<compiler::ParameterSpace> spaces(const ir::Problem& problem) const = 0;
  // Why `config` cannot serve `problem` on this device, or nullopt when it can (a tuned
  // neighbour's configuration may not fit another size; its generator may not be offered).
  virtual std::optional<std::string> rejects(const ir::Problem& problem, const ir::TileConfig& config) const = 0;
  // What tuning results are keyed by besides problem and device: the source hashes of every
  // generator offered (a winner chosen without one of them is not a winner among them all)
  // and the run-time compiler's version. Results of other code never apply.
  virtual std::string generator_hash(const ir::Problem& problem) const = 0;
  virtual std::string toolkit_version() const = 0;
  // Builds `config` with the generator it names; rejects(problem, config) is nullopt.
  virtual std::unique_ptr<Executable> build(const ir::Problem& problem, const ir::TileConfig& config) = 0;

  // The name of the generator `config` belongs to.
  std::string generator_of(const ir::Problem& problem, const ir::TileConfig& config) const {
    return config.generator.empty() ? generator_for(problem) : config.generator;
  }
};

// Why `config` is not a configuration of one of `spaces` (a backend's offer, whose first
// generator is named `first_generator`), or nullopt when it is.
std::optional<std::string> rejection(const std::vector<compiler::ParameterSpace>& spaces, const ir::TileConfig& config,
                                     const std::string& first_generator);

// Creates the backend a context asked for; MF_BACKEND_AUTO picks cuda when a device is
// present, else cpu.
// cpu, compiled kernels are cached under cache_dir.
std::unique_ptr<Backend> create_backend(const mf_context_options& options, const std::string& cache_dir);

}  // namespace mf::runtime
