// The content-addressed on-disk cache of compiled binaries (DESIGN.md §2): a key names
// everything a binary depends on (generator source hash, options, toolchain version,
// target), so an entry never goes stale and a second start skips the compiler.
//
// The cache is an optimisation: I/O failures never throw. A directory that cannot be
// created or written makes store() do nothing; a missing, unreadable, torn or corrupted
// file is a miss (corrupted ones are removed), never returned. Safe across threads and
// processes: a file appears under its final name only when complete (rename).
#pragma once

#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mf::compiler {

class BinaryCache {
 public:
  explicit BinaryCache(std::string directory);  // "" disables the cache: every load misses

  // Keys are what cache_key returns; anything but [0-9A-Za-z_-], 2 to 128 characters,
  // throws std::invalid_argument (a key becomes a file name).
  std::optional<std::vector<char>> load(const std::string& key) const;
  void store(const std::string& key, const std::vector<char>& binary) const;
  // The binary under `key`: loaded, else made by `build` and stored. Callers of one process
  // that ask for one key at once share a single build (a tuner's parallel compiles of
  // configurations with a module in common compile it once); a build that throws throws
  // to each caller that waited on it, and the next call builds again.
  std::vector<char> load_or_build(const std::string& key, const std::function<std::vector<char>()>& build) const;

  const std::string& directory() const { return directory_; }

 private:
  std::string path_of(const std::string& key) const;  // <directory>/<key[0:2]>/<key>.bin

  std::string directory_;
};

// The lower-case hex SHA-256 of `parts`, each length-prefixed so that no two different
// lists collide by concatenation ({"ab", "c"} and {"a", "bc"} differ).
std::string cache_key(std::initializer_list<std::string_view> parts);

}  // namespace mf::compiler
