// One request to a helper program and its answer, in a process of its own (the hipRTC
// worker). Spawned, never forked: a fork of a threaded caller inherits every lock as it was.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace mf::compiler {

struct WorkerAnswer {
  enum class End {
    kAnswered,   // the worker closed its side: `answer` is all it said
    kTimedOut,   // no end before the deadline: the worker was killed
    kTooLarge,   // it said more than the limit: the worker was killed
    kLostPeer,   // reading failed (ECONNRESET and the like)
  };
  End end = End::kAnswered;
  std::string answer;
  // waitpid's status; nullopt where the process was reaped elsewhere (SIGCHLD ignored).
  std::optional<int> status;
};

// Starts `program` (no arguments; this process's environment; default signal handling and
// an empty signal mask; stdin and stdout one end of a socket, no other descriptor of
// ours), sends it `request` and closes the sending side, and reads its answer until it
// closes its own, both at once, so that neither side's buffer can block the other. The
// worker is always reaped, killed first where it overran `timeout` or `max_answer`.
// Throws std::system_error where the socket or the spawn fails.
WorkerAnswer run_worker(const std::string& program, const std::string& request, std::chrono::milliseconds timeout,
                        std::size_t max_answer);

// "crashed with signal 6 (SIGABRT)", "exited with status 3", or that it was reaped elsewhere.
std::string describe_exit(const std::optional<int>& status);

}  // namespace mf::compiler
