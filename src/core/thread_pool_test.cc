#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace lowbit {
namespace {

// Every index of [0, n) is visited exactly once: in chunks of at most grain
// on several threads, in one call fn(0, n) on one thread or when n <= grain.
void ExpectCovers(ThreadPool& pool, int64_t n, int64_t grain) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  std::atomic<int64_t> too_big{0}, calls{0};
  pool.ParallelFor(n, grain, [&](int64_t b, int64_t e) {
    calls.fetch_add(1);
    if (grain > 0 && e - b > grain) too_big.fetch_add(1);
    for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
  });
  if (pool.num_threads() == 1 || (grain > 0 && n <= grain)) {
    EXPECT_EQ(calls.load(), 1);
  } else {
    EXPECT_EQ(too_big.load(), 0);
  }
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << i;
}

TEST(ThreadPool, CoversEveryIndexOnceForAnySizeAndGrain) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 7, 64, 1000}) {
      for (int64_t grain : {0, 1, 3, 1000}) ExpectCovers(pool, n, grain);
    }
  }
}

TEST(ThreadPool, ZeroAndNegativeLengthsCallNothing) {
  ThreadPool pool(3);
  int calls = 0;
  pool.ParallelFor(0, 1, [&](int64_t, int64_t) { ++calls; });
  pool.ParallelFor(-5, 0, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(ThreadPool, NestedLoopsRunInlineWithoutDeadlock) {
  ThreadPool pool(3);
  ThreadPool other(2);
  std::atomic<int64_t> sum{0};
  EXPECT_FALSE(ThreadPool::InTask());
  pool.ParallelFor(16, 1, [&](int64_t b, int64_t e) {
    EXPECT_TRUE(ThreadPool::InTask());
    for (int64_t i = b; i < e; ++i) {
      // The same pool and another pool, from inside a task.
      pool.ParallelFor(10, 3, [&](int64_t b2, int64_t e2) {
        for (int64_t j = b2; j < e2; ++j) sum.fetch_add(i * 10 + j);
      });
      other.ParallelFor(10, 0, [&](int64_t b2, int64_t e2) {
        for (int64_t j = b2; j < e2; ++j) sum.fetch_add(1);
      });
    }
  });
  EXPECT_FALSE(ThreadPool::InTask());
  // sum over i < 16, j < 10 of (10 i + j), plus 160 ones.
  EXPECT_EQ(sum.load(), 159 * 160 / 2 + 160);
}

TEST(ThreadPool, ConcurrentCallersEachGetTheirWholeRange) {
  ThreadPool pool(3);
  std::vector<std::thread> callers;
  std::vector<int64_t> sums(6, 0);
  for (int c = 0; c < 6; ++c) {
    callers.emplace_back([&, c] {
      for (int round = 0; round < 50; ++round) {
        std::atomic<int64_t> s{0};
        pool.ParallelFor(100 + c, 7, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) s.fetch_add(i);
        });
        sums[c] += s.load();
      }
    });
  }
  for (auto& t : callers) t.join();
  for (int c = 0; c < 6; ++c) {
    const int64_t n = 100 + c;
    EXPECT_EQ(sums[c], 50 * n * (n - 1) / 2) << c;
  }
}

TEST(ThreadPool, AnExceptionInATaskReachesTheCallerAndThePoolStaysUsable) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    // The first chunk throws; every other chunk waits until it has thrown.
    // Chunks are handed out in order, so only those already taken by the
    // other threads (one each, and one more each if it asked within the
    // microseconds between the throw and the stop) may run, not the other 999.
    std::atomic<int> after{0};
    std::atomic<bool> thrown{false};
    EXPECT_THROW(pool.ParallelFor(1000, 1,
                                  [&](int64_t b, int64_t) {
                                    if (b == 0) {
                                      thrown.store(true);
                                      throw std::runtime_error("x");
                                    }
                                    while (!thrown.load()) {
                                      std::this_thread::yield();
                                    }
                                    // Long enough for the failure to stop
                                    // the handing out before this thread
                                    // asks again.
                                    std::this_thread::sleep_for(
                                        std::chrono::milliseconds(20));
                                    after.fetch_add(1);
                                  }),
                 std::runtime_error);
    EXPECT_LE(after.load(), 2 * (threads - 1)) << threads << " threads";
    ExpectCovers(pool, 500, 3);
    // Nested: the exception crosses the inline loop and the outer one.
    EXPECT_THROW(pool.ParallelFor(8, 1,
                                  [&](int64_t, int64_t) {
                                    pool.ParallelFor(
                                        4, 1, [](int64_t b, int64_t e) {
                                          if (b <= 2 && 2 < e)  // index 2
                                            throw std::logic_error("y");
                                        });
                                  }),
                 std::logic_error);
    EXPECT_FALSE(ThreadPool::InTask());
    ExpectCovers(pool, 64, 0);
  }
}

}  // namespace
}  // namespace lowbit

namespace lowbit {
namespace {

// Slots: in range, never two running chunks with the same one, slot 0 for
// the inline path; every index covered once.
TEST(ThreadPool, SlotsAreExclusivePerThread) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> busy(static_cast<size_t>(threads));
    std::vector<std::atomic<int>> hits(1000);
    std::atomic<int> clashes{0}, out_of_range{0};
    pool.ParallelForSlots(1000, 7, [&](int64_t b, int64_t e, int slot) {
      if (slot < 0 || slot >= threads) {
        ++out_of_range;
        return;
      }
      if (busy[slot].exchange(1) != 0) ++clashes;
      for (int64_t i = b; i < e; ++i) ++hits[i];
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      busy[slot].store(0);
    });
    EXPECT_EQ(clashes.load(), 0) << threads;
    EXPECT_EQ(out_of_range.load(), 0) << threads;
    for (auto& h : hits) EXPECT_EQ(h.load(), 1);
    int inline_slot = -1;
    pool.ParallelForSlots(
        3, 100, [&](int64_t, int64_t, int slot) { inline_slot = slot; });
    EXPECT_EQ(inline_slot, 0);
  }
}

}  // namespace
}  // namespace lowbit
