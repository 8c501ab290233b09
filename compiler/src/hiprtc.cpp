#include "mf/compiler/hiprtc.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "dynamic_library.h"
#include "hiprtc_api.h"
#include "hiprtc_wire.h"
#include "mf/compiler/compile_error.h"
#include "socket_io.h"
#include "toolkit_error.h"

extern char** environ;

namespace mf::compiler {
namespace {

constexpr const char* kWorkerName = "mf-hiprtc-worker";

std::string folder_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

// The worker program: $MFJIT_HIPRTC_WORKER when set; else beside the binary that holds this
// code, in ../bin from it (a wheel's mfjit/lib/libmfjit.so and mfjit/bin/) or where an
// installation puts it from there (libexec/mfjit), or beside the running program; else where
// this build tree put it. "" and the places tried in `reason` when none is there.
std::string find_worker(std::string& reason) {
  const char* given = std::getenv("MFJIT_HIPRTC_WORKER");
  std::vector<std::string> candidates;
  if (given != nullptr && *given != '\0') {
    candidates.push_back(given);
  } else {
    std::vector<std::string> folders;
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&find_worker), &info) != 0 && info.dli_fname != nullptr &&
        std::strchr(info.dli_fname, '/') != nullptr)
      folders.push_back(folder_of(info.dli_fname));
    char program[4096];
    if (const ssize_t n = ::readlink("/proc/self/exe", program, sizeof program - 1); n > 0)
      folders.push_back(folder_of(std::string(program, static_cast<std::size_t>(n))));
    for (const std::string& folder : folders) {
      candidates.push_back(folder + "/" + kWorkerName);
      candidates.push_back(folder + "/../bin/" + kWorkerName);
      candidates.push_back(folder + "/" MF_HIPRTC_WORKER_FROM_LIBRARY "/" + kWorkerName);
    }
    candidates.push_back(MF_HIPRTC_WORKER_BUILD_PATH);
  }
  for (const std::string& candidate : candidates)
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  reason = fmt::format("{} (hipRTC's compiling process) is not at {}; $MFJIT_HIPRTC_WORKER names it", kWorkerName,
                       fmt::join(candidates, ", "));
  return {};
}

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    const char* signal_name = sigabbrev_np(signal);
    return fmt::format("crashed with signal {} (SIG{})", signal, signal_name != nullptr ? signal_name : "?");
  }
  return fmt::format("exited with status {} before reporting", WEXITSTATUS(status));
}

// A socket end that closes itself.
struct Socket {
  int fd = -1;
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
};

[[noreturn]] void throw_system(const std::string& what, const std::string& name, const std::string& arch, int error) {
  throw CompileError(CompileError::Kind::kRejected,
                     fmt::format("hipRTC cannot compile {} for {}: {}: {}", name, arch, what, std::strerror(error)));
}

// Runs `request` in a fresh mf-hiprtc-worker and returns its outcome; a worker that dies
// before answering is a rejection that says how it died.
hiprtc::Outcome compile_in_worker(const std::string& worker, const hiprtc::Request& request, const std::string& arch) {
  int ends[2];
  // Close-on-exec: a worker that another thread starts meanwhile must not hold this
  // socket, or this side would wait for that worker too.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0)
    throw_system("socketpair", request.name, arch, errno);
  Socket ours{ends[0]}, theirs{ends[1]};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, theirs.fd, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, theirs.fd, STDOUT_FILENO);
  std::string program = worker;
  char* argv[] = {program.data(), nullptr};
  pid_t child = -1;
  const int spawned = ::posix_spawn(&child, worker.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) throw_system(fmt::format("starting {}", worker), request.name, arch, spawned);
  ::close(theirs.fd);
  theirs.fd = -1;
  // A worker that died early leaves the request unsent: its exit status says why.
  if (send_all(ours.fd, hiprtc::encode(request))) ::shutdown(ours.fd, SHUT_WR);
  std::string report;
  const bool read = read_to_end(ours.fd, report);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  std::optional<hiprtc::Outcome> outcome = read ? hiprtc::decode_outcome(report) : std::nullopt;
  if (!outcome || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw_rejected("hipRTC", fmt::format("the compiler {}; this hipRTC cannot compile for {}", describe_exit(status), arch),
                   request.name, arch, outcome ? outcome->log : std::string());
  return std::move(*outcome);
}

bool is_elf(const std::string& binary) { return binary.size() >= 4 && std::memcmp(binary.data(), "\x7f" "ELF", 4) == 0; }

}  // namespace

// Loads hipRTC here too, though only the worker compiles: so that a missing or broken
// library is "not available" at once, with its version known.
HipRtc::HipRtc() {
  auto [library, path] = open_first_library(hiprtc::candidate_paths(), unavailable_reason_);
  if (library == nullptr) return;
  unavailable_reason_.clear();  // an earlier candidate failed, but this one loaded
  hiprtc::Api api;
  if (!hiprtc::resolve(library, path, api, unavailable_reason_)) return;
  if (hiprtc::Result result = api.version(&major_, &minor_); result != hiprtc::kSuccess) {
    unavailable_reason_ = fmt::format("hiprtcVersion failed: {}", hiprtc::error_text(api, result));
    return;
  }
  worker_ = find_worker(unavailable_reason_);
  library_ = path;
}

HipRtc::~HipRtc() = default;

const HipRtc& HipRtc::instance() {
  static const HipRtc hiprtc;
  return hiprtc;
}

std::string HipRtc::version() const { return available() ? fmt::format("{}.{}", major_, minor_) : std::string(); }

CompiledCodeObject HipRtc::compile(const std::string& source, const std::string& name, const std::string& arch,
                                   const std::vector<std::string>& options) const {
  if (!available())
    throw CompileError(CompileError::Kind::kToolchainUnavailable, "hipRTC is not available: " + unavailable_reason_);
  hiprtc::Request request{library_, source, name,
                          {"--offload-arch=" + arch, "-O3", "-std=c++17",
                           // the templates are concatenated headers
                           "-Wno-pragma-once-outside-header"}};
  request.options.insert(request.options.end(), options.begin(), options.end());
  hiprtc::Outcome outcome = compile_in_worker(worker_, request, arch);
  if (!outcome.compiled) throw_rejected("hipRTC", outcome.failure, name, arch, outcome.log);
  if (!is_elf(outcome.code))
    throw CompileError(CompileError::Kind::kCorruptBinary,
                       fmt::format("hipRTC returned {} bytes for {} ({}) that are not an ELF code object",
                                   outcome.code.size(), name, arch));
  return {std::vector<char>(outcome.code.begin(), outcome.code.end()), std::move(outcome.log)};
}

bool HipRtc::compiles_for(const std::string& arch) const {
  if (!available()) return false;
  static std::mutex mutex;
  static std::map<std::string, bool> known;
  const std::lock_guard lock(mutex);
  if (auto it = known.find(arch); it != known.end()) return it->second;
  bool compiles = true;
  try {
    compile("extern \"C\" __global__ void mf_probe(float* x) { x[threadIdx.x] += 1.0f; }", "mf_probe.hip", arch);
  } catch (const CompileError&) {
    compiles = false;
  }
  return known[arch] = compiles;
}

}  // namespace mf::compiler
