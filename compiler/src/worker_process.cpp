#include "worker_process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <system_error>

extern char** environ;

namespace mf::compiler {
namespace {

[[noreturn]] void throw_errno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

// A descriptor that closes itself.
struct Descriptor {
  int fd = -1;
  Descriptor() = default;
  explicit Descriptor(int f) : fd(f) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// The spawned process, reaped whatever happens: killed first unless it ended by itself.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      reap();
    }
  }
  void kill() { ::kill(pid_, SIGKILL); }
  std::optional<int> reap() {
    reaped_ = true;
    int status = 0;
    pid_t got;
    while ((got = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    return got == pid_ ? std::optional<int>(status) : std::nullopt;
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

// posix_spawn's attributes and file actions, destroyed on every path.
struct SpawnSetup {
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_t actions;
  SpawnSetup() {
    if (int error = posix_spawnattr_init(&attributes); error != 0) throw_errno(error, "posix_spawnattr_init");
    if (int error = posix_spawn_file_actions_init(&actions); error != 0) {
      posix_spawnattr_destroy(&attributes);
      throw_errno(error, "posix_spawn_file_actions_init");
    }
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
};

void check(int error, const char* what) {
  if (error != 0) throw_errno(error, what);
}

}  // namespace

WorkerAnswer run_worker(const std::string& program, const std::string& request, std::chrono::milliseconds timeout,
                        std::size_t max_answer) {
  int ends[2];
  // Close-on-exec: a worker that another thread starts meanwhile must not hold this
  // socket, or this side would wait for that worker's end too.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) throw_errno(errno, "socketpair");
  Descriptor ours(ends[0]), theirs(ends[1]);

  SpawnSetup setup;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  check(posix_spawnattr_setsigmask(&setup.attributes, &none), "posix_spawnattr_setsigmask");
  check(posix_spawnattr_setsigdefault(&setup.attributes, &all), "posix_spawnattr_setsigdefault");
  check(posix_spawnattr_setflags(&setup.attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF),
        "posix_spawnattr_setflags");
  check(posix_spawn_file_actions_adddup2(&setup.actions, theirs.fd, STDIN_FILENO), "posix_spawn_file_actions_adddup2");
  check(posix_spawn_file_actions_adddup2(&setup.actions, theirs.fd, STDOUT_FILENO), "posix_spawn_file_actions_adddup2");
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // The caller's descriptors that are not close-on-exec stay with the caller.
  check(posix_spawn_file_actions_addclosefrom_np(&setup.actions, STDERR_FILENO + 1),
        "posix_spawn_file_actions_addclosefrom_np");
#endif
  std::string path = program;
  char* argv[] = {path.data(), nullptr};
  pid_t pid = -1;
  if (int error = ::posix_spawn(&pid, program.c_str(), &setup.actions, &setup.attributes, argv, environ); error != 0)
    throw_errno(error, "starting " + program);
  Child child(pid);
  theirs.reset();
  if (::fcntl(ours.fd, F_SETFL, ::fcntl(ours.fd, F_GETFL) | O_NONBLOCK) != 0) throw_errno(errno, "fcntl");

  WorkerAnswer result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t sent = 0;
  bool sending = true;
  auto stop_sending = [&] {
    sending = false;
    ::shutdown(ours.fd, SHUT_WR);  // the worker reads to the end: this is it
  };
  if (request.empty()) stop_sending();
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.end = WorkerAnswer::End::kTimedOut;
      child.kill();
      break;
    }
    pollfd poll_fd{ours.fd, static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0};
    const int ready = ::poll(&poll_fd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) throw_errno(errno, "poll");
    if (ready <= 0) continue;
    if (sending && (poll_fd.revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t n = ::send(ours.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
      // A worker that stopped reading (it died, or it is not ours) answers or ends anyway.
      if (sent == request.size() || (n < 0 && errno != EAGAIN && errno != EINTR)) stop_sending();
    }
    if (poll_fd.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buffer[65536];
      const ssize_t n = ::read(ours.fd, buffer, sizeof buffer);
      if (n == 0) break;  // the worker closed its side
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        result.end = WorkerAnswer::End::kLostPeer;
        break;
      }
      if (result.answer.size() + static_cast<std::size_t>(n) > max_answer) {
        result.end = WorkerAnswer::End::kTooLarge;
        child.kill();
        break;
      }
      result.answer.append(buffer, static_cast<std::size_t>(n));
    }
  }
  result.status = child.reap();
  return result;
}

std::string describe_exit(const std::optional<int>& status) {
  if (!status) return "ended unobserved (its exit was reaped elsewhere: is SIGCHLD ignored?)";
  if (WIFSIGNALED(*status)) {
    const int signal = WTERMSIG(*status);
    const char* signal_name = sigabbrev_np(signal);
    return fmt::format("crashed with signal {} (SIG{})", signal, signal_name != nullptr ? signal_name : "?");
  }
  return fmt::format("exited with status {}", WEXITSTATUS(*status));
}

}  // namespace mf::compiler
