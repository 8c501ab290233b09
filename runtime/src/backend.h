// What a device backend offers plan creation: its device, the generator it would use for
// a problem with that generator's default configuration, and executables built from a
// problem plus a configuration.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <variant>

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

class Backend {
 public:
  virtual ~Backend() = default;
  virtual mf_backend kind() const = 0;
  virtual const mf_device_info& device() const = 0;
  // The generator this backend would use for `problem`, or throws MF_ERROR_UNSUPPORTED
  // naming what is missing.
  virtual std::string generator_for(const ir::Problem& problem) const = 0;
  virtual ir::TileConfig default_config(const ir::Problem& problem) const = 0;
  // Every configuration the generator offers for `problem` on this device (the tuner's
  // candidates); one empty configuration where there is nothing to tune.
  virtual compiler::ParameterSpace space(const ir::Problem& problem) const = 0;
  // Why `config` cannot serve `problem` on this device, or nullopt when it can (a tuned
  // neighbour's configuration may not fit another size).
  virtual std::optional<std::string> rejects(const ir::Problem& problem, const ir::TileConfig& config) const = 0;
  // What tuning results are keyed by besides problem and device: the generator's source
  // hash and the run-time compiler's version. Results of other code never apply.
  virtual std::string generator_hash(const ir::Problem& problem) const = 0;
  virtual std::string toolkit_version() const = 0;
  virtual std::unique_ptr<Executable> build(const ir::Problem& problem, const ir::TileConfig& config) = 0;
};

// Creates the backend a context asked for; MF_BACKEND_AUTO picks cuda when a device is
// present, else cpu.
// cpu, compiled kernels are cached under cache_dir.
std::unique_ptr<Backend> create_backend(const mf_context_options& options, const std::string& cache_dir);

}  // namespace mf::runtime
