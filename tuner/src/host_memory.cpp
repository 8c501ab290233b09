// The cpu backend's bench memory: host allocations and the wall clock.
#include <chrono>
#include <cstring>
#include <list>
#include <vector>

#include "mf/tuner/capi_bench.h"

namespace mf::tuner {
namespace {

class HostMemory final : public BenchMemory {
 public:
  void* allocate(std::size_t bytes) override { return buffers_.emplace_back(bytes == 0 ? 1 : bytes).data(); }
  void release(void* buffer) override {
    buffers_.remove_if([buffer](const auto& b) { return b.data() == buffer; });
  }
  void upload(void* to, const void* from, std::size_t bytes) override { std::memcpy(to, from, bytes); }
  void download(void* to, const void* from, std::size_t bytes) override { std::memcpy(to, from, bytes); }
  void poison(void* buffer, std::size_t bytes) override { std::memset(buffer, 0xFF, bytes); }
  void flush_caches() override {
    // Writing a buffer larger than the last-level cache evicts the inputs.
    if (flush_.empty()) flush_.resize(64 << 20);
    for (std::size_t i = 0; i < flush_.size(); i += 64) flush_[i] = static_cast<unsigned char>(flush_[i] + 1);
  }
  double time_us(const std::function<void()>& run) override {
    const auto start = std::chrono::steady_clock::now();
    run();
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  }
  void synchronize() override {}

 private:
  std::list<std::vector<unsigned char>> buffers_;
  std::vector<unsigned char> flush_;
};

}  // namespace

std::unique_ptr<BenchMemory> make_host_memory() { return std::make_unique<HostMemory>(); }

}  // namespace mf::tuner
