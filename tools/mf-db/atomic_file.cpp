#include "atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>

namespace mf::tools {
namespace {

struct WriteFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& what) {
  throw WriteFailed(fmt::format("{}: {}", what, std::strerror(errno)));
}

// An open file descriptor, closed when it goes out of scope (on failure paths; success
// closes it explicitly to see close's error).
struct Descriptor {
  int fd = -1;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

// The permissions of the file being replaced; nullopt for a new one (then those a new file
// gets: 0666 less the umask, applied when the temporary file is created).
std::optional<mode_t> existing_mode(const std::string& path) {
  struct stat existing {};
  if (::stat(path.c_str(), &existing) == 0 && S_ISREG(existing.st_mode)) return existing.st_mode & 07777;
  return std::nullopt;
}

// A new file beside `path` that no other writer has: ".<name>.<pid>.<n>.tmp" in its folder.
std::string create_temporary(const std::filesystem::path& path, Descriptor& file) {
  const std::filesystem::path folder = path.has_parent_path() ? path.parent_path() : ".";
  for (int attempt = 0;; ++attempt) {
    const std::string name =
        (folder / fmt::format(".{}.{}.{}.tmp", path.filename().string(), ::getpid(), attempt)).string();
    file.fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (file.fd >= 0) return name;
    if (errno != EEXIST || attempt >= 100)  // EEXIST: a file a killed run of this pid left
      fail(fmt::format("cannot create a temporary file in {}", folder.string()));
  }
}

void write_all(int fd, const std::string& text, const std::string& name) {
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot write " + name);
    done += std::size_t(n);
  }
}

// The rename is on disk once its folder is: a crash after it returns keeps the new page.
// Best effort: some file systems cannot sync a folder, and the page is whole either way.
void sync_folder(const std::filesystem::path& path) {
  const std::string folder = path.has_parent_path() ? path.parent_path().string() : ".";
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::filesystem::path target(path);
  if (!target.has_filename()) throw std::runtime_error(fmt::format("cannot write {}: it names a folder", path));
  Descriptor file;
  std::string temporary;
  try {
    const std::optional<mode_t> mode = existing_mode(path);
    temporary = create_temporary(target, file);
    if (mode && ::fchmod(file.fd, *mode) != 0) fail("cannot set the permissions of " + temporary);
    write_all(file.fd, text, temporary);
    if (::fsync(file.fd) != 0) fail("cannot sync " + temporary);
    const int fd = file.fd;
    file.fd = -1;
    if (::close(fd) != 0) fail("cannot close " + temporary);
    if (::rename(temporary.c_str(), path.c_str()) != 0) fail("cannot rename " + temporary + " over it");
  } catch (const WriteFailed& e) {
    if (!temporary.empty()) ::unlink(temporary.c_str());
    throw std::runtime_error(fmt::format("cannot write {}: {}", path, e.what()));
  }
  sync_folder(target);
}

}  // namespace mf::tools
