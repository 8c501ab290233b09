#include "verify.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "mf/ir/json.h"
#include "mf/ir/problem_key.h"
#include "mf/runtime/tuning_identity.h"
#include "mf/tuner/capi_bench.h"
#include "mf/tuner/tune.h"

namespace mf::tools {
namespace {

using tuning_db::Database;
using tuning_db::WinnerRecord;

// The winner's configuration first, then the fastest other configurations its search
// measured (same device and code as the winner), each once.
std::vector<std::string> candidates_of(const Database& db, const WinnerRecord& w, int runners_up) {
  std::vector<tuning_db::TrialRecord> others;
  for (auto& t : db.trials(w.device, w.key))
    if (t.timing && t.generator_hash == w.trial.generator_hash) others.push_back(std::move(t));
  std::stable_sort(others.begin(), others.end(),
                   [](const auto& a, const auto& b) { return a.timing->median_us < b.timing->median_us; });
  std::vector<std::string> out{w.trial.config};
  std::set<std::string> seen{ir::to_string(nlohmann::json::parse(w.trial.config).get<ir::TileConfig>())};
  for (const auto& t : others) {
    if (int(out.size()) > runners_up) break;
    if (seen.insert(ir::to_string(nlohmann::json::parse(t.config).get<ir::TileConfig>())).second)
      out.push_back(t.config);
  }
  return out;
}

// One winner: its candidates that the current generator's space still holds, measured
// and verified; the fastest becomes the winner of the current identity. "" when it
// verified, else why not.
std::string verify_one(Database& db, mf_context context, const WinnerRecord& w, const VerifyOptions& options,
                       std::ostream& out) {
  const ir::Problem problem = nlohmann::json::parse(w.problem_json).get<ir::Problem>();
  if (const auto why = runtime::tuning_unsupported(context, problem)) return *why;
  tuner::TuneOptions tune;
  for (const auto& text : candidates_of(db, w, options.runners_up)) {
    const auto config = nlohmann::json::parse(text).get<ir::TileConfig>();
    if (const auto why = runtime::tuning_rejects(context, problem, config))
      out << fmt::format("    {} is not in the current space: {}\n", text, *why);
    else
      tune.only.push_back(config);
  }
  if (tune.only.empty()) return "no candidate is in the current generator's space";
  mf_backend backend = MF_BACKEND_AUTO;
  mf_context_backend(context, &backend);
  const bool cpu = backend == MF_BACKEND_CPU;
  tune.repeats = options.repeats > 0 ? options.repeats : cpu ? 3 : 20;
  tune.warmup = options.warmup >= 0 ? options.warmup : cpu ? 1 : 3;
  tune.resume = false;  // measure now, whatever earlier runs recorded
  tune.only_name = w.provenance.strategy + "+verify";
  const tuner::TuneTarget target{runtime::tuning_device(context),
                                 {ir::problem_key(problem), ir::key_family(problem), nlohmann::json(problem).dump()},
                                 runtime::tuning_generator(context, problem),
                                 runtime::tuning_generator_hash(context, problem)};
  auto bench = tuner::make_capi_bench(context, problem, 1, tuner::bench_memory_for(context, 0));
  const tuner::TuneOutcome outcome = tuner::tune(*bench, db, target, tune);
  if (!outcome.winner) {
    for (const auto& t : outcome.search.trials)
      if (!t.measurement.ok) return "no candidate verifies; " + t.measurement.failure;
    return "no candidate verifies";
  }
  const std::string now = nlohmann::json(outcome.winner->config).dump();
  const double was = w.trial.timing->median_us, is = outcome.winner->measurement.median_us;
  out << fmt::format("    was {} {:.2f} us, now {} {:.2f} us ({:+.1f} %){}\n", w.trial.config, was, now, is,
                     100 * (is / was - 1), now != w.trial.config ? "; a runner-up is the winner now" : "");
  if (!outcome.search.noise.note.empty()) out << "    " << outcome.search.noise.note << "\n";
  return "";
}

}  // namespace

int verify_winners(Database& db, mf_context context, const std::vector<WinnerRecord>& winners,
                   const VerifyOptions& options, std::ostream& out) {
  if (winners.empty()) {
    out << "no winners to verify\n";
    return 0;
  }
  int failed = 0;
  for (const auto& w : winners) {
    out << w.key << "\n";
    std::string why;
    try {
      why = verify_one(db, context, w, options, out);
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (!why.empty()) {
      out << "    FAILED: " << why << "\n";
      ++failed;
    }
  }
  out << fmt::format("verified {} of {} winners\n", winners.size() - std::size_t(failed), winners.size());
  return failed == 0 ? 0 : 1;
}

}  // namespace mf::tools
