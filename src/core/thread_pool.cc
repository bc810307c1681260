#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>

namespace lowbit {
namespace {

// Depth of pool tasks running on this thread (nested loops run inline).
thread_local int t_task_depth = 0;

struct TaskScope {
  TaskScope() { ++t_task_depth; }
  ~TaskScope() { --t_task_depth; }
};

}  // namespace

bool ThreadPool::InTask() { return t_task_depth > 0; }

namespace {
// Polling before a thread sleeps on a condition: waking a sleeping thread
// took tens of microseconds on this project's VM, more than small operators
// take, which then ran slower on two threads than on one.
constexpr auto kSpinTime = std::chrono::microseconds(300);
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}
// Polls `done` until it holds or kSpinTime has passed; true when it holds.
template <typename Pred>
bool SpinUntil(Pred done) {
  const auto end = std::chrono::steady_clock::now() + kSpinTime;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      CpuRelax();
    }
    if (std::chrono::steady_clock::now() >= end) return done();
  }
}
}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) {
    num_threads = static_cast<int>(std::thread::hardware_concurrency());
    if (num_threads <= 0) num_threads = 1;
  }
  num_threads_ = num_threads;
  ranges_ = std::make_unique<Range[]>(static_cast<size_t>(num_threads_));
  for (int i = 1; i < num_threads_; ++i) {
    workers_.emplace_back([this, i] { WorkerLoop(i); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::RunChunks(const Job& job, int slot) {
  // Its own range first, then what is left of the others' (in slot order
  // after its own), one chunk at a time.
  for (int k = 0; k < num_threads_; ++k) {
    Range& r = ranges_[(slot + k) % num_threads_];
    for (;;) {
      const int64_t begin =
          r.next.fetch_add(job.grain, std::memory_order_relaxed);
      if (begin >= r.end) break;
      try {
        TaskScope scope;
        (*job.fn)(begin, std::min(r.end, begin + job.grain), slot);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
        for (int i = 0; i < num_threads_; ++i) {  // hand out no more
          ranges_[i].next.store(job.n, std::memory_order_relaxed);
        }
        return;
      }
    }
  }
}

void ThreadPool::WorkerLoop(int slot) {
  int64_t seen = 0;
  for (;;) {
    SpinUntil([&] {
      return stop_.load(std::memory_order_relaxed) ||
             generation_.load(std::memory_order_acquire) != seen;
    });
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_work_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (job_.fn == nullptr) continue;  // that loop has already finished
      job = job_;
      ++active_;
    }
    RunChunks(job, slot);
    {
      std::lock_guard<std::mutex> lock(mu_);
      --active_;
    }
    cv_done_.notify_all();
  }
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             FunctionRef<void(int64_t, int64_t)> fn) {
  ParallelForSlots(n, grain, [fn](int64_t b, int64_t e, int) { fn(b, e); });
}

void ThreadPool::ParallelForSlots(int64_t n, int64_t grain,
                                  FunctionRef<void(int64_t, int64_t, int)> fn) {
  if (n <= 0) return;
  if (grain <= 0) {
    grain = std::max<int64_t>(1, n / (4 * static_cast<int64_t>(num_threads_)));
  }
  if (num_threads_ == 1 || n <= grain || InTask()) {
    TaskScope scope;  // inline: one call for the whole range
    fn(0, n, 0);
    return;
  }
  std::lock_guard<std::mutex> submit(submit_mu_);
  Job job{&fn, n, grain};
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = job;
    error_ = nullptr;
    // Slot s owns chunks [C s / T, C (s + 1) / T) of the C chunks.
    const int64_t chunks = (n + grain - 1) / grain;
    for (int i = 0; i < num_threads_; ++i) {
      ranges_[i].next.store(chunks * i / num_threads_ * grain,
                            std::memory_order_relaxed);
      ranges_[i].end = std::min(n, chunks * (i + 1) / num_threads_ * grain);
    }
    ++generation_;
  }
  cv_work_.notify_all();
  RunChunks(job, 0);
  SpinUntil([&] { return active_.load(std::memory_order_acquire) == 0; });
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_done_.wait(lock, [&] { return active_ == 0; });
    job_ = Job{};  // a worker waking late joins nothing
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace lowbit
