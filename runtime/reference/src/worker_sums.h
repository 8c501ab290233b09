// Internal: sums over independent rows (dW over M, dBias over S, ...) without atomics.
// Each worker of the pool accumulates into its own array; the arrays are added in worker
// order afterwards. The pool assigns chunks to workers statically, so a sum is bitwise
// reproducible for a given thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "mf/reference/thread_pool.h"

namespace mf::reference::internal {

class WorkerSums {
 public:
  // `size` doubles per worker; size 0 when the sum is not wanted.
  WorkerSums(const ThreadPool& pool, std::int64_t size)
      : size_(static_cast<std::size_t>(size)), partial_(size_ * static_cast<std::size_t>(pool.threads()), 0.0) {}

  bool empty() const { return size_ == 0; }
  std::span<double> of(int worker) { return std::span(partial_).subspan(static_cast<std::size_t>(worker) * size_, size_); }

  // Σ over the workers, in worker order.
  std::vector<double> total() const {
    std::vector<double> sum(size_, 0.0);
    if (size_ == 0) return sum;
    for (std::size_t begin = 0; begin < partial_.size(); begin += size_)
      for (std::size_t i = 0; i < size_; ++i) sum[i] += partial_[begin + i];
    return sum;
  }

 private:
  std::size_t size_;
  std::vector<double> partial_;
};

// Rows per parallel_for chunk: a few chunks per worker, so that uneven rows balance.
inline std::int64_t rows_per_chunk(std::int64_t rows, const ThreadPool& pool) {
  const std::int64_t chunks = 4 * static_cast<std::int64_t>(pool.threads());
  return std::max<std::int64_t>(1, (rows + chunks - 1) / chunks);
}

}  // namespace mf::reference::internal
