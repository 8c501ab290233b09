#include "harness.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "mf/compiler/evo_attention_generator.h"
#include "mf/ir/evo_attention.h"
#include "mf/ir/json.h"
#include "mf/ir/layer_norm_linear.h"
#include "mf/ir/problem_key.h"
#include "mf/ir/transition.h"
#include "mf/tuning_db/database.h"

extern char** environ;

namespace mf::reliability {

bool long_version() {
  const char* value = std::getenv("MF_RELIABILITY");
  return value != nullptr && std::string(value) == "long";
}

Scratch::Scratch() {
  static std::atomic<int> counter{0};
  const bool shm = std::filesystem::is_directory("/dev/shm") && ::access("/dev/shm", W_OK) == 0;
  const std::filesystem::path base = shm ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path();
  path_ = (base / fmt::format("mf_reliability_{}_{}", ::getpid(), counter++)).string();
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

Scratch::~Scratch() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string Exit::describe() const { return signaled ? fmt::format("signal {}", code) : fmt::format("exit {}", code); }

namespace {

// The environment of a child: this one's, with the cache folder and the sanitizers'
// options of the tests.
std::vector<std::string> child_environment(const std::string& folder) {
  std::vector<std::string> out;
  std::string asan = "exitcode=86", ubsan = "exitcode=87";
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text = *entry;
    if (text.rfind("MFJIT_CACHE_DIR=", 0) == 0 || text.rfind("MFJIT_DB=", 0) == 0) continue;
    if (text.rfind("ASAN_OPTIONS=", 0) == 0) asan = text.substr(13) + ":exitcode=86";
    else if (text.rfind("UBSAN_OPTIONS=", 0) == 0) ubsan = text.substr(14) + ":exitcode=87";
    else out.push_back(text);
  }
  out.push_back("ASAN_OPTIONS=" + asan);
  out.push_back("UBSAN_OPTIONS=" + ubsan);
  out.push_back("MFJIT_CACHE_DIR=" + folder + "/cache");
  return out;
}

}  // namespace

Exit run(const std::vector<std::string>& argv, const std::string& folder) {
  const std::string out_path = folder + "/child.out", err_path = folder + "/child.err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::vector<std::string> environment = child_environment(folder);
  std::vector<char*> env;
  for (const auto& e : environment) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) throw std::runtime_error(fmt::format("cannot run {}: {}", argv[0], std::strerror(spawned)));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  Exit exit;
  exit.signaled = WIFSIGNALED(status);
  exit.code = exit.signaled ? WTERMSIG(status) : WEXITSTATUS(status);
  exit.out = bytes_of(out_path);
  exit.err = bytes_of(err_path);
  return exit;
}

bool sanitizer_report(const Exit& exit) {
  for (const char* sign : {"AddressSanitizer", "LeakSanitizer", "runtime error:", "Sanitizer", "terminate called"})
    if (exit.err.find(sign) != std::string::npos || exit.out.find(sign) != std::string::npos) return true;
  return exit.code == 86 || exit.code == 87;
}

std::string bytes_of(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::string> query(const std::string& path, const std::string& sql) {
  sqlite3* handle = nullptr;
  std::vector<std::string> rows;
  std::string error;
  if (sqlite3_open_v2(path.c_str(), &handle, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    error = sqlite3_errmsg(handle);
  } else {
    sqlite3_busy_timeout(handle, 5000);
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(handle, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) {
      error = sqlite3_errmsg(handle);
    } else {
      int code = SQLITE_ROW;
      while ((code = sqlite3_step(statement)) == SQLITE_ROW) {
        const auto* text = sqlite3_column_text(statement, 0);
        rows.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "NULL");
      }
      if (code != SQLITE_DONE) error = sqlite3_errmsg(handle);
    }
    sqlite3_finalize(statement);
  }
  sqlite3_close(handle);
  if (!error.empty()) throw std::runtime_error(fmt::format("{} on {}: {}", sql, path, error));
  return rows;
}

std::string query_read_only(const std::string& path, const std::string& sql) {
  sqlite3* handle = nullptr;
  std::string result;
  if (sqlite3_open_v2(path.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    result = sqlite3_errmsg(handle);
  } else {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(handle, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) {
      result = sqlite3_errmsg(handle);
    } else {
      const int code = sqlite3_step(statement);
      const auto* text = code == SQLITE_ROW ? sqlite3_column_text(statement, 0) : nullptr;
      result = text != nullptr ? reinterpret_cast<const char*>(text) : sqlite3_errmsg(handle);
    }
    sqlite3_finalize(statement);
  }
  sqlite3_close(handle);
  return result;
}

std::string integrity(const std::string& path, const char* pragma) {
  try {
    const auto rows = query(path, fmt::format("PRAGMA {}(1)", pragma));
    return rows.empty() ? "no answer" : rows[0];
  } catch (const std::exception& e) {
    return e.what();
  }
}

std::vector<std::string> winner_lines(const std::string& path) {
  std::vector<std::string> out;
  for (const auto& w : tuning_db::Database::open(path, {tuning_db::Mode::kReadOnly}).winners())
    out.push_back(fmt::format("{} {} {} | {} | {} | {} | {}", w.device.vendor, w.device.name, w.device.driver_version,
                              w.key, w.trial.generator_hash, w.trial.config, w.trial.timing->median_us));
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<ir::Problem> small_problems() {
  return {{ir::msa_row_attention(1, 2, 16, 2, 16), ir::Direction::forward()},
          {ir::layer_norm_linear(16, 32, 16), ir::Direction::forward()},
          {ir::transition(16, 16, 2), ir::Direction::forward()}};
}

std::string problems_json(const std::vector<ir::Problem>& problems) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& p : problems) list.push_back(p);
  return list.dump(1);
}

tuning_db::ProblemRecord record_of(const ir::Problem& problem) {
  return {ir::problem_key(problem), ir::key_family(problem), nlohmann::json(problem).dump()};
}

tuning_db::DeviceRecord h200() {
  return {"nvidia", "NVIDIA H200", "sm_90", 132, 60 << 20, 141LL << 30, 13000, "nvrtc 13.0"};
}

std::vector<std::string> h200_configs(const ir::Problem& problem) {
  const auto& op = std::get<ir::EvoAttention>(problem.op);
  std::vector<std::string> out;
  const compiler::Target unlimited{"sm_90a", 132, INT_MAX};
  for (const auto& config : compiler::EvoAttentionGenerator::space(op, problem.direction, unlimited).configs())
    out.push_back(nlohmann::json(config).dump());
  return out;
}

}  // namespace mf::reliability
