// ThreadPool: a fixed set of workers and a blocking ParallelFor over an index
// range. The calling thread takes part, so a pool of n threads starts n - 1
// workers.
//
// Safe to use from several threads at once (their loops take turns on the
// workers) and from inside a task (a nested ParallelFor, on this pool or any
// other, runs inline on the calling thread). Chunks are handed
// out with one atomic add each, no lock. An exception thrown by a task stops
// the handing out of further chunks and is rethrown by ParallelFor once every
// running chunk has finished.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace lowbit {

// A non-owning reference to a callable (what a blocking loop needs): no copy,
// no allocation, whatever the lambda captures. The callable must outlive the
// call it is passed to, as a temporary argument does.
template <typename Signature>
class FunctionRef;
template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F, typename = std::enable_if_t<
                            !std::is_same_v<std::decay_t<F>, FunctionRef>>>
  FunctionRef(F&& f)  // NOLINT: converts from any callable, like std::function
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, Args... a) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(
              std::forward<Args>(a)...);
        }) {}
  R operator()(Args... a) const {
    return call_(obj_, std::forward<Args>(a)...);
  }

 private:
  void* obj_;
  R (*call_)(void*, Args...);
};

class ThreadPool {
 public:
  // num_threads <= 0 means all hardware threads.
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(begin, end) on disjoint chunks covering [0, n), at most `grain`
  // indices per chunk (grain <= 0: about 4 chunks per thread). Returns when all
  // are done. fn must be thread-safe. n <= 0 calls nothing. A single-thread
  // pool, n <= grain, or a call from inside a task makes one call fn(0, n).
  void ParallelFor(int64_t n, int64_t grain,
                   FunctionRef<void(int64_t, int64_t)> fn);

  // The same, and fn(begin, end, slot) also learns which thread of this loop
  // runs the chunk: slot 0 is the calling thread, 1 .. num_threads() - 1 the
  // workers, and no two chunks run at once with the same slot. A kernel takes
  // num_threads() slices of scratch before the loop (from a Workspace) and
  // each chunk uses its slot's.
  void ParallelForSlots(int64_t n, int64_t grain,
                        FunctionRef<void(int64_t, int64_t, int)> fn);

  // True while the calling thread runs a task of any pool.
  static bool InTask();

 private:
  struct Job {
    const FunctionRef<void(int64_t, int64_t, int)>* fn = nullptr;
    int64_t n = 0;
    int64_t grain = 1;
  };
  void WorkerLoop(int slot);
  void RunChunks(const Job& job, int slot);

  int num_threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex submit_mu_;  // one loop on the workers at a time
  std::mutex mu_;         // guards job_, generation_, active_, stop_, error_
  std::condition_variable cv_work_;
  std::condition_variable cv_done_;
  Job job_;
  // The loop's chunks, split into one contiguous range per slot: each thread
  // takes chunks from its own range first and then from the others'. Chunks
  // dealt out alternately broke the hardware prefetchers' streams and the
  // cache reuse between neighbouring output rows: with contiguous ranges the
  // detector's two-thread speedup went from 1.63 to 1.83 (docs/benchmarks.md).
  struct alignas(64) Range {
    std::atomic<int64_t> next{0};
    int64_t end = 0;
  };
  std::unique_ptr<Range[]> ranges_;
  // Written under mu_; read without it by threads spinning before they sleep
  // (a loop's workers and its caller poll for up to 300 us first:
  // waking a sleeping thread costs tens of microseconds on a VM, more than a
  // small operator's whole work).
  std::atomic<int64_t> generation_{0};
  std::atomic<int> active_{0};
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;
};

}  // namespace lowbit
