#include "mf/compiler/hiprtc.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <link.h>
#include <unistd.h>

#include <climits>
#include <cerrno>
#include <chrono>
#include <system_error>
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
#include "toolkit_error.h"
#include "worker_process.h"

namespace mf::compiler {
namespace {

constexpr const char* kWorkerName = "mf-hiprtc-worker";
// The most a worker may answer: a code object and a log, far under this.
constexpr std::size_t kMaxAnswer = std::size_t{1} << 30;
constexpr int kDefaultTimeoutSeconds = 600;

std::string folder_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

// `path` with every symbolic link resolved; "" where it does not exist.
std::string canonical(const char* path) {
  char resolved[PATH_MAX];
  return ::realpath(path, resolved) != nullptr ? std::string(resolved) : std::string();
}

// The binary that holds this code, canonical: libmfjit.so, or a program linked with mfjit
// statically (whose loader name is argv[0], maybe relative: realpath, else /proc/self/exe).
std::string this_binary() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&folder_of), &info) != 0 && info.dli_fname != nullptr && *info.dli_fname != '\0')
    if (std::string path = canonical(info.dli_fname); !path.empty()) return path;
  return canonical("/proc/self/exe");
}

// The worker program: $MFJIT_HIPRTC_WORKER when set. Else, for a binary of this build tree,
// the worker this build tree made, and for an installed binary one beside it, in ../bin
// from it (a wheel's mfjit/lib/libmfjit.so and mfjit/bin/) or where an installation puts
// it from there (libexec/mfjit): never a worker of another tree or installation. "" and
// the places tried in `reason` when none is there.
std::string find_worker(std::string& reason) {
  const char* given = std::getenv("MFJIT_HIPRTC_WORKER");
  std::vector<std::string> candidates;
  if (given != nullptr && *given != '\0') {
    candidates.push_back(given);
  } else if (const std::string binary = this_binary(), tree = canonical(MF_BUILD_TREE);
             !tree.empty() && binary.rfind(tree + "/", 0) == 0) {
    candidates.push_back(MF_HIPRTC_WORKER_BUILD_PATH);
  } else {
    const std::string folder = folder_of(binary);
    candidates = {folder + "/" + kWorkerName, folder + "/../bin/" + kWorkerName,
                  folder + "/" MF_HIPRTC_WORKER_FROM_LIBRARY "/" + kWorkerName};
  }
  for (const std::string& candidate : candidates)
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  reason = fmt::format("{} (hipRTC's compiling process) is not at {}; $MFJIT_HIPRTC_WORKER names it", kWorkerName,
                       fmt::join(candidates, ", "));
  return {};
}

// $MFJIT_HIPRTC_TIMEOUT: the seconds one compile may take before its worker is killed.
std::optional<int> timeout_seconds(std::string& reason) {
  const char* given = std::getenv("MFJIT_HIPRTC_TIMEOUT");
  if (given == nullptr || *given == '\0') return kDefaultTimeoutSeconds;
  char* end = nullptr;
  errno = 0;
  const long seconds = std::strtol(given, &end, 10);
  if (errno != 0 || *end != '\0' || seconds <= 0 || seconds > 86400) {
    reason = fmt::format("$MFJIT_HIPRTC_TIMEOUT={} is not a whole number of seconds from 1 to 86400", given);
    return std::nullopt;
  }
  return static_cast<int>(seconds);
}

// The file the loader took for `library` (a bare soname resolves through the search path):
// the worker loads that same file.
std::string loaded_path(void* library, const std::string& name) {
  link_map* map = nullptr;
  if (dlinfo(library, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr && *map->l_name != '\0')
    return map->l_name;
  return name;
}

// Runs `request` in a fresh worker and returns its outcome. A worker's answer counts
// whatever its exit status (a sanitizer's exit-time report must not undo a compile); one
// that ends without an answer is a rejection that says how it ended.
hiprtc::Outcome compile_in_worker(const std::string& worker, const hiprtc::Request& request, const std::string& arch,
                                  int timeout) {
  const std::string message = hiprtc::encode(request);
  WorkerAnswer answer;
  try {
    answer = run_worker(worker, message, std::chrono::seconds(timeout), kMaxAnswer);
  } catch (const std::system_error& error) {
    throw CompileError(CompileError::Kind::kRejected,
                       fmt::format("hipRTC cannot compile {} for {}: {}", request.name, arch, error.what()));
  }
  switch (answer.end) {
    case WorkerAnswer::End::kTimedOut:
      throw CompileError(CompileError::Kind::kRejected,
                         fmt::format("hipRTC did not compile {} for {} within {} s ($MFJIT_HIPRTC_TIMEOUT); its worker "
                                     "{} was killed",
                                     request.name, arch, timeout, worker));
    case WorkerAnswer::End::kTooLarge:
      throw CompileError(CompileError::Kind::kRejected,
                         fmt::format("hipRTC's worker {} answered more than {} bytes for {} ({}); it was killed", worker,
                                     kMaxAnswer, request.name, arch));
    case WorkerAnswer::End::kLostPeer:
    case WorkerAnswer::End::kAnswered:
      break;
  }
  if (std::optional<hiprtc::Outcome> outcome = hiprtc::decode_outcome(answer.answer)) return std::move(*outcome);
  if (!answer.answer.empty())
    throw_rejected("hipRTC",
                   fmt::format("its worker {} {} after {} bytes that are not a worker's answer (another program, or "
                               "another version of mfjit's?)",
                               worker, describe_exit(answer.status), answer.answer.size()),
                   request.name, arch, std::string());
  throw_rejected("hipRTC",
                 fmt::format("the compiler {} before answering; this hipRTC cannot compile for {}",
                             describe_exit(answer.status), arch),
                 request.name, arch, std::string());
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
  const std::optional<int> timeout = timeout_seconds(unavailable_reason_);
  if (!timeout) return;
  timeout_seconds_ = *timeout;
  worker_ = find_worker(unavailable_reason_);
  library_ = loaded_path(library, path);
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
  hiprtc::Outcome outcome = compile_in_worker(worker_, request, arch, timeout_seconds_);
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
