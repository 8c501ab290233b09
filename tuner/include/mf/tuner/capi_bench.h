// The Bench of one problem on an mfjit context, driven through the C API as a framework
// drives it: inputs drawn at random once, the fp64 reference result computed once on the
// cpu backend, every candidate a plan of exactly its configuration.
#pragma once

#include <cstdint>
#include <memory>

#include "mf/ir/problem.h"
#include "mf/tuner/tune.h"
#include "mfjit/mfjit.h"

namespace mf::tuner {

// Where a bench keeps its tensors and how it times: host memory and the wall clock for
// the cpu backend, device memory and events for a GPU.
class BenchMemory {
 public:
  virtual ~BenchMemory() = default;
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void release(void* buffer) = 0;  // what allocate returned; the rest go with the memory
  virtual void upload(void* to, const void* from, std::size_t bytes) = 0;
  virtual void download(void* to, const void* from, std::size_t bytes) = 0;
  // Every byte 0xFF: floating elements read as NaN until written.
  virtual void poison(void* buffer, std::size_t bytes) = 0;
  // Evicts the inputs from the caches, outside any timed region.
  virtual void flush_caches() = 0;
  // Microseconds `run` takes on the device (waits for it).
  virtual double time_us(const std::function<void()>& run) = 0;
  virtual void synchronize() = 0;
};

// The memory for a context's backend; `device` is the ordinal the context was made for.
// Throws std::runtime_error naming what is missing.
std::unique_ptr<BenchMemory> bench_memory_for(mf_context context, int device);

// The problem bound to random data (from `seed`) in `memory`. A backward problem's saved
// forward outputs (O and LSE, mean and rstd) come from running its forward first, as in
// training. Throws when the problem cannot be planned on the context.
std::unique_ptr<Bench> make_capi_bench(mf_context context, const ir::Problem& problem, std::uint64_t seed,
                                       std::unique_ptr<BenchMemory> memory);

}  // namespace mf::tuner
