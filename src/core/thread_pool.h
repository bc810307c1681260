// ThreadPool: a fixed set of workers and a blocking ParallelFor over an index
// range. The calling thread takes part, so a pool of n threads starts n - 1
// workers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lowbit {

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
  // are done. fn must be thread-safe. Not reentrant: do not call ParallelFor
  // from inside fn.
  void ParallelFor(int64_t n, int64_t grain,
                   const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop();
  void RunChunks();

  int num_threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_work_;
  std::condition_variable cv_done_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t grain_ = 1;
  int64_t next_ = 0;
  int64_t generation_ = 0;
  int active_ = 0;
  bool stop_ = false;
};

}  // namespace lowbit
