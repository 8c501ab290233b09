// For the tuning tools (mf-tune, mf-db) and the tuner: what tuning results of a context's
// device are keyed by, as the runtime's own lookups key them (runtime/src/config_provider.h),
// the candidates of a problem, and plans of one exact configuration.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mf/compiler/parameter_space.h"
#include "mf/ir/problem.h"
#include "mf/tuning_db/records.h"
#include "mfjit/mfjit.h"

namespace mf::runtime {

// Where contexts find the tuning database when their options name none: $MFJIT_DB, else
// <cache>/tuning.db with the cache folder of docs/c-api.md.
std::string default_tuning_db_path();

// The device identity of the context's device. Throws std::invalid_argument for a bad handle.
tuning_db::DeviceRecord tuning_device(mf_context context);
// The name of the context's backend's first generator for `problem` (the one untuned plans
// use), and the source hash of every generator it offers; throws the backend's error (e.g.
// an operator it has no generator for).
std::string tuning_generator(mf_context context, const ir::Problem& problem);
std::string tuning_generator_hash(mf_context context, const ir::Problem& problem);
// Why the context's backend has no generator for `problem` (nothing to tune there), or
// nullopt when it has one.
std::optional<std::string> tuning_unsupported(mf_context context, const ir::Problem& problem);
// Every offered generator's space for `problem` on the context's device (the first
// generator's first; the others' configurations name their generator), and the first
// generator's default.
std::vector<compiler::ParameterSpace> tuning_spaces(mf_context context, const ir::Problem& problem);
ir::TileConfig tuning_default_config(mf_context context, const ir::Problem& problem);
// Why `config` cannot serve `problem` on the context's device (not a configuration of an
// offered generator's space), or nullopt when it can.
std::optional<std::string> tuning_rejects(mf_context context, const ir::Problem& problem, const ir::TileConfig& config);
// The name of the generator `config` belongs to.
std::string tuning_generator_of(mf_context context, const ir::Problem& problem, const ir::TileConfig& config);
// The space of generator `generator` ("template", "mlir", "reference") for `problem` on the
// device of a tuning record — any machine's, not this one's: its vendor says which backend
// measured it, its arch the target — for checking winners measured elsewhere (mf-db import
// and merge). The template generator's space is the one this build's generator has for
// that target (its constraints with unlimited shared memory: the record does not say how
// much the device has, and plan creation checks it there); the MLIR generator and the
// reference have no tile parameters. Throws std::invalid_argument whose message starts with
// the record's field that is wrong ("device.arch: ...", "generator: ...").
compiler::ParameterSpace tuning_record_space(const tuning_db::DeviceRecord& device, const ir::Problem& problem,
                                             const std::string& generator);
// A plan with exactly `config` (its description says config_source "tuner"); the tuning
// database is neither read nor written. Thread-safe. Throws std::invalid_argument for a
// configuration outside the generator's space, else what plan creation reports (an
// ir::Error for an invalid problem; a compile error names the log).
mf_plan tuning_plan(mf_context context, const ir::Problem& problem, const ir::TileConfig& config);

}  // namespace mf::runtime
