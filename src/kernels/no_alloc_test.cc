// The products and decoders allocate nothing once their Workspace has seen
// the shape: global operator new is counted (in this test binary) while the
// second and later calls run, on one and two threads.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "core/thread_pool.h"
#include "core/workspace.h"
#include "kernels/dequant.h"
#include "kernels/matmul.h"
#include "kernels/matvec.h"
#include "kernels/packed.h"
#include "tests/support/kernel_test_util.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_news{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) ++g_news;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  // Replaced too: the sanitizer runtime has its own operator new[], which
  // would not reach the one above.
  if (g_counting.load(std::memory_order_relaxed)) ++g_news;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// The nothrow forms too (std::stable_sort's temporary buffer uses them):
// the sanitizer's own would pair its allocation with the free() below and
// report a mismatch.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) ++g_news;
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) ++g_news;
  return std::malloc(n == 0 ? 1 : n);
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace lowbit {
namespace {

// Calls f once to size the workspace, then counts allocations over 3 calls.
template <typename F>
int64_t NewsAfterFirstCall(F f) {
  f();
  g_news = 0;
  g_counting = true;
  for (int k = 0; k < 3; ++k) f();
  g_counting = false;
  return g_news.load();
}

TEST(NoAllocation, TheCounterCounts) {
  static int* volatile sink;
  EXPECT_GE(NewsAfterFirstCall([] {
              sink = new int[100];
              delete[] sink;
            }),
            3);
}

TEST(NoAllocation, ProductsAndDecodersReuseTheirWorkspace) {
  using testing_kernels::Normal;
  using testing_kernels::QuantizeNormal;
  const int64_t rows = 96, cols = 512, batch = 6;
  const QuantizedTensor i8 =
      QuantizeNormal(rows, cols, "int8", Granularity::kChannel, 0, false, 1);
  const QuantizedTensor i4 =
      QuantizeNormal(rows, cols, "int4", Granularity::kGroup, 32, true, 2);
  const QuantizedTensor i3 =
      QuantizeNormal(rows, cols, "int3", Granularity::kGroup, 32, true, 3);
  const QuantizedTensor nf4 =
      QuantizeNormal(rows, cols, "nf4", Granularity::kGroup, 64, false, 4);
  const QuantizedTensor i4s =
      QuantizeNormal(rows, cols, "int4", Granularity::kGroup, 32, false, 5);
  const PackedMatrix p4 = *Pack(i4s);
  const PackedMatrix p8 = *Pack(i8);
  const std::vector<float> x = Normal(batch * cols, 9);
  std::vector<float> y(static_cast<size_t>(batch * rows));
  std::vector<float> row(static_cast<size_t>(cols));
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    Workspace ws;
    auto ok = [](const Status& s) { ASSERT_TRUE(s.ok()) << s.message(); };
    EXPECT_EQ(NewsAfterFirstCall([&] {
                ok(MatVec(i4, x.data(), y.data(), pool, ws));
                ok(MatVec(nf4, x.data(), y.data(), pool, ws));
                ok(MatVecQ8(i4, x.data(), y.data(), pool, ws));
                ok(MatVecQ8(i8, x.data(), y.data(), pool, ws));
                ok(MatMul(i4, x.data(), batch, y.data(), pool, ws));
                ok(MatMul(i8, x.data(), batch, y.data(), pool, ws));
                ok(MatMulQ8(i8, x.data(), batch, y.data(), pool, ws));
                ok(MatVecQ8(p4, x.data(), y.data(), pool, ws));
                ok(MatMulQ8(p4, x.data(), batch, y.data(), pool, ws));
                ok(MatMulQ8(p8, x.data(), batch, y.data(), pool, ws));
              }),
              0)
        << threads << " threads";
    EXPECT_EQ(NewsAfterFirstCall([&] {
                for (const QuantizedTensor* q : {&i8, &i4, &i3, &nf4}) {
                  DequantizeRow(*q, 5, row.data());
                  DequantizeRows(*q, 0, 1, row.data());
                }
              }),
              0)
        << threads << " threads";
  }
}

}  // namespace
}  // namespace lowbit
