// File format, all integers little-endian:
//   0  magic "MFJITBIN"
//   8  u32 format version (kFormatVersion)
//  12  u64 payload size in bytes
//  20  SHA-256 of the payload (32 bytes)
//  52  payload
// The checksum catches what atomic renames cannot: a file torn by a crash before its data
// reached the disk, a truncated copy, a flipped bit.
#include "mf/compiler/binary_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include "sha256.h"

namespace mf::compiler {
namespace {

constexpr char kMagic[8] = {'M', 'F', 'J', 'I', 'T', 'B', 'I', 'N'};
constexpr std::uint32_t kFormatVersion = 1;
constexpr std::size_t kVersionOffset = 8;
constexpr std::size_t kSizeOffset = 12;
constexpr std::size_t kDigestOffset = 20;
constexpr std::size_t kHeaderSize = 52;
using Header = std::array<char, kHeaderSize>;

void put_little_endian(std::uint64_t value, char* bytes, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i, value >>= 8) bytes[i] = static_cast<char>(value & 0xff);
}

std::uint64_t get_little_endian(const char* bytes, std::size_t count) {
  std::uint64_t value = 0;
  for (std::size_t i = count; i > 0; --i) value = value << 8 | static_cast<unsigned char>(bytes[i - 1]);
  return value;
}

Digest payload_digest(const std::vector<char>& payload) {
  return sha256(std::string_view(payload.data(), payload.size()));
}

Header make_header(const std::vector<char>& payload) {
  Header header{};
  std::memcpy(header.data(), kMagic, sizeof kMagic);
  put_little_endian(kFormatVersion, header.data() + kVersionOffset, 4);
  put_little_endian(payload.size(), header.data() + kSizeOffset, 8);
  const Digest digest = payload_digest(payload);
  std::memcpy(header.data() + kDigestOffset, digest.data(), digest.size());
  return header;
}

void check_key(const std::string& key) {
  const bool valid_characters = std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
  });
  if (key.size() < 2 || key.size() > 128 || !valid_characters)
    throw std::invalid_argument("binary cache key '" + key + "' is not 2 to 128 characters of [0-9A-Za-z_-]");
}

// Owns a file descriptor; -1 when the open failed.
class File {
 public:
  explicit File(int fd) : fd_(fd) {}
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  int get() const { return fd_; }
  bool close() { return ::close(std::exchange(fd_, -1)) == 0; }

 private:
  int fd_;
};

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  return true;
}

bool read_all(int fd, char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t got = ::read(fd, data, size);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;  // an error, or the file is shorter than its header says
    data += got;
    size -= static_cast<std::size_t>(got);
  }
  return true;
}

// mkdir -p with mode 0755; false when some component cannot be made.
bool make_directories(const std::string& path) {
  for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return false;
    if (slash == std::string::npos) return true;
  }
}

// Unique across the threads and processes that may store the same key at once.
std::string temporary_path(const std::string& final_path) {
  static std::atomic<std::uint64_t> counter{0};
  return final_path + ".tmp." + std::to_string(::getpid()) + "." +
         std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id())) + "." +
         std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
}

bool write_file(const std::string& path, const std::vector<char>& binary) {
  File file(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (file.get() < 0) return false;
  const Header header = make_header(binary);
  // fsync before the rename: otherwise a crash can leave the final name on an empty file.
  return write_all(file.get(), header.data(), header.size()) &&
         write_all(file.get(), binary.data(), binary.size()) && ::fsync(file.get()) == 0 && file.close();
}

enum class ReadResult { kGood, kMissing, kOtherVersion, kCorrupt };

ReadResult read_file(const std::string& path, std::vector<char>& payload) {
  File file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) return ReadResult::kMissing;
  struct stat info {};
  if (::fstat(file.get(), &info) != 0 || !S_ISREG(info.st_mode)) return ReadResult::kMissing;
  const auto file_size = static_cast<std::uint64_t>(info.st_size);
  Header header{};
  if (file_size < kHeaderSize || !read_all(file.get(), header.data(), header.size())) return ReadResult::kCorrupt;
  if (std::memcmp(header.data(), kMagic, sizeof kMagic) != 0) return ReadResult::kCorrupt;
  if (get_little_endian(header.data() + kVersionOffset, 4) != kFormatVersion) return ReadResult::kOtherVersion;
  const std::uint64_t size = get_little_endian(header.data() + kSizeOffset, 8);
  if (size != file_size - kHeaderSize) return ReadResult::kCorrupt;
  payload.resize(size);
  if (!read_all(file.get(), payload.data(), payload.size())) return ReadResult::kCorrupt;
  const Digest digest = payload_digest(payload);
  if (std::memcmp(header.data() + kDigestOffset, digest.data(), digest.size()) != 0) return ReadResult::kCorrupt;
  return ReadResult::kGood;
}

}  // namespace

BinaryCache::BinaryCache(std::string directory) : directory_(std::move(directory)) {}

std::string BinaryCache::path_of(const std::string& key) const {
  return directory_ + "/" + key.substr(0, 2) + "/" + key + ".bin";
}

std::optional<std::vector<char>> BinaryCache::load(const std::string& key) const {
  check_key(key);
  if (directory_.empty()) return std::nullopt;
  const std::string path = path_of(key);
  std::vector<char> payload;
  switch (read_file(path, payload)) {
    case ReadResult::kGood:
      return payload;
    case ReadResult::kCorrupt:
      // Gone now rather than checked again on every start. Should a writer have renamed a
      // good file into place since the read, this removes that one: a miss, nothing worse.
      ::unlink(path.c_str());
      return std::nullopt;
    case ReadResult::kMissing:
    case ReadResult::kOtherVersion:  // another mfjit's entry: left for it; store() replaces it
      return std::nullopt;
  }
  return std::nullopt;
}

void BinaryCache::store(const std::string& key, const std::vector<char>& binary) const {
  check_key(key);
  if (directory_.empty()) return;
  if (!make_directories(directory_ + "/" + key.substr(0, 2))) return;
  const std::string path = path_of(key);
  const std::string temporary = temporary_path(path);
  // rename() is atomic: readers see the old file or the complete new one, and concurrent
  // writers of one key each replace the file with identical content.
  if (!write_file(temporary, binary) || ::rename(temporary.c_str(), path.c_str()) != 0)
    ::unlink(temporary.c_str());
}

namespace {

// The builds under way in this process, by directory and key.
struct Builds {
  std::mutex mutex;
  std::map<std::string, std::shared_future<std::vector<char>>> running;
};
Builds& builds() {
  static Builds instance;
  return instance;
}

}  // namespace

std::vector<char> BinaryCache::load_or_build(const std::string& key,
                                             const std::function<std::vector<char>()>& build) const {
  if (auto binary = load(key)) return std::move(*binary);
  Builds& all = builds();
  const std::string id = directory_ + '\n' + key;
  std::promise<std::vector<char>> promise;
  std::shared_future<std::vector<char>> running;
  bool mine = false;
  {
    const std::lock_guard lock(all.mutex);
    auto [it, fresh] = all.running.try_emplace(id);
    if (fresh) it->second = promise.get_future().share();
    running = it->second;
    mine = fresh;
  }
  if (!mine) return running.get();
  auto finish = [&] {
    const std::lock_guard lock(all.mutex);
    all.running.erase(id);
  };
  try {
    // A build that finished between the load above and the lookup has stored it already.
    std::vector<char> binary = load(key).value_or(std::vector<char>{});
    if (binary.empty()) {
      binary = build();
      store(key, binary);
    }
    promise.set_value(binary);
    finish();
    return binary;
  } catch (...) {
    promise.set_exception(std::current_exception());
    finish();
    throw;
  }
}

std::string cache_key(std::initializer_list<std::string_view> parts) {
  Sha256 hash;
  for (std::string_view part : parts) {
    char length[8];
    put_little_endian(part.size(), length, sizeof length);
    hash.update(std::string_view(length, sizeof length)).update(part);
  }
  const Digest digest = hash.finish();
  return to_hex(digest);
}

}  // namespace mf::compiler
