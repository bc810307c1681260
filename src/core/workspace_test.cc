#include "core/workspace.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace lowbit {
namespace {

// What a kernel does: a scope per call, several arrays of sizes that depend
// on the shape.
void Call(Workspace& ws, int64_t n, int64_t* sum) {
  Workspace::Scope scope(ws);
  float* a = ws.Take<float>(n);
  int32_t* b = ws.TakeZeroed<int32_t>(3 * n + 1);
  double* c = ws.Take<double>(7);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(c) % 64, 0u);
  for (int64_t i = 0; i < n; ++i) a[i] = static_cast<float>(i);
  for (int64_t i = 0; i < 3 * n + 1; ++i) *sum += b[i];  // zeroed
  for (int k = 0; k < 7; ++k) c[k] = k;
  // Arrays taken earlier in the scope are untouched by later ones.
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(a[i], static_cast<float>(i));
}

TEST(Workspace, SecondCallOfTheSameShapeAllocatesNothing) {
  Workspace ws;
  int64_t sum = 0;
  Call(ws, 1000, &sum);
  const int64_t after_first = ws.allocations();
  EXPECT_GE(after_first, 1);
  for (int k = 0; k < 5; ++k) Call(ws, 1000, &sum);
  EXPECT_EQ(ws.allocations(), after_first);
  // A larger shape grows (a few blocks, then their merge into one), then is
  // free again.
  Call(ws, 100000, &sum);
  const int64_t after_big = ws.allocations();
  EXPECT_GT(after_big, after_first);
  EXPECT_LE(after_big, after_first + 4);
  EXPECT_LT(ws.capacity(), 2 * (400000 + 1200004 + 56 + 3 * 64));
  Call(ws, 100000, &sum);
  Call(ws, 10, &sum);
  EXPECT_EQ(ws.allocations(), after_big);
  EXPECT_EQ(sum, 0);
}

TEST(Workspace, NestedScopesGiveBackOnlyTheirOwn) {
  Workspace ws;
  Workspace::Scope outer(ws);
  int* a = ws.Take<int>(16);
  for (int i = 0; i < 16; ++i) a[i] = i;
  int* inner_ptr = nullptr;
  {
    Workspace::Scope inner(ws);
    inner_ptr = ws.Take<int>(1 << 20);  // forces a new block
    inner_ptr[0] = 42;
  }
  int* b = ws.Take<int>(16);  // reuses the inner scope's memory
  EXPECT_NE(b, a);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(a[i], i);
}

}  // namespace
}  // namespace lowbit
