// Whole-message blocking I/O on a stream socket, for mf-hiprtc-worker (the library side,
// which must not block for ever, is worker_process.h).
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace mf::compiler {

// Everything until the peer shuts its side down; false on a read error.
inline bool read_to_end(int fd, std::string& data) {
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    data.append(buffer, static_cast<std::size_t>(n));
  }
}

// All of `data`; false when the peer is gone (no SIGPIPE: MSG_NOSIGNAL) or on an error.
inline bool send_all(int fd, const std::string& data) {
  for (std::size_t at = 0; at < data.size();) {
    const ssize_t n = ::send(fd, data.data() + at, data.size() - at, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    at += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace mf::compiler
