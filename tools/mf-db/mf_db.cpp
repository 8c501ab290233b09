#include "mf_db.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "mf/ir/json.h"
#include "mf/runtime/tuning_identity.h"
#include "mf/tuner/db.h"
#include "atomic_file.h"
#include "html.h"
#include "report.h"
#include "verify.h"
#include "winner_json.h"

namespace mf::tools {
namespace {

using tuner::db::Database;
using tuner::db::WinnerRecord;

constexpr const char* kUsage = R"(usage: mf-db [--db PATH] COMMAND [ARGS]

The tuning database: $MFJIT_DB, else <cache>/tuning.db ($MFJIT_CACHE_DIR, $XDG_CACHE_HOME/mfjit
or ~/.cache/mfjit); --db names another.

commands:
  list [--stale] [--misses]   winners: the time the tuner's decision used, the strategy, the
                              trials, the margin (the fastest other configuration's time over
                              the winner's, minus 1) and, under a noisy winner, the tuner's
                              note on the noise (or: winners no lookup uses any more on this
                              machine's device; or: problems plans asked for that have no winner)
  show KEY                    every trial of one problem key, the winner marked
  export [FILE]               winners as JSON (stdout without FILE)
  import FILE                 winners from an export; conflicts keep the faster (> 2 %),
                              else the one decided without noise, else the more thorough
                              search, else the older
  merge OTHER_DB              import every winner of another database
  diff OTHER_DB               winners only in one of the two, or with other configurations
  prune [--failed] [--stale] [--misses]
                              remove failed trials; winners of this machine's device model
                              measured with another driver, toolkit or generator; misses
                              that have a winner now
  report --html FILE          one self-contained HTML page: the winners per device and problem,
                              and per winner a chart of the configurations its search measured
                              (the 30 fastest, the winner and the default marked); FILE is
                              replaced whole or not at all
  verify [--stale] [--runners-up N] [--repeats N]
                              measure the winners of this machine's device again (--stale:
                              those list --stale shows), each beside its N fastest runners-up
                              (default 3); the fastest that verifies is the winner of the
                              current driver, toolkit and generator
options:
  --backend auto|cpu|cuda     the device --stale compares with (default auto)
)";

struct Usage : std::runtime_error {
  using std::runtime_error::runtime_error;
};


std::string short_device(const tuner::db::DeviceRecord& d) {
  return fmt::format("{} {} (driver {}, {})", d.name, d.arch, d.driver_version, d.toolkit_version);
}

void print_winners(const std::vector<WinnerRecord>& winners, std::ostream& out) {
  if (winners.empty()) {
    out << "no winners\n";
    return;
  }
  std::string device;
  for (const auto& w : winners) {
    if (short_device(w.device) != device) {
      device = short_device(w.device);
      out << device << "\n";
    }
    out << fmt::format("  {:>10.2f} us  {:<10} {:>4} trials  margin {:>5.1f}%  {}  {}\n    {}\n",
                       w.trial.timing->median_us, w.provenance.strategy, w.provenance.trials,
                       100 * w.provenance.margin, w.trial.config, w.created_at, w.key);
    if (!w.provenance.noise.empty()) out << "    " << w.provenance.noise << "\n";
  }
}

// A context on the machine's device, for what --stale compares with.
struct Context {
  mf_context handle = nullptr;
  explicit Context(const std::string& backend) {
    mf_context_options options;
    mf_context_options_init(&options);
    if (backend == "cpu") options.backend = MF_BACKEND_CPU;
    else if (backend == "cuda") options.backend = MF_BACKEND_CUDA;
    else if (backend != "auto") throw Usage("--backend: use auto, cpu or cuda");
    if (mf_context_create(&options, &handle) != MF_SUCCESS) throw std::runtime_error(mf_last_error());
  }
  ~Context() { mf_context_destroy(handle); }
};

// The winners of `db` that the runtime on `context`'s device would never use again: same
// model, another driver or toolkit, or a generator whose code changed since.
std::vector<WinnerRecord> stale(const Database& db, mf_context context) {
  const auto device = runtime::tuning_device(context);
  std::vector<WinnerRecord> out;
  for (const auto& w : db.winners()) {
    if (w.device.vendor != device.vendor || w.device.name != device.name || w.device.arch != device.arch) continue;
    std::string hash;
    try {
      hash = runtime::tuning_generator_hash(context, nlohmann::json::parse(w.problem_json).get<ir::Problem>());
    } catch (const std::exception&) {
      hash = "";  // the backend no longer has a generator for it: stale too
    }
    if (!(w.device == device) || w.trial.generator_hash != hash) out.push_back(w);
  }
  return out;
}

// The winners of `db` that the runtime on `context`'s device uses as they are.
std::vector<WinnerRecord> current(const Database& db, mf_context context) {
  const auto device = runtime::tuning_device(context);
  std::vector<WinnerRecord> out;
  for (const auto& w : db.winners()) {
    if (!(w.device == device)) continue;
    try {
      if (w.trial.generator_hash ==
          runtime::tuning_generator_hash(context, nlohmann::json::parse(w.problem_json).get<ir::Problem>()))
        out.push_back(w);
    } catch (const std::exception&) {  // no generator for it any more: stale, not current
    }
  }
  return out;
}

int verify(Database& db, const std::vector<std::string>& args, const std::string& backend, std::ostream& out) {
  bool want_stale = false;
  VerifyOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto count = [&](int low) {
      if (i + 1 >= args.size()) throw Usage("verify: " + a + " needs a value");
      const std::string& text = args[++i];
      char* end = nullptr;
      const long n = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || n < low || n > 1000)
        throw Usage(fmt::format("verify: {} takes a whole number from {} to 1000, not '{}'", a, low, text));
      return int(n);
    };
    if (a == "--stale") want_stale = true;
    else if (a == "--runners-up") options.runners_up = count(0);
    else if (a == "--repeats") options.repeats = count(1);
    else throw Usage("verify: unknown argument " + a);
  }
  const Context context(backend);
  return verify_winners(db, context.handle, want_stale ? stale(db, context.handle) : current(db, context.handle),
                        options, out);
}

int list(Database& db, const std::vector<std::string>& args, const std::string& backend, std::ostream& out) {
  bool want_stale = false, want_misses = false;
  for (const auto& a : args) {
    if (a == "--stale") want_stale = true;
    else if (a == "--misses") want_misses = true;
    else throw Usage("list: unknown argument " + a);
  }
  if (want_misses) {
    const auto misses = db.misses();
    if (misses.empty()) out << "no misses\n";
    for (const auto& m : misses)
      out << fmt::format("{:>6}x  {}  last {}\n        {}\n", m.count, short_device(m.device), m.last_seen, m.key);
    return 0;
  }
  if (want_stale) {
    const Context context(backend);
    print_winners(stale(db, context.handle), out);
    return 0;
  }
  print_winners(db.winners(), out);
  return 0;
}

int show(Database& db, const std::vector<std::string>& args, std::ostream& out) {
  if (args.size() != 1) throw Usage("show: give one problem key");
  const std::string& key = args[0];
  bool any = false;
  std::map<std::string, tuner::db::DeviceRecord> devices;
  for (const auto& device : db.devices_with_trials(key)) devices[short_device(device)] = device;
  for (const auto& [name, device] : devices) {
    const auto trials = db.trials(device, key);
    out << name << "\n";
    for (const auto& t : trials) {
      const auto winner = db.winner(device, key, t.generator_hash);
      const bool won = winner && winner->trial.config == t.config && t.timing &&
                       winner->trial.timing->median_us == t.timing->median_us;
      if (t.timing)
        out << fmt::format("  {} {:>10.2f} us (min {:.2f}, spread {:.2f}, {} samples)  {}\n", won ? "*" : " ",
                           t.timing->median_us, t.timing->min_us, t.timing->spread_us, t.timing->samples, t.config);
      else
        out << fmt::format("    {:<13} {}  {}\n", name_of(t.status), t.config, t.message);
      any = true;
    }
  }
  if (!any) out << "no trials of " << key << "\n";
  return 0;
}

int export_winners(Database& db, const std::vector<std::string>& args, std::ostream& out) {
  if (args.size() > 1) throw Usage("export: at most one file");
  std::string text;
  try {
    text = to_json(db.winners()).dump(2) + "\n";
  } catch (const nlohmann::json::type_error&) {  // JSON is UTF-8; mfjit writes nothing else
    throw std::runtime_error(fmt::format("export: the tuning database {} holds text that is not UTF-8: the file is "
                                         "damaged or was written by something else",
                                         db.path()));
  }
  if (args.empty() || args[0] == "-") {
    out << text;
    return 0;
  }
  std::ofstream file(args[0]);
  if (!(file << text)) throw std::runtime_error("export: cannot write " + args[0]);
  return 0;
}

// The page as a whole file: an existing FILE stays as it was unless the new page is complete.
int report(const Database& db, const std::vector<std::string>& args, std::ostream& out) {
  std::string file;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] != "--html") throw Usage("report: unknown argument " + args[i]);
    if (i + 1 >= args.size()) throw Usage("report: --html needs a file");
    if (!file.empty()) throw Usage("report: give --html once");
    file = args[++i];
  }
  if (file.empty()) throw Usage("report: give --html FILE");
  std::error_code unknown;  // a FILE that does not exist yet is not the database
  if (std::filesystem::equivalent(file, db.path(), unknown))
    throw Usage("report: --html " + file + " is the tuning database itself");
  Report page;
  try {
    page = html_report(db);
  } catch (const NotUtf8&) {  // as export: the page cannot show it, and mfjit writes nothing else
    throw std::runtime_error(fmt::format("report: the tuning database {} holds text that is not UTF-8: the file is "
                                         "damaged or was written by something else",
                                         db.path()));
  }
  try {
    write_file_atomically(file, page.html);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(fmt::format("report: --html {}: {}", file, e.what()));
  }
  out << fmt::format("wrote {}: {} winner{} on {} device{}\n", file, page.winners, page.winners == 1 ? "" : "s",
                     page.devices, page.devices == 1 ? "" : "s");
  return 0;
}

// Every winner or none: the export is validated whole before the one transaction starts.
int import_winners(Database& db, const std::vector<WinnerRecord>& winners, std::ostream& out) {
  const std::int64_t taken = db.import_winners(winners, keep_existing);
  out << fmt::format("imported {} of {} winners ({} kept the existing one)\n", taken, winners.size(),
                     std::int64_t(winners.size()) - taken);
  return 0;
}

int import_file(Database& db, const std::vector<std::string>& args, std::ostream& out) {
  if (args.size() != 1) throw Usage("import: give one file");
  std::ifstream file(args[0]);
  if (!file) throw std::runtime_error("import: cannot read " + args[0]);
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(file);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("import: {} is not JSON: {}", args[0], e.what()));
  }
  return import_winners(db, winners_from_json(document), out);
}

std::string identity(const WinnerRecord& w) {
  return short_device(w.device) + " " + w.trial.generator_hash + " " + w.key;
}

int diff(Database& db, const std::vector<std::string>& args, std::ostream& out) {
  if (args.size() != 1) throw Usage("diff: give the other database");
  const Database other = Database::open(args[0], {tuner::db::Mode::kReadOnly});
  std::map<std::string, WinnerRecord> here, there;
  for (auto& w : db.winners()) here.emplace(identity(w), w);
  for (auto& w : other.winners()) there.emplace(identity(w), w);
  int differences = 0;
  for (const auto& [id, w] : here) {
    const auto it = there.find(id);
    if (it == there.end()) {
      out << "only here:   " << id << "\n";
      ++differences;
    } else if (it->second.trial.config != w.trial.config) {
      out << fmt::format("different:   {}\n  here  {} {:.2f} us\n  there {} {:.2f} us\n", id, w.trial.config,
                         w.trial.timing->median_us, it->second.trial.config, it->second.trial.timing->median_us);
      ++differences;
    }
  }
  for (const auto& [id, w] : there)
    if (!here.count(id)) {
      out << "only there:  " << id << "\n";
      ++differences;
    }
  out << (differences == 0 ? "no differences\n" : fmt::format("{} differences\n", differences));
  return 0;
}

int prune(Database& db, const std::vector<std::string>& args, const std::string& backend, std::ostream& out) {
  if (args.empty()) throw Usage("prune: name what to remove: --failed, --stale, --misses");
  for (const auto& a : args) {
    if (a == "--failed") {
      out << fmt::format("removed {} failed trials\n", db.prune_failed());
    } else if (a == "--misses") {
      out << fmt::format("removed {} misses that have a winner\n", db.prune_resolved_misses());
    } else if (a == "--stale") {
      const Context context(backend);
      out << fmt::format("removed {} stale winners\n", db.remove_winners(stale(db, context.handle)));
    } else {
      throw Usage("prune: unknown argument " + a);
    }
  }
  return 0;
}

}  // namespace

int mf_db(const std::vector<std::string>& all_args, std::ostream& out, std::ostream& err) {
  try {
    std::string path = runtime::default_tuning_db_path(), backend = "auto", command;
    std::vector<std::string> args;
    for (std::size_t i = 0; i < all_args.size(); ++i) {
      const std::string& a = all_args[i];
      if (a == "-h" || a == "--help") {
        out << kUsage;
        return 0;
      }
      if (command.empty() && (a == "--db" || a == "--backend")) {
        if (i + 1 >= all_args.size()) throw Usage(a + " needs a value");
        (a == "--db" ? path : backend) = all_args[++i];
      } else if (command.empty() && a.rfind("--", 0) != 0) {
        command = a;
      } else if (a == "--backend") {
        if (i + 1 >= all_args.size()) throw Usage(a + " needs a value");
        backend = all_args[++i];
      } else {
        args.push_back(a);
      }
    }
    if (command.empty()) throw Usage("no command");
    const bool writes = command == "import" || command == "merge" || command == "prune" || command == "verify";
    const bool known = writes || command == "list" || command == "show" || command == "export" || command == "diff" ||
                       command == "report";
    if (!known) throw Usage("unknown command " + command);
    if ((!writes || command == "verify") && !std::filesystem::exists(path))
      throw std::runtime_error(fmt::format("no tuning database at {} yet (mf-tune creates it; --db names another)", path));
    Database db = Database::open(path, {writes ? tuner::db::Mode::kReadWrite : tuner::db::Mode::kReadOnly});
    if (command == "list") return list(db, args, backend, out);
    if (command == "show") return show(db, args, out);
    if (command == "export") return export_winners(db, args, out);
    if (command == "import") return import_file(db, args, out);
    if (command == "diff") return diff(db, args, out);
    if (command == "report") return report(db, args, out);
    if (command == "prune") return prune(db, args, backend, out);
    if (command == "verify") return verify(db, args, backend, out);
    // merge
    if (args.size() != 1) throw Usage("merge: give the other database");
    const Database other = Database::open(args[0], {tuner::db::Mode::kReadOnly});
    // Checked as an export's winners are (another mfjit's database, or a hostile one).
    std::vector<WinnerRecord> winners = other.winners();
    for (std::size_t i = 0; i < winners.size(); ++i)
      check_winner(winners[i], fmt::format("merge: {}: winners[{}]", args[0], i));
    return import_winners(db, winners, out);
  } catch (const Usage& e) {
    err << "mf-db: " << e.what() << "\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    err << "mf-db: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace mf::tools
