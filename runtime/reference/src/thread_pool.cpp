#include "mf/reference/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace mf::reference {
namespace {

using Body = std::function<void(std::int64_t begin, std::int64_t end, int worker)>;

// One parallel_for call: chunk c covers [c·grain, min((c+1)·grain, count)) and belongs to
// worker c mod threads, so the assignment depends on nothing but the arguments.
struct Job {
  std::int64_t count = 0;
  std::int64_t grain = 1;
  const Body* body = nullptr;

  std::int64_t chunks() const { return (count + grain - 1) / grain; }
};

int resolve_thread_count(int threads) {
  if (threads < 0) throw std::invalid_argument("ThreadPool: threads must be >= 0 (0 = hardware concurrency)");
  if (threads > 0) return threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

struct ThreadPool::State {
  int threads = 1;
  std::mutex call_mutex;  // held for a whole parallel_for: calls from several threads queue here

  std::mutex mutex;  // guards everything below
  std::condition_variable work_ready, work_done;
  std::uint64_t generation = 0;  // bumped once per job so that each worker runs it once
  bool stopping = false;
  Job job;
  int workers_running = 0;
  std::exception_ptr first_error;
  std::atomic<bool> failed{false};  // lets the other workers skip their remaining chunks

  std::vector<std::thread> workers;

  void run_chunks(int worker);
  void worker_loop(int worker);
  void record(std::exception_ptr error);
  void stop_workers();
};

namespace {
// The pool whose job the current thread is executing: a body that calls parallel_for on
// the same pool would wait for itself forever, so that is refused instead.
thread_local const void* t_active_pool = nullptr;
}  // namespace

void ThreadPool::State::record(std::exception_ptr error) {
  std::lock_guard lock(mutex);
  if (!first_error) first_error = std::move(error);
  failed = true;
}

void ThreadPool::State::run_chunks(int worker) {
  const std::int64_t chunks = job.chunks();
  for (std::int64_t chunk = worker; chunk < chunks && !failed; chunk += threads) {
    const std::int64_t begin = chunk * job.grain;
    const std::int64_t end = std::min(begin + job.grain, job.count);
    try {
      (*job.body)(begin, end, worker);
    } catch (...) {
      record(std::current_exception());
    }
  }
}

void ThreadPool::State::worker_loop(int worker) {
  t_active_pool = this;
  std::uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex);
      work_ready.wait(lock, [&] { return stopping || generation != seen; });
      if (stopping) return;
      seen = generation;
    }
    run_chunks(worker);
    {
      std::lock_guard lock(mutex);
      --workers_running;
    }
    work_done.notify_one();
  }
}

void ThreadPool::State::stop_workers() {
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  work_ready.notify_all();
  for (auto& worker : workers) worker.join();
  workers.clear();
}

ThreadPool::ThreadPool(int threads) : state_(std::make_unique<State>()) {
  state_->threads = resolve_thread_count(threads);
  // The calling thread is worker 0; the pool owns workers 1 .. threads-1.
  try {
    for (int worker = 1; worker < state_->threads; ++worker)
      state_->workers.emplace_back([state = state_.get(), worker] { state->worker_loop(worker); });
  } catch (...) {
    state_->stop_workers();  // the destructor will not run: join what was started
    throw;
  }
}

ThreadPool::~ThreadPool() { state_->stop_workers(); }

int ThreadPool::threads() const { return state_->threads; }

void ThreadPool::parallel_for(std::int64_t count, std::int64_t grain, const Body& body) {
  if (grain <= 0) throw std::invalid_argument("ThreadPool::parallel_for: grain must be positive");
  if (t_active_pool == state_.get())
    throw std::logic_error("ThreadPool::parallel_for: called from inside a parallel_for of the same pool");
  if (count <= 0) return;

  State& state = *state_;
  std::lock_guard call(state.call_mutex);
  const Job job{count, grain, &body};
  // A job of one chunk belongs to worker 0 alone: run it here without waking anyone.
  const bool inline_only = state.threads == 1 || job.chunks() == 1;
  {
    std::lock_guard lock(state.mutex);
    state.job = job;
    state.first_error = nullptr;
    state.failed = false;
    if (!inline_only) {
      state.workers_running = state.threads - 1;
      ++state.generation;
    }
  }
  if (!inline_only) state.work_ready.notify_all();

  // A body may use another pool; restore the marker of whichever pool this thread serves.
  const void* outer_pool = std::exchange(t_active_pool, &state);
  state.run_chunks(0);
  t_active_pool = outer_pool;

  std::unique_lock lock(state.mutex);
  state.work_done.wait(lock, [&] { return state.workers_running == 0; });
  if (state.first_error) std::rethrow_exception(state.first_error);
}

}  // namespace mf::reference
