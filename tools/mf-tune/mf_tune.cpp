#include "mf_tune.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <thread>

#include "mf/ir/json.h"
#include "mf/ir/problem_key.h"
#include "mf/runtime/tuning_identity.h"
#include "mf/tuner/capi_bench.h"
#include "mf/tuner/tune.h"
#include "problem_file.h"
#include "suite.h"

namespace mf::tools {
namespace {

constexpr const char* kUsage = R"(usage: mf-tune [options]

Tunes problems on a device and stores each winner in the tuning database, where plans find
it. Problems that already have a winner for this device and code are skipped (--retune
measures them again); an interrupted run resumes where it stopped.

what to tune (default: the AF3 suite of DESIGN.md section 5, forward and backward):
  --problems FILE      a JSON array of problems (mfjit IR JSON: {"op": ..., "direction": ...})
  --untuned            the problems plans asked for on this device and found no winner
  --filter TEXT        only suite problems whose name contains TEXT (names end in fwd or bwd)
  --full-size          the suite at AF3 sizes on the cpu too (default: scaled down there)
how:
  --strategy NAME      exhaustive, random or descent (default descent)
  --trials N           at most N configurations per problem (default: no limit)
  --seconds S          no new batch after S seconds per problem (default: no limit)
  --seed N             every random choice (default 1)
  --repeats N          timed runs per configuration (default 20; 3 on the cpu backend, whose
                       reference kernels are slow and steady), --warmup N (default 3; cpu 1)
  --compile-timeout S  a compile slower than this is a timeout (default 120)
  --compile-threads N  compiles at once (default: every core)
  --on-noise POLICY    when a problem's measurements spread or disagree (a busy machine):
                       remeasure (default): measure the configurations that could win again,
                         within a budget, then decide; the winner is never slower than the
                         default configuration
                       default: keep the default configuration as the winner (better on a
                         machine shared with other work, whose load can change which
                         configuration is fastest: tune again with --retune when it is quiet)
                       either way the winner's record says why (mf-db list), and the summary
                       counts the noisy decisions
where:
  --backend auto|cpu|cuda|hip (default auto) --device N|all   (default 0; all: one worker per GPU)
  --db PATH            the database (default $MFJIT_DB, else <cache>/tuning.db)
)";

struct Usage : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string db_path;
  mf_backend backend = MF_BACKEND_AUTO;
  std::optional<int> device = 0;  // nullopt: all
  tuner::TuneOptions tune;
  std::string problems_file, filter;
  bool untuned = false, full_size = false, retune = false;
  bool repeats_given = false, warmup_given = false;
};


Options parse(const std::vector<std::string>& args) {
  Options o;
  o.db_path = runtime::default_tuning_db_path();
  o.tune.compile_threads = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw Usage(a + " needs a value");
      return args[++i];
    };
    auto number = [&](double low) {
      const std::string& text = value();
      char* end = nullptr;
      const double n = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || !(n >= low)) throw Usage(fmt::format("{} takes a number >= {}, not '{}'", a, low, text));
      return n;
    };
    if (a == "--db") o.db_path = value();
    else if (a == "--backend") {
      const std::string& b = value();
      if (b == "auto") o.backend = MF_BACKEND_AUTO;
      else if (b == "cpu") o.backend = MF_BACKEND_CPU;
      else if (b == "cuda") o.backend = MF_BACKEND_CUDA;
      else if (b == "hip") o.backend = MF_BACKEND_HIP;
      else throw Usage("--backend: use auto, cpu, cuda or hip");
    } else if (a == "--device") {
      const std::string& d = value();
      if (d == "all") o.device.reset();
      else {
        char* end = nullptr;
        const long n = std::strtol(d.c_str(), &end, 10);
        if (d.empty() || *end != '\0' || n < 0) throw Usage("--device takes an ordinal or all");
        o.device = int(n);
      }
    } else if (a == "--strategy") {
      const auto kind = tuner::strategy_from(value());
      if (!kind) throw Usage("--strategy: use exhaustive, random or descent");
      o.tune.strategy = *kind;
    } else if (a == "--trials") o.tune.budget.trials = std::int64_t(number(1));
    else if (a == "--seconds") o.tune.budget.seconds = number(0);
    else if (a == "--seed") o.tune.seed = std::uint64_t(number(0));
    else if (a == "--repeats") o.tune.repeats = int(number(1)), o.repeats_given = true;
    else if (a == "--warmup") o.tune.warmup = int(number(0)), o.warmup_given = true;
    else if (a == "--compile-timeout") o.tune.compile_timeout_s = number(0.001);
    else if (a == "--compile-threads") o.tune.compile_threads = int(number(1));
    else if (a == "--on-noise") {
      const auto policy = tuner::on_noise_from(value());
      if (!policy) throw Usage("--on-noise: use remeasure or default");
      o.tune.decision.on_noise = *policy;
    }
    else if (a == "--problems") o.problems_file = value();
    else if (a == "--filter") o.filter = value();
    else if (a == "--untuned") o.untuned = true;
    else if (a == "--full-size") o.full_size = true;
    else if (a == "--retune") o.retune = true, o.tune.resume = false;
    else throw Usage("unknown argument " + a);
  }
  if (o.untuned && !o.problems_file.empty()) throw Usage("--untuned and --problems exclude each other");
  return o;
}

struct Named {
  std::string name;
  ir::Problem problem;
};

ir::Problem backward_of(const ir::Operator& op) {
  return std::visit(
      [](const auto& o) {
        return ir::Problem{with_gradients(o, o.all_gradients()), ir::Direction::backward(o.all_gradients())};
      },
      op);
}

std::vector<Named> suite_problems(const Options& o, bool on_cpu) {
  std::vector<Named> out;
  for (const auto& p : af3_suite(on_cpu && !o.full_size)) {
    out.push_back({p.name + " fwd", {p.forward, ir::Direction::forward()}});
    out.push_back({p.name + " bwd", backward_of(p.forward)});
  }
  std::erase_if(out, [&](const Named& n) { return n.name.find(o.filter) == std::string::npos; });
  if (out.empty()) throw std::runtime_error(fmt::format("--filter: no suite problem's name contains '{}'", o.filter));
  return out;
}

std::vector<Named> file_problems(const std::string& path) {
  std::vector<Named> out;
  for (ir::Problem& problem : read_problem_file(path, "--problems"))
    out.push_back({fmt::format("{}[{}]", path, out.size()), std::move(problem)});
  return out;
}

std::vector<Named> untuned_problems(const tuning_db::Database& db, const tuning_db::DeviceRecord& device) {
  std::vector<Named> out;
  for (const auto& miss : db.misses()) {
    if (!(miss.device == device)) continue;
    try {
      out.push_back({fmt::format("untuned ({}x)", miss.count), nlohmann::json::parse(miss.problem_json).get<ir::Problem>()});
    } catch (const std::exception& e) {  // not written by mfjit: a damaged or edited file
      const bool not_json = dynamic_cast<const nlohmann::json::exception*>(&e) != nullptr;
      throw std::runtime_error(fmt::format("the tuning database {}: the miss of {} holds a problem that is not {}{}",
                                           db.path(), miss.key, not_json ? "JSON" : "mfjit IR: ",
                                           not_json ? "" : e.what()));
    }
  }
  return out;
}

struct Row {
  std::string name, generator, config, status;
  double median_us = 0.0, default_us = 0.0;  // the decision's times of the winner and the default
  std::int64_t configurations = 0, resumed = 0;
  double seconds = 0.0;
  tuner::NoiseReport noise{};  // of this run's decision
};

// The noise column of the table: what a noisy decision did.
std::string noise_word(const tuner::NoiseReport& noise) {
  if (!noise.noisy) return "-";
  if (noise.kept_default) return "kept default";
  return noise.settled ? "settled" : "unsettled";
}

// Tunes every problem on one device; returns the rows of the final table.
std::vector<Row> tune_device(const Options& o, int device, std::ostream& out, std::ostream& progress,
                             std::mutex& print) {
  mf_context_options options;
  mf_context_options_init(&options);
  options.backend = o.backend;
  options.device = device;
  options.db_path = o.db_path.c_str();
  mf_context context = nullptr;
  if (mf_context_create(&options, &context) != MF_SUCCESS)
    throw std::runtime_error(fmt::format("device {}: {}", device, mf_last_error()));
  struct Guard {
    mf_context c;
    ~Guard() { mf_context_destroy(c); }
  } guard{context};
  mf_backend backend = MF_BACKEND_AUTO;
  mf_context_backend(context, &backend);

  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(o.db_path).parent_path(), ignored);
  tuning_db::Database db = tuning_db::Database::open(o.db_path);
  const auto identity = runtime::tuning_device(context);
  const std::vector<Named> problems = o.untuned ? untuned_problems(db, identity)
                                      : !o.problems_file.empty() ? file_problems(o.problems_file)
                                                                 : suite_problems(o, backend == MF_BACKEND_CPU);
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  std::vector<Row> rows;
  for (std::size_t index = 0; index < problems.size(); ++index) {
    const auto& [name, problem] = problems[index];
    Row row{name, "", "", "", 0.0, 0.0, 0, 0, 0.0};
    auto say = [&](const std::string& line) {
      const std::lock_guard lock(print);
      out << fmt::format("[{}/{}] {}{}: {}\n", index + 1, problems.size(), device > 0 ? fmt::format("gpu {} ", device) : "",
                         name, line);
      out.flush();
    };
    try {
      if (const auto why = runtime::tuning_unsupported(context, problem)) {
        row.status = "skipped: " + *why;
        say(row.status);
        rows.push_back(row);
        continue;
      }
      const tuner::TuneTarget target{identity,
                                     {ir::problem_key(problem), ir::key_family(problem), nlohmann::json(problem).dump()},
                                     runtime::tuning_generator(context, problem),
                                     runtime::tuning_generator_hash(context, problem)};
      if (!o.retune) {
        if (const auto winner = db.winner(identity, target.problem.key, target.generator_hash)) {
          row.status = "tuned before";
          row.generator = winner->trial.generator;
          row.config = winner->trial.config;
          row.median_us = winner->trial.timing->median_us;
          say(fmt::format("already tuned: {} {} {:.2f} us", row.generator, row.config, row.median_us));
          rows.push_back(row);
          continue;
        }
      }
      auto bench = tuner::make_capi_bench(context, problem, o.tune.seed, tuner::bench_memory_for(context, device));
      tuner::TuneOptions tune = o.tune;
      if (backend == MF_BACKEND_CPU) {
        if (!o.repeats_given) tune.repeats = 3;
        if (!o.warmup_given) tune.warmup = 1;
      }
      const auto started = std::chrono::steady_clock::now();
      tune.progress = [&](const tuner::Trial&, std::size_t done) {
        if (!tty) return;
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        const std::int64_t planned = o.tune.budget.trials > 0 ? o.tune.budget.trials : 0;
        const std::string eta = planned > 0 && std::int64_t(done) < planned
                                    ? fmt::format(", ETA {:.0f} s", elapsed / double(done) * double(planned - std::int64_t(done)))
                                    : "";
        const std::lock_guard lock(print);
        progress << fmt::format("\r  {} trials, {:.0f} s{}   ", done, elapsed, eta) << std::flush;
      };
      const tuner::TuneOutcome outcome = tuner::tune(*bench, db, target, tune);
      if (tty) {
        const std::lock_guard lock(print);
        progress << "\r" << std::string(60, ' ') << "\r";
      }
      row.configurations = outcome.search.configurations;
      row.resumed = outcome.resumed;
      row.seconds = outcome.seconds;
      row.noise = outcome.search.noise;
      if (outcome.winner) {
        row.status = "tuned";
        row.generator = runtime::tuning_generator_of(context, problem, outcome.winner->config);
        row.config = nlohmann::json(outcome.winner->config).dump();
        row.median_us = outcome.search.time_us;
        row.default_us = outcome.search.baseline_us.value_or(0.0);
        say(fmt::format("{} {} {:.2f} us, {} configurations{} in {:.1f} s{}", row.generator, row.config, row.median_us,
                        row.configurations, row.resumed > 0 ? fmt::format(" ({} resumed)", row.resumed) : "",
                        row.seconds, row.noise.note.empty() ? "" : "; " + row.noise.note));
      } else {
        row.status = "no configuration worked";
        say(row.status);
      }
    } catch (const std::exception& e) {
      row.status = std::string("failed: ") + e.what();
      say(row.status);
    }
    rows.push_back(row);
  }
  return rows;
}

// How many of this run's decisions were noisy, and what became of them ("" when it decided
// nothing).
std::string noise_summary(const std::vector<Row>& rows) {
  int decided = 0, noisy = 0, settled = 0, unsettled = 0, kept = 0;
  for (const auto& r : rows) {
    if (r.status != "tuned") continue;
    ++decided;
    if (!r.noise.noisy) continue;
    ++noisy;
    if (r.noise.kept_default) ++kept;
    else if (r.noise.settled) ++settled;
    else ++unsettled;
  }
  if (decided == 0) return "";
  if (noisy == 0) return fmt::format("noisy decisions: 0 of {}\n", decided);
  return fmt::format("noisy decisions: {} of {} ({} settled by re-measuring, {} unsettled when the re-measuring budget "
                     "ran out, {} kept the default); mf-db list shows each one's note\n",
                     noisy, decided, settled, unsettled, kept);
}

void print_table(const std::vector<Row>& rows, std::ostream& out) {
  out << fmt::format("\n{:<52} {:>11} {:>11} {:>7} {:>8}  {:<12} {:<10} {}\n", "problem", "winner us", "default us",
                     "trials", "seconds", "noise", "generator", "configuration");
  for (const auto& r : rows) {
    if (r.status != "tuned" && r.status != "tuned before") {  // failed or skipped: the reason
      out << fmt::format("{:<52} {}\n", r.name.substr(0, 52), r.status);
      continue;
    }
    out << fmt::format("{:<52} {:>11.2f} {:>11} {:>7} {:>8.1f}  {:<12} {:<10} {}\n", r.name.substr(0, 52), r.median_us,
                       r.default_us > 0 ? fmt::format("{:.2f}", r.default_us) : "-", r.configurations, r.seconds,
                       noise_word(r.noise), r.generator, r.config.empty() ? "{}" : r.config);
  }
  out << noise_summary(rows);
}

}  // namespace

int mf_tune(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  try {
    for (const auto& a : args)
      if (a == "-h" || a == "--help") {
        out << kUsage;
        return 0;
      }
    const Options o = parse(args);
    std::vector<int> devices;
    if (o.device) {
      devices.push_back(*o.device);
    } else {
      int32_t count = 0;
      if (mf_device_count(o.backend == MF_BACKEND_AUTO ? MF_BACKEND_CUDA : o.backend, &count) != MF_SUCCESS ||
          count == 0)
        count = 1;
      for (int d = 0; d < count; ++d) devices.push_back(d);
    }
    std::mutex print;
    std::vector<std::vector<Row>> results(devices.size());
    std::vector<std::string> failures(devices.size());
    {
      std::vector<std::jthread> workers;  // one a device; joined when the block ends, also on a throw
      for (std::size_t w = 0; w < devices.size(); ++w)
        workers.emplace_back([&, w] {
          try {
            results[w] = tune_device(o, devices[w], out, err, print);
          } catch (const std::exception& e) {
            failures[w] = e.what();
          } catch (...) {
            failures[w] = "an exception that is not a std::exception";
          }
        });
    }
    bool failed = false;
    for (std::size_t w = 0; w < devices.size(); ++w) {
      if (!failures[w].empty()) {
        err << "mf-tune: " << failures[w] << "\n";
        failed = true;
        continue;
      }
      if (devices.size() > 1) out << fmt::format("\ndevice {}", devices[w]);
      print_table(results[w], out);
      for (const auto& r : results[w]) failed |= r.status.rfind("failed", 0) == 0 || r.status == "no configuration worked";
    }
    return failed ? 1 : 0;
  } catch (const Usage& e) {
    err << "mf-tune: " << e.what() << "\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    err << "mf-tune: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace mf::tools
