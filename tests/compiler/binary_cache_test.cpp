// The on-disk binary cache: round trips, damaged files, unwritable places, concurrency.
#include "mf/compiler/binary_cache.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace mf::compiler {
namespace {

namespace fs = std::filesystem;

std::vector<char> pattern(std::size_t size, int seed) {
  std::vector<char> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + static_cast<std::size_t>(seed)) % 251);
  return bytes;
}

class BinaryCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = (fs::path(::testing::TempDir()) / "mf_binary_cache_XXXXXX").string();
    ASSERT_NE(::mkdtemp(name.data()), nullptr);
    root_ = name;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  // The one file that store() left for `key`.
  fs::path file_of(const std::string& key) const { return root_ / "cache" / key.substr(0, 2) / (key + ".bin"); }

  fs::path root_;
};

TEST_F(BinaryCacheTest, RoundTrip) {
  const BinaryCache cache((root_ / "cache").string());
  const std::string key = cache_key({"generator", "options", "13.0", "sm_90a"});
  EXPECT_EQ(cache.load(key), std::nullopt);
  const std::vector<char> binary = pattern(100'000, 1);
  cache.store(key, binary);
  EXPECT_EQ(cache.load(key), binary);
  EXPECT_TRUE(fs::is_regular_file(file_of(key)));
  EXPECT_EQ(fs::file_size(file_of(key)), 52u + binary.size());

  // An empty binary, and a second store replacing the first.
  cache.store(key, {});
  EXPECT_EQ(cache.load(key), std::vector<char>());
  cache.store(key, pattern(10, 2));
  EXPECT_EQ(cache.load(key), pattern(10, 2));
  EXPECT_EQ(std::distance(fs::directory_iterator(file_of(key).parent_path()), fs::directory_iterator()), 1)
      << "no temporary files are left behind";
}

TEST_F(BinaryCacheTest, KeysAreHexSha256OfLengthPrefixedParts) {
  const std::string key = cache_key({"a", "bc"});
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(key, cache_key({"ab", "c"}));
  EXPECT_NE(cache_key({"abc"}), cache_key({"abc", ""}));
  EXPECT_NE(cache_key({}), cache_key({""}));
  EXPECT_EQ(key, cache_key({"a", "bc"}));
}

TEST_F(BinaryCacheTest, KeysThatAreNoFileNameAreRefused) {
  const BinaryCache cache((root_ / "cache").string());
  for (const std::string& key : std::vector<std::string>{"", "a", "../../etc/passwd", "ab/cd", std::string(129, 'a')}) {
    EXPECT_THROW(cache.store(key, pattern(4, 0)), std::invalid_argument) << key;
    EXPECT_THROW((void)cache.load(key), std::invalid_argument) << key;
  }
}

void overwrite_byte(const fs::path& file, std::streamoff offset) {
  std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
  stream.seekg(offset);
  const char byte = static_cast<char>(stream.get());
  stream.seekp(offset);
  stream.put(static_cast<char>(byte ^ 0x01));
}

TEST_F(BinaryCacheTest, DamagedFilesAreMissesAndRemoved) {
  const BinaryCache cache((root_ / "cache").string());
  const std::string key = cache_key({"damaged"});
  const std::vector<char> binary = pattern(4096, 3);
  const auto damaged = [&](auto&& damage, const char* what) {
    cache.store(key, binary);
    damage(file_of(key));
    EXPECT_EQ(cache.load(key), std::nullopt) << what;
    EXPECT_FALSE(fs::exists(file_of(key))) << what;
    cache.store(key, binary);
    EXPECT_EQ(cache.load(key), binary) << what << ": stored again";
  };
  damaged([](const fs::path& file) { overwrite_byte(file, 52 + 1000); }, "flipped payload byte");
  damaged([](const fs::path& file) { overwrite_byte(file, 30); }, "flipped checksum byte");
  damaged([](const fs::path& file) { overwrite_byte(file, 0); }, "flipped magic");
  damaged([](const fs::path& file) { overwrite_byte(file, 12); }, "wrong payload size");
  damaged([](const fs::path& file) { fs::resize_file(file, fs::file_size(file) - 1); }, "truncated payload");
  damaged([](const fs::path& file) { fs::resize_file(file, 20); }, "truncated header");
  damaged([](const fs::path& file) { fs::resize_file(file, 0); }, "empty file");
  damaged([](const fs::path& file) { fs::resize_file(file, fs::file_size(file) + 7); }, "trailing bytes");
}

TEST_F(BinaryCacheTest, OtherFormatVersionsAreMissesButKept) {
  const BinaryCache cache((root_ / "cache").string());
  const std::string key = cache_key({"version"});
  cache.store(key, pattern(64, 4));
  overwrite_byte(file_of(key), 8);
  EXPECT_EQ(cache.load(key), std::nullopt);
  EXPECT_TRUE(fs::exists(file_of(key)));
  cache.store(key, pattern(64, 4));
  EXPECT_EQ(cache.load(key), pattern(64, 4));
}

// A regular file where a directory should be: nothing can be created below it, even as root.
TEST_F(BinaryCacheTest, UnwritableDirectoryIsSilentlySkipped) {
  std::ofstream(root_ / "file") << "not a directory";
  const BinaryCache cache((root_ / "file" / "cache").string());
  const std::string key = cache_key({"unwritable"});
  EXPECT_NO_THROW(cache.store(key, pattern(16, 5)));
  EXPECT_EQ(cache.load(key), std::nullopt);

  const BinaryCache proc("/proc/mfjit-cache");
  EXPECT_NO_THROW(proc.store(key, pattern(16, 5)));
  EXPECT_EQ(proc.load(key), std::nullopt);
}

TEST_F(BinaryCacheTest, EmptyDirectoryDisablesTheCache) {
  const BinaryCache cache("");
  const std::string key = cache_key({"disabled"});
  cache.store(key, pattern(16, 8));
  EXPECT_EQ(cache.load(key), std::nullopt);
  EXPECT_FALSE(fs::exists("/" + key.substr(0, 2) + "/" + key + ".bin"));
}

TEST_F(BinaryCacheTest, CreatesNestedDirectoriesOnDemand) {
  const BinaryCache cache((root_ / "a" / "b" / "c").string());
  const std::string key = cache_key({"nested"});
  cache.store(key, pattern(16, 6));
  EXPECT_EQ(cache.load(key), pattern(16, 6));
  EXPECT_EQ(fs::status(root_ / "a" / "b").permissions() & fs::perms::others_write, fs::perms::none);
}

TEST_F(BinaryCacheTest, ConcurrentWritersAndReadersOfOneKey) {
  const BinaryCache cache((root_ / "cache").string());
  const std::string key = cache_key({"concurrent"});
  const std::vector<char> binary = pattern(1 << 20, 7);
  std::vector<int> complete(4, 0);
  std::vector<int> wrong(4, 0);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < complete.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        cache.store(key, binary);
        const auto loaded = cache.load(key);
        (loaded == binary ? complete : wrong)[t]++;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (std::size_t t = 0; t < complete.size(); ++t) {
    EXPECT_EQ(complete[t], 20) << "thread " << t;
    EXPECT_EQ(wrong[t], 0) << "thread " << t;
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(file_of(key).parent_path()), fs::directory_iterator()), 1);
}

// Callers that ask for one key at once share one build, which the cache then serves; with
// the cache disabled they still share the build that is under way.
TEST_F(BinaryCacheTest, ConcurrentBuildsOfOneKeyBuildOnce) {
  for (const std::string& directory : {(root_ / "cache").string(), std::string()}) {
    SCOPED_TRACE(directory.empty() ? "cache disabled" : "cache on disk");
    const BinaryCache cache(directory);
    const std::string key = cache_key({"single flight", directory});
    std::atomic<int> builds{0};
    std::atomic<bool> go{false};
    std::vector<std::vector<char>> results(8);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < results.size(); ++t)
      threads.emplace_back([&, t] {
        while (!go) std::this_thread::yield();
        results[t] = cache.load_or_build(key, [&] {
          ++builds;
          std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the others arrive meanwhile
          return pattern(4096, 8);
        });
      });
    go = true;
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(builds, 1);
    for (const auto& result : results) EXPECT_EQ(result, pattern(4096, 8));
    if (!directory.empty()) {
      EXPECT_EQ(cache.load(key), pattern(4096, 8));
      EXPECT_EQ(cache.load_or_build(key, [&]() -> std::vector<char> { throw std::logic_error("built again"); }),
                pattern(4096, 8));
    }
  }
}

// A build that throws reaches every caller that waited on it; the next call builds again.
TEST_F(BinaryCacheTest, AFailedBuildThrowsToItsWaitersAndIsNotRemembered) {
  const BinaryCache cache((root_ / "cache").string());
  const std::string key = cache_key({"failing build"});
  std::atomic<int> builds{0}, failures{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      while (!go) std::this_thread::yield();
      try {
        cache.load_or_build(key, [&]() -> std::vector<char> {
          ++builds;
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          throw std::runtime_error("compile error: expected ';'");
        });
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()) == "compile error: expected ';'") ++failures;
      }
    });
  go = true;
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(builds, 1);
  EXPECT_EQ(failures, 4);
  EXPECT_FALSE(cache.load(key));
  EXPECT_EQ(cache.load_or_build(key, [] { return pattern(64, 9); }), pattern(64, 9));
}

}  // namespace
}  // namespace mf::compiler
