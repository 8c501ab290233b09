#include "mf/reference/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace mf::reference {
namespace {

// Runs parallel_for and returns how often each index was visited.
std::vector<int> visit_counts(ThreadPool& pool, std::int64_t count, std::int64_t grain) {
  std::vector<std::atomic<int>> visits(static_cast<std::size_t>(count));
  pool.parallel_for(count, grain, [&](std::int64_t begin, std::int64_t end, int worker) {
    EXPECT_LT(begin, end);
    EXPECT_LE(end - begin, grain);
    EXPECT_GE(worker, 0);
    EXPECT_LT(worker, pool.threads());
    for (std::int64_t i = begin; i < end; ++i) ++visits[i];
  });
  std::vector<int> counts;
  for (const auto& visit : visits) counts.push_back(visit.load());
  return counts;
}

class ThreadPoolSizes : public ::testing::TestWithParam<int> {};

TEST_P(ThreadPoolSizes, VisitsEveryIndexExactlyOnce) {
  ThreadPool pool(GetParam());
  EXPECT_EQ(pool.threads(), GetParam());
  for (std::int64_t count : {1, 2, 7, 64, 1000, 1001})
    for (std::int64_t grain : {1, 3, 64, 5000}) {
      const std::vector<int> counts = visit_counts(pool, count, grain);
      EXPECT_EQ(counts, std::vector<int>(static_cast<std::size_t>(count), 1)) << count << " by " << grain;
    }
}

TEST_P(ThreadPoolSizes, AssignsChunksToWorkersStatically) {
  ThreadPool pool(GetParam());
  auto assignment = [&] {
    std::vector<int> owner(100, -1);
    pool.parallel_for(100, 7, [&](std::int64_t begin, std::int64_t end, int worker) {
      for (std::int64_t i = begin; i < end; ++i) owner[i] = worker;
    });
    return owner;
  };
  const std::vector<int> first = assignment();
  for (int run = 0; run < 20; ++run) EXPECT_EQ(assignment(), first);
}

TEST_P(ThreadPoolSizes, RethrowsTheExceptionOfABodyAndStaysUsable) {
  ThreadPool pool(GetParam());
  EXPECT_THROW(pool.parallel_for(50, 1,
                                 [](std::int64_t begin, std::int64_t, int) {
                                   if (begin == 17) throw std::runtime_error("chunk 17");
                                 }),
               std::runtime_error);
  try {
    pool.parallel_for(10, 1, [](std::int64_t, std::int64_t, int) { throw std::out_of_range("every chunk"); });
    FAIL() << "no exception";
  } catch (const std::out_of_range& error) {
    EXPECT_STREQ(error.what(), "every chunk");
  }
  EXPECT_EQ(visit_counts(pool, 100, 3), std::vector<int>(100, 1));
}

TEST_P(ThreadPoolSizes, SerialisesCallsFromSeveralThreads) {
  ThreadPool pool(GetParam());
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  std::vector<std::thread> callers;
  std::vector<std::vector<int>> results(4);
  for (int caller = 0; caller < 4; ++caller)
    callers.emplace_back([&, caller] {
      for (int repeat = 0; repeat < 25; ++repeat) {
        std::vector<std::atomic<int>> visits(300);
        pool.parallel_for(300, 11, [&](std::int64_t begin, std::int64_t end, int worker) {
          if (worker == 0 && inside.fetch_add(1) != 0) overlapped = true;
          for (std::int64_t i = begin; i < end; ++i) ++visits[i];
          if (worker == 0) inside.fetch_sub(1);
        });
        for (const auto& visit : visits)
          if (visit.load() != 1) results[caller].push_back(visit.load());
      }
    });
  for (auto& caller : callers) caller.join();
  EXPECT_FALSE(overlapped);
  for (const auto& wrong : results) EXPECT_TRUE(wrong.empty());
}

INSTANTIATE_TEST_SUITE_P(Threads, ThreadPoolSizes, ::testing::Values(1, 2, 3, 8));

TEST(ThreadPool, ZeroMeansHardwareConcurrency) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.threads(), static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

TEST(ThreadPool, UsesEveryWorkerWhenThereAreEnoughChunks) {
  ThreadPool pool(4);
  std::mutex mutex;
  std::vector<int> seen(4, 0);
  pool.parallel_for(4, 1, [&](std::int64_t, std::int64_t, int worker) {
    std::lock_guard lock(mutex);
    ++seen[worker];
  });
  EXPECT_EQ(seen, std::vector<int>(4, 1));
}

TEST(ThreadPool, EmptyRangeCallsNothing) {
  ThreadPool pool(3);
  bool called = false;
  pool.parallel_for(0, 4, [&](std::int64_t, std::int64_t, int) { called = true; });
  EXPECT_FALSE(called);
}

TEST(ThreadPool, RejectsBadArguments) {
  EXPECT_THROW(ThreadPool(-1), std::invalid_argument);
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(10, 0, [](std::int64_t, std::int64_t, int) {}), std::invalid_argument);
}

TEST(ThreadPool, RefusesANestedCallInsteadOfDeadlocking) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(4, 1,
                                 [&](std::int64_t, std::int64_t, int) {
                                   pool.parallel_for(2, 1, [](std::int64_t, std::int64_t, int) {});
                                 }),
               std::logic_error);
}

TEST(ThreadPool, ABodyMayUseAnotherPool) {
  ThreadPool outer(2), inner(3);
  std::atomic<std::int64_t> sum{0};
  outer.parallel_for(4, 1, [&](std::int64_t, std::int64_t, int) {
    inner.parallel_for(10, 3, [&](std::int64_t begin, std::int64_t end, int) {
      for (std::int64_t i = begin; i < end; ++i) sum += i;
    });
    // Still inside outer's job: calling outer again is still refused.
    EXPECT_THROW(outer.parallel_for(1, 1, [](std::int64_t, std::int64_t, int) {}), std::logic_error);
  });
  EXPECT_EQ(sum.load(), 4 * 45);
}

TEST(ThreadPool, ShutsDownCleanlyWithoutWork) {
  for (int i = 0; i < 50; ++i) ThreadPool pool(4);
}

}  // namespace
}  // namespace mf::reference
