// A bounded, seeded fuzz driver (issue 27; tests/reliability/README.md) for what users and
// files hand mfjit: problem JSON (mf-tune --problems, the IR), problem keys (the database,
// plans' nearest-neighbour search, mf-db show), tile configurations (the IR's JSON, the
// generators' spaces, $MFJIT_TILE_CONFIG) and tuning exports (mf-db import).
//
// The toolchain is GCC 12 (tools/setup.sh), which has no -fsanitize=fuzzer (libFuzzer is
// clang's, and clang is no dependency of mfjit), so the driver mutates valid inputs with a
// seeded generator instead: structure-aware edits of the JSON tree (values of every kind
// and edge value, fields removed, added, duplicated) and, for a fifth of the cases, bytes
// of the text flipped, inserted or cut. Each case is reproducible from the target's seed
// and its index, which a failure names. The sanitized build runs it under AddressSanitizer
// and UndefinedBehaviorSanitizer.
//
// The oracle: no crash; every input is either accepted or rejected with an exception that
// says what is wrong — a std::exception with a message, never a bare nlohmann exception
// (nlohmann's "[json.exception.type_error.302] type must be string" says nothing of where)
// and never a standard library's internal one ("vector::_M_range_check", "stoi").
// Short version (CI): 200 cases a target; long (label reliability): 100 000.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "config_provider.h"
#include "harness.h"
#include "mf/compiler/evo_attention_generator.h"
#include "mf/compiler/layer_norm_linear_generator.h"
#include "mf/compiler/transition_generator.h"
#include "mf/ir/evo_attention.h"
#include "mf/ir/json.h"
#include "mf/ir/layer_norm_linear.h"
#include "mf/ir/problem_key.h"
#include "mf/ir/transition.h"
#include "mf/ir/validate.h"
#include "mf/runtime/tuning_identity.h"
#include "mf/tuning_db/database.h"
#include "mf_db.h"
#include "problem_file.h"
#include "winner_json.h"

namespace mf::reliability {
namespace {

using nlohmann::json;
using tuning_db::Database;

std::int64_t cases() { return long_version() ? 100000 : 200; }

// ---- the mutator ------------------------------------------------------------------------

class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : rng_(seed) {}

  std::size_t below(std::size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  // Values where code breaks: bounds of the integer types, zero, negatives, sizes past any
  // memory, fractions, special floats, strings of every sort, other kinds.
  json value() {
    static const std::vector<std::int64_t> integers = {
        0, 1, -1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 24, 31, 32, 33, 64, 100, 127, 128, 129, 256, 511, 512, 1024, 4096,
        65535, 65536, 1 << 20, std::numeric_limits<std::int32_t>::max(),
        std::int64_t(std::numeric_limits<std::int32_t>::max()) + 1,
        std::numeric_limits<std::int32_t>::min(), std::int64_t(1) << 53, std::numeric_limits<std::int64_t>::max(),
        std::numeric_limits<std::int64_t>::min(), -16, -4096};
    static const std::vector<double> reals = {0.5, -0.0, 1e-300, 1e300, -1e300, 3.5, 2.0, -1.5,
                                              std::numeric_limits<double>::infinity()};
    static const std::vector<std::string> strings = {
        "", "nonsense", "bf16", "f16", "f32", "f64", "bool", "forward", "backward", "evo_attention",
        "layer_norm_linear", "transition", "template", "mlir", "reference", "fortran", "nvidia", "cpu", "amd",
        "sm_90", "gfx942", "boolean", "additive", "none", "deterministic", "fast", "v1;op=evo_attention",
        "2026-12-07T01:23:45Z", "\xff\xfe", std::string(300, 'x'), "a\"b\\c", "warps", "block_k", "generator",
        "mfjit-tuning/1", "null", "0x10", "1e3", std::string("nul\0inside", 10)};
    switch (below(9)) {
      case 0:
      case 1:
      case 2: return integers[below(integers.size())];
      case 3: return reals[below(reals.size())];
      case 4:
      case 5: return strings[below(strings.size())];
      case 6: return chance(0.5);
      case 7: return nullptr;
      default: return chance(0.5) ? json::array({integers[below(integers.size())]}) : json::object();
    }
  }

  // One edit somewhere in the tree: a value replaced (or, in an array, an element changed,
  // added or dropped), a field removed, added or copied from another.
  void edit(json& root) {
    json* node = &root;
    for (int depth = 0; depth < 8 && (node->is_object() || node->is_array()) && !node->empty() && chance(0.75);
         ++depth) {
      auto it = node->begin();
      std::advance(it, static_cast<std::ptrdiff_t>(below(node->size())));
      node = &*it;
    }
    if (node->is_object() && !node->empty() && chance(0.5)) {
      auto it = node->begin();
      std::advance(it, static_cast<std::ptrdiff_t>(below(node->size())));
      const std::string name = it.key();
      switch (below(3)) {
        case 0: node->erase(name); return;
        case 1: (*node)[name] = value(); return;
        default: (*node)[name + (chance(0.5) ? "_" : "")] = node->at(name); return;
      }
    }
    if (node->is_object() && chance(0.3)) {
      static const std::vector<std::string> names = {"colour", "generator", "warps", "op", "desc", "direction",
                                                     "shape", "strides", "dtype", "bias", "mask", "noise", "extra"};
      (*node)[names[below(names.size())]] = value();
      return;
    }
    if (node->is_array() && !node->empty() && chance(0.5)) {
      const std::size_t at = below(node->size());
      switch (below(3)) {
        case 0: node->erase(at); return;
        case 1: (*node)[at] = value(); return;
        default: node->push_back((*node)[at]); return;
      }
    }
    *node = value();
  }

  // The text of `document` after 1 to 4 edits, and for a fifth of the cases bytes flipped,
  // inserted or cut.
  std::string mutated(json document) {
    const std::size_t edits = chance(0.5) ? 1 : 1 + below(4);
    for (std::size_t i = 0; i < edits; ++i) edit(document);
    std::string text = document.dump(-1, ' ', false, json::error_handler_t::replace);
    if (chance(0.2) && !text.empty()) {
      const std::size_t at = below(text.size());
      switch (below(3)) {
        case 0: text[at] = static_cast<char>(text[at] ^ (1 << below(8))); break;
        case 1: text.insert(at, 1, "{}[],:\"0\\"[below(9)]); break;
        default: text.erase(at, 1 + below(8)); break;
      }
    }
    return text;
  }

  // A string that looks like a key: a real key with edits of its fields.
  std::string key_like(std::string key) {
    static const std::vector<std::string> pieces = {";",  "=",  ";bucket_n=", ";bucket_", "bucket_n=0", "=-1",
                                                    "=1e999", "=nan", "==", ";;", "v1", "v2", "x", "\xff", "%s",
                                                    "=999999999999999999999"};
    const std::size_t edits = 1 + below(4);
    for (std::size_t i = 0; i < edits; ++i) {
      const std::size_t at = below(key.size() + 1);
      switch (below(3)) {
        case 0: key.insert(at, pieces[below(pieces.size())]); break;
        case 1: key.erase(at, below(12)); break;
        default: key = key.substr(0, at) + pieces[below(pieces.size())]; break;
      }
    }
    return key;
  }

 private:
  std::mt19937_64 rng_;
};

// ---- the oracle -------------------------------------------------------------------------

struct Verdicts {
  std::int64_t accepted = 0, rejected = 0;
};

// Runs one case: accepted, or rejected with a message that says something.
template <class F>
void expect_clean(F&& fn, Verdicts& verdicts, const std::string& target, std::int64_t index, const std::string& input) {
  const auto where = [&] { return fmt::format("{} case {} (input: {})", target, index, input.substr(0, 2000)); };
  try {
    fn();
    ++verdicts.accepted;
  } catch (const json::exception& e) {
    ADD_FAILURE() << where() << ": an unexplained nlohmann exception: " << e.what();
  } catch (const std::exception& e) {
    ++verdicts.rejected;
    const std::string message = e.what();
    EXPECT_FALSE(message.empty()) << where() << ": an exception without a message";
    for (const char* internal : {"_M_", "basic_string", "stoi", "stoll", "stod", "vector::", "bad_variant_access",
                                 "bad_optional_access", "std::"})
      EXPECT_EQ(message.find(internal), std::string::npos) << where() << ": a standard library's message: " << message;
  } catch (...) {
    ADD_FAILURE() << where() << ": an exception that is not a std::exception";
  }
}

void report(const std::string& target, const Verdicts& verdicts) {
  std::printf("%s: %lld cases, %lld accepted, %lld rejected with a message%s\n", target.c_str(),
              static_cast<long long>(verdicts.accepted + verdicts.rejected), static_cast<long long>(verdicts.accepted),
              static_cast<long long>(verdicts.rejected),
              ::testing::Test::HasFailure() ? "; FAILURES (above)" : ", 0 crashes");
}

// A cpu context for the runtime's tuning functions.
struct CpuContext {
  mf_context handle = nullptr;
  CpuContext() {
    mf_context_options options;
    mf_context_options_init(&options);
    options.backend = MF_BACKEND_CPU;
    if (mf_context_create(&options, &handle) != MF_SUCCESS) throw std::runtime_error(mf_last_error());
  }
  ~CpuContext() { mf_context_destroy(handle); }
};

// Problems of every operator, both directions, as seeds.
std::vector<ir::Problem> seed_problems() {
  std::vector<ir::Problem> out;
  const auto evo = ir::msa_row_attention(1, 2, 16, 2, 16);
  const auto triangle = ir::triangle_attention_ending(1, 16, 2, 32);
  const auto lnl = ir::layer_norm_linear(16, 32, 16);
  const auto tra = ir::transition(16, 16, 2);
  out.push_back({evo, ir::Direction::forward()});
  out.push_back({ir::with_gradients(evo, evo.all_gradients()), ir::Direction::backward(evo.all_gradients())});
  out.push_back({triangle, ir::Direction::forward()});
  out.push_back({lnl, ir::Direction::forward()});
  out.push_back({ir::with_gradients(lnl, lnl.all_gradients()), ir::Direction::backward(lnl.all_gradients())});
  out.push_back({tra, ir::Direction::forward()});
  out.push_back({ir::with_gradients(tra, tra.all_gradients()), ir::Direction::backward(tra.all_gradients())});
  return out;
}

const std::vector<tuning_db::DeviceRecord>& gpu_devices() {
  static const std::vector<tuning_db::DeviceRecord> devices = {
      h200(),
      {"nvidia", "NVIDIA A100", "sm_80", 108, 40 << 20, 80LL << 30, 12040, "nvrtc 12.4"},
      {"amd", "AMD Instinct MI300X", "gfx942", 304, 256 << 20, 192LL << 30, 60000, "hiprtc 6.0"},
      {"amd", "AMD Instinct MI250X", "gfx90a", 110, 8 << 20, 64LL << 30, 50000, "hiprtc 5.2"}};
  return devices;
}

// mf-tune's path for a problem file: read it, then for each problem what mf-tune does
// before measuring (validation, the backend's offer, key, hash, spaces), and the GPU
// generators' spaces for it as an import checks them.
TEST(Fuzz, ProblemJson) {
  const Scratch dir;
  const CpuContext cpu;
  const auto seeds = seed_problems();
  Mutator mutate(0x70726f626c656dULL);
  Verdicts verdicts;
  for (std::int64_t i = 0; i < cases() && !::testing::Test::HasFailure(); ++i) {
    json document = json::array();
    document.push_back(seeds[mutate.below(seeds.size())]);
    if (mutate.chance(0.2)) document.push_back(seeds[mutate.below(seeds.size())]);
    const std::string text = mutate.mutated(document);
    write_bytes(dir.file("problems.json"), text);
    expect_clean(
        [&] {
          for (const ir::Problem& problem : tools::read_problem_file(dir.file("problems.json"), "--problems")) {
            ir::validate(problem);
            if (runtime::tuning_unsupported(cpu.handle, problem)) continue;
            (void)ir::problem_key(problem);
            (void)ir::key_family(problem);
            (void)runtime::tuning_generator_hash(cpu.handle, problem);
            for (const auto& space : runtime::tuning_spaces(cpu.handle, problem)) (void)space.configs();
            for (const auto& device : gpu_devices()) {
              try {
                const auto space = runtime::tuning_record_space(device, problem, "template");
                const auto configs = space.configs();
                if (!configs.empty()) space.check(configs[mutate.below(configs.size())]);
              } catch (const std::invalid_argument& e) {  // a problem the template generator does not serve
                EXPECT_EQ(std::string(e.what()).rfind("generator: ", 0), 0u) << e.what();
              }
            }
          }
        },
        verdicts, "problem JSON", i, text);
  }
  report("problem JSON", verdicts);
}

// Keys as the database and plans meet them: a winner's key checked against its problem
// (import), looked up (mf-db show, Database::winner), and the size buckets of a family's
// keys compared by plans choosing the nearest tuned neighbour — there through a database
// of winners whose keys are hostile, every 25th case.
TEST(Fuzz, Keys) {
  const Scratch dir;
  const auto seeds = seed_problems();
  const auto cpu_backend = [] {
    mf_context_options options;
    mf_context_options_init(&options);
    options.backend = MF_BACKEND_CPU;
    return runtime::create_backend(options, "");
  }();
  const std::string db_path = dir.file("tuning.db");
  const ir::Problem problem = seeds[0];
  const std::string key = ir::problem_key(problem), family = ir::key_family(problem);
  const auto cpu_device = runtime::device_record(*cpu_backend);
  const std::string hash = cpu_backend->generator_hash(problem);
  {
    Database db = Database::open(db_path);
    db.set_winner(db.record_trial(h200(), record_of(problem),
                                  {"template", "hash1", h200_configs(problem)[0], tuning_db::TrialStatus::kOk, "",
                                   tuning_db::Timing{2, 2, 0, 3}}),
                  {"exhaustive", 1, 0.0});
  }
  const Database reader = Database::open(db_path, {tuning_db::Mode::kReadOnly});
  const tuning_db::WinnerRecord winner = reader.winners().at(0);
  // The plans' database: winners of this machine's cpu whose keys are hostile, started
  // afresh every 20 of them (a plan reads the whole family each time).
  const std::string plans_path = dir.file("plans.db");
  std::optional<runtime::TunedConfigProvider> provider;
  Mutator mutate(0x6b657973ULL);
  Verdicts verdicts;
  for (std::int64_t i = 0; i < cases() && !::testing::Test::HasFailure(); ++i) {
    const std::string hostile = mutate.key_like(mutate.chance(0.5) ? key : family);
    expect_clean(
        [&] {
          (void)runtime::bucket_distance(key, hostile);
          (void)runtime::bucket_distance(hostile, hostile);
          tuning_db::WinnerRecord w = winner;
          w.key = hostile;
          if (mutate.chance(0.5)) w.family = hostile;
          try {
            tools::check_winner(w, "winners[0]");
            EXPECT_TRUE(w.key == key && w.family == family) << "a key not the problem's was accepted: " << hostile;
          } catch (const std::runtime_error& e) {
            EXPECT_EQ(std::string(e.what()).rfind("winners[0].", 0), 0u) << e.what();
          }
          (void)reader.winner(h200(), hostile, "hash1");
          (void)reader.family_winners(h200(), hostile, "hash1");
          (void)reader.trials(h200(), hostile);
          if (i % 25 == 0) {
            // Plans choosing among neighbours of hostile keys, on this machine's cpu.
            if (i % 500 == 0) {
              provider.reset();
              for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(plans_path + suffix);
              provider.emplace(plans_path);
            }
            {
              Database writer = Database::open(plans_path);
              writer.set_winner(writer.record_trial(cpu_device, {hostile, family, nlohmann::json(problem).dump()},
                                                    {"reference", hash, "{\"generator\":\"reference\"}",
                                                     tuning_db::TrialStatus::kOk, "", tuning_db::Timing{3, 3, 0, 3}}),
                                {"exhaustive", 1, 0.0});
            }
            const ir::Problem other{ir::msa_row_attention(1, 3, 64, 2, 16), ir::Direction::forward()};
            const auto choice = provider->choose(other, ir::problem_key(other), *cpu_backend);
            EXPECT_TRUE(choice.db_warning.empty()) << choice.db_warning;
            std::ostringstream out, err;
            EXPECT_EQ(tools::mf_db({"--db", plans_path, "show", hostile}, out, err), 0) << err.str();
          }
        },
        verdicts, "keys", i, hostile);
  }
  report("keys", verdicts);
}

// Tile configurations: as JSON (the IR), checked against every generator's space for
// several targets, launch plans of those accepted; and as $MFJIT_TILE_CONFIG text.
TEST(Fuzz, TileConfigurations) {
  const auto seeds = seed_problems();
  const std::vector<compiler::Target> targets = {{"sm_90a", 132, 227 * 1024}, {"sm_80", 108, 163 * 1024},
                                                 {"gfx942", 304, 64 * 1024}};
  Mutator mutate(0x74696c6573ULL);
  Verdicts verdicts;
  for (std::int64_t i = 0; i < cases() && !::testing::Test::HasFailure(); ++i) {
    const ir::Problem& problem = seeds[mutate.below(seeds.size())];
    const compiler::Target& target = targets[mutate.below(targets.size())];
    const auto space_of = [&] {
      return std::visit(
          [&](const auto& op) {
            using Op = std::decay_t<decltype(op)>;
            if constexpr (std::is_same_v<Op, ir::EvoAttention>)
              return compiler::EvoAttentionGenerator::space(op, problem.direction, target);
            else if constexpr (std::is_same_v<Op, ir::LayerNormLinear>)
              return compiler::LayerNormLinearGenerator::space(op, problem.direction, target);
            else
              return compiler::TransitionGenerator::space(op, problem.direction, target);
          },
          problem.op);
    };
    const compiler::ParameterSpace space = space_of();
    const auto configs = space.configs();
    const json seed = configs.empty() ? json::object() : json(configs[mutate.below(configs.size())]);
    const std::string text = mutate.mutated(seed);
    expect_clean(
        [&] {
          ir::TileConfig config;
          json document;
          try {
            document = json::parse(text);
          } catch (const json::exception&) {
            return;  // not JSON (or a number past a double): its readers say so (mf-db import, the database)
          }
          config = document.get<ir::TileConfig>();
          space.check(config);
          std::visit(
              [&](const auto& op) {
                using Op = std::decay_t<decltype(op)>;
                if constexpr (std::is_same_v<Op, ir::EvoAttention>)
                  (void)compiler::EvoAttentionGenerator::launch_plan(op, problem.direction, config, target);
                else if constexpr (std::is_same_v<Op, ir::LayerNormLinear>)
                  (void)compiler::LayerNormLinearGenerator::launch_plan(op, problem.direction, config, target);
                else
                  (void)compiler::TransitionGenerator::launch_plan(op, problem.direction, config, target);
              },
              problem.op);
        },
        verdicts, "tile configurations", i, text);
    // The same configuration as $MFJIT_TILE_CONFIG text over the generator's default.
    std::string override_text;
    if (!configs.empty()) override_text = ir::to_string(configs[mutate.below(configs.size())]);
    override_text = mutate.key_like(override_text);
    expect_clean(
        [&] {
          runtime::ConfigChoice choice{configs.empty() ? ir::TileConfig{} : configs.front(), "default", "", ""};
          ::setenv("MFJIT_TILE_CONFIG", override_text.c_str(), 1);
          try {
            runtime::apply_tile_config_override(choice);
          } catch (...) {
            ::unsetenv("MFJIT_TILE_CONFIG");
            throw;
          }
          ::unsetenv("MFJIT_TILE_CONFIG");
          if (!configs.empty()) space.check(choice.config);
        },
        verdicts, "$MFJIT_TILE_CONFIG", i, override_text);
  }
  report("tile configurations", verdicts);
}

// Tuning exports: mutated exports read as mf-db import reads them; those accepted are
// imported (in one transaction, or refused by the database with a reason), and every
// 20th case runs the whole command in process, with the database compared before and after.
TEST(Fuzz, Imports) {
  const Scratch dir;
  const std::string source = dir.file("source.db"), target = dir.file("target.db");
  {
    Database db = Database::open(source);
    for (const auto& problem : seed_problems()) {
      if (!std::holds_alternative<ir::EvoAttention>(problem.op)) {
        tuning_db::TrialRecord mlir{"mlir", "mlir-host/1 + reference/1", "{}", tuning_db::TrialStatus::kOk, "",
                                    tuning_db::Timing{9, 8, 1, 3}};
        db.set_winner(db.record_trial({"cpu", "AMD EPYC", "x86_64", 2, 1 << 20, 1LL << 34, 0, "mlir-host/1"},
                                      record_of(problem), mlir),
                      {"descent", 2, 0.4, "noisy: 1 of 4 measurements spread over 10 % of their median"});
        continue;
      }
      if (problem.direction.pass != ir::Pass::kForward) continue;
      db.set_winner(db.record_trial(h200(), record_of(problem),
                                    {"template", "hash1", h200_configs(problem)[2], tuning_db::TrialStatus::kOk, "",
                                     tuning_db::Timing{20, 19, 0.5, 20}}),
                    {"exhaustive", 74, 0.07});
    }
  }
  const json good = tools::to_json(Database::open(source, {tuning_db::Mode::kReadOnly}).winners());
  Database db = Database::open(target);
  Mutator mutate(0x696d706f7274ULL);
  Verdicts verdicts;
  for (std::int64_t i = 0; i < cases() && !::testing::Test::HasFailure(); ++i) {
    const std::string text = mutate.mutated(good);
    expect_clean(
        [&] {
          if (i % 20 == 0) {
            write_bytes(dir.file("export.json"), text);
            const std::size_t before = db.winners().size();
            std::ostringstream out, err;
            const int status = tools::mf_db({"--db", target, "import", dir.file("export.json")}, out, err);
            if (status != 0) {
              EXPECT_EQ(db.winners().size(), before) << "a refused import wrote";
              EXPECT_EQ(err.str().rfind("mf-db: ", 0), 0u) << err.str();
              throw std::runtime_error(err.str());
            }
            return;
          }
          json document;
          try {
            document = json::parse(text);
          } catch (const json::exception&) {
            return;  // mf-db import says "is not JSON" (the 20th cases run it)
          }
          const auto winners = tools::winners_from_json(document);
          db.import_winners(winners, tools::keep_existing);
        },
        verdicts, "imports", i, text);
  }
  report("imports", verdicts);
}

}  // namespace
}  // namespace mf::reliability
