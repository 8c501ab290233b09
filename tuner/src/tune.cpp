#include "mf/tuner/tune.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "mf/ir/json.h"

namespace mf::tuner {
namespace {

// Every winner the decision picks passes the database's check without a noise note.
static_assert(-kMaxTie / (1.0 + kMaxTie) >= db::kMarginFloor, "the widest tie must keep margins above the floor");

using Clock = std::chrono::steady_clock;

struct CompileResult {
  std::unique_ptr<Compiled> compiled;
  std::string error;
};

// Compiles a batch on `threads` workers, in batch order, while the caller takes results
// as they become ready. A compile's time limit counts from its own start.
class CompilePool {
 public:
  CompilePool(const Bench& bench, const std::vector<ir::TileConfig>& batch, int threads)
      : bench_(bench), batch_(batch), promises_(batch.size()), started_(batch.size()) {
    for (auto& promise : promises_) futures_.push_back(promise.get_future());
    const int workers = std::max(1, std::min<int>(threads, int(batch.size())));
    for (int w = 0; w < workers; ++w) threads_.emplace_back([this] { work(); });
  }
  // jthreads join here: a compile that overran its limit is waited for (NVRTC cannot be
  // interrupted), but its trial is already recorded as a timeout.
  std::future<CompileResult>& result(std::size_t i) { return futures_[i]; }

  // Waits for compile i; false when it ran longer than `limit_s` from its start.
  bool wait(std::size_t i, double limit_s) {
    for (;;) {
      if (futures_[i].wait_for(std::chrono::milliseconds(20)) == std::future_status::ready) return true;
      const auto begun = started_[i].load();
      if (begun != Clock::time_point{} && std::chrono::duration<double>(Clock::now() - begun).count() > limit_s)
        return false;
    }
  }

 private:
  void work() {
    for (std::size_t i = next_++; i < batch_.size(); i = next_++) {
      started_[i] = Clock::now();
      CompileResult result;
      try {
        result.compiled = bench_.compile(batch_[i]);
      } catch (const std::exception& e) {
        result.error = e.what();
      } catch (...) {
        result.error = "the compile threw something that is not a std::exception";
      }
      promises_[i].set_value(std::move(result));
    }
  }

  const Bench& bench_;
  const std::vector<ir::TileConfig>& batch_;
  std::vector<std::promise<CompileResult>> promises_;
  std::vector<std::future<CompileResult>> futures_;
  std::vector<std::atomic<Clock::time_point>> started_;
  std::atomic<std::size_t> next_{0};
  std::vector<std::jthread> threads_;  // last: joined before the promises go
};

db::TrialRecord trial_record(const TuneTarget& target, const ir::TileConfig& config, const Measurement& m,
                             db::TrialStatus failure) {
  db::TrialRecord record{config.generator.empty() ? target.generator : config.generator, target.generator_hash, nlohmann::json(config).dump(), db::TrialStatus::kOk,
                         "", std::nullopt};
  if (m.ok) record.timing = db::Timing{m.median_us, m.min_us, m.spread_us, m.samples};
  else record.status = failure, record.message = m.failure;
  return record;
}

// The options' strategy over each generator's space, the smallest space first (a generator
// with one configuration costs one trial of the budget); a descent starts at the default
// where the space holds it, else at the space's first configuration.
std::unique_ptr<Strategy> search_every_generator(const Bench& bench, const TuneOptions& options) {
  std::vector<std::vector<ir::TileConfig>> candidates;
  for (const auto& space : bench.spaces()) candidates.push_back(space.configs());
  std::stable_sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) { return a.size() < b.size(); });
  std::vector<std::unique_ptr<Strategy>> parts;
  for (auto& configs : candidates)
    if (!configs.empty()) parts.push_back(make_strategy(options.strategy, std::move(configs), bench.default_config(), options.seed));
  return make_sequence_strategy(std::move(parts));
}

// A trial of an earlier run, taken instead of measuring its configuration again.
struct EarlierTrial {
  Measurement measurement;
  std::int64_t trial_id = 0;
};

// The last trial of each configuration for this device, problem and code (none without
// options.resume). A timeout may have been the machine's load, not the configuration: it
// is measured again.
std::map<std::string, EarlierTrial> earlier_trials(const db::Database& db, const TuneTarget& target,
                                                   const TuneOptions& options) {
  std::map<std::string, EarlierTrial> out;
  if (!options.resume) return out;
  for (const auto& t : db.trials(target.device, target.problem.key)) {
    if (t.generator_hash != target.generator_hash || t.status == db::TrialStatus::kTimeout) continue;
    Measurement m;
    if (t.timing) m = {true, t.timing->median_us, t.timing->min_us, t.timing->spread_us, t.timing->samples, ""};
    else m.failure = fmt::format("{}: {}", db::name_of(t.status), t.message);
    out[ir::to_string(nlohmann::json::parse(t.config).get<ir::TileConfig>())] = {m, t.id};
  }
  return out;
}

}  // namespace

Measurement summarize(std::vector<double> samples) {
  Measurement m;
  if (samples.empty()) return m;
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) { return samples[std::size_t(q * double(samples.size() - 1) + 0.5)]; };
  m.ok = true;
  const std::size_t n = samples.size();
  m.median_us = n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  m.min_us = samples.front();
  m.spread_us = at(0.75) - at(0.25);
  m.samples = std::int64_t(n);
  return m;
}

TuneOutcome tune(Bench& bench, db::Database& db, const TuneTarget& target, const TuneOptions& options) {
  const auto start = Clock::now();
  TuneOutcome outcome;
  // Trials of earlier runs on this device and code: taken instead of measured again.
  const std::map<std::string, EarlierTrial> earlier = earlier_trials(db, target, options);
  const int threads = options.compile_threads > 0 ? options.compile_threads
                                                  : int(std::max(1u, std::thread::hardware_concurrency()));
  std::set<std::string> measured_here;
  std::vector<std::int64_t> trial_ids;  // the database row of each trial of the search
  std::size_t done = 0;

  auto record = [&](const ir::TileConfig& config, const Measurement& m, db::TrialStatus failure) {
    trial_ids.push_back(db.record_trial(target.device, target.problem, trial_record(target, config, m, failure)));
  };
  const MeasureBatch measure = [&](const std::vector<ir::TileConfig>& batch) {
    std::vector<Measurement> out(batch.size());
    std::vector<bool> fresh(batch.size());
    std::vector<ir::TileConfig> to_compile;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto id = ir::to_string(batch[i]);
      fresh[i] = measured_here.count(id) || !earlier.count(id);
      if (fresh[i]) to_compile.push_back(batch[i]);
    }
    CompilePool pool(bench, to_compile, threads);
    std::size_t next_compiled = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto id = ir::to_string(batch[i]);
      if (!fresh[i]) {
        out[i] = earlier.at(id).measurement;
        trial_ids.push_back(earlier.at(id).trial_id);
        ++outcome.resumed;
        measured_here.insert(id);  // a finalist's re-measurement measures
      } else {
        const std::size_t slot = next_compiled++;
        if (!pool.wait(slot, options.compile_timeout_s)) {
          out[i].failure = fmt::format("compiling took longer than {} s", options.compile_timeout_s);
          record(batch[i], out[i], db::TrialStatus::kTimeout);
        } else if (CompileResult compiled = pool.result(slot).get(); !compiled.compiled) {
          out[i].failure = compiled.error;
          record(batch[i], out[i], db::TrialStatus::kCompileError);
        } else {
          db::TrialStatus failure = db::TrialStatus::kWrongResult;
          try {
            const std::string wrong = bench.verify(*compiled.compiled);
            if (!wrong.empty()) {
              out[i].failure = wrong;
            } else {
              failure = db::TrialStatus::kLaunchError;
              out[i] = summarize(bench.time(*compiled.compiled, options.warmup, options.repeats));
              if (!out[i].ok) out[i].failure = "no timing samples";
            }
          } catch (const std::exception& e) {
            failure = db::TrialStatus::kLaunchError;
            out[i] = Measurement{};
            out[i].failure = e.what();
          }
          record(batch[i], out[i], failure);
        }
        measured_here.insert(id);
      }
      if (options.progress) options.progress({batch[i], out[i]}, ++done);
    }
    return out;
  };

  auto strategy = options.only.empty() ? search_every_generator(bench, options)
                                       : make_list_strategy(options.only_name, options.only);
  Decision decision = options.decision;
  if (options.only.empty()) decision.baseline = bench.default_config();
  outcome.search = run_search(*strategy, measure, options.budget, decision);
  if (outcome.search.best) {
    // The winner's fastest measurement is the time the decision used: its trial (of this
    // run, or of an earlier one it resumed) is the winner's record.
    const std::size_t best = *outcome.search.best;
    db.set_winner(trial_ids.at(best), {strategy->name(), outcome.search.configurations, outcome.search.margin,
                                       outcome.search.noise.note});
    outcome.winner = outcome.search.trials[best];
  }
  outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return outcome;
}

}  // namespace mf::tuner
