// A fixed pool of worker threads for the reference backend's parallel loops.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace mf::reference {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // 0 = std::thread::hardware_concurrency()
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const;
  // Calls body(begin, end, worker) over [0, count) in chunks of at most `grain`, on the
  // pool's workers and the calling thread, and returns when all chunks are done. The
  // chunk→worker assignment is static, so results that depend on `worker` are
  // reproducible for a given thread count. The first exception thrown by a body is
  // rethrown here. Calls from several threads are serialised.
  void parallel_for(std::int64_t count, std::int64_t grain,
                    const std::function<void(std::int64_t begin, std::int64_t end, int worker)>& body);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mf::reference
