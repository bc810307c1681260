// The batched kernels against the matrix-vector references, on every compiled
// target (including AVX3_DL with VNNI, compiled for kernels/matmul.cc only).
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "hwy/targets.h"
#include "kernels/matvec.h"
#include "quant/quantize.h"
#include "tests/support/kernel_test_util.h"
#include "tests/support/scoped_target.h"

namespace lowbit {
namespace {

// Scratch of the products, reused by every call in this file.
Workspace& Ws() {
  static thread_local Workspace ws;
  return ws;
}

QuantizedTensor Make(int64_t rows, int64_t cols, const std::string& scheme,
                     Granularity gran, int64_t group, bool asym,
                     uint32_t seed) {
  return testing_kernels::QuantizeNormal(rows, cols, scheme, gran, group, asym,
                                         seed);
}

std::vector<float> Acts(int64_t batch, int64_t cols, uint32_t seed) {
  return testing_kernels::Normal(batch * cols, seed);
}

// f32 activations: within 1e-5 of sum |w x| of the reference, for batches of
// 1 to 33 (odd ones too), rows not a multiple of the tile, prime columns.
TEST(MatMul, EveryTargetMatchesTheReference) {
  const std::vector<testing_kernels::LayoutCase> cases = {
      {"int8", Granularity::kChannel, 0, false},
      {"int8", Granularity::kChannel, 0, true},
      {"int8", Granularity::kTensor, 0, false},
      {"int4", Granularity::kGroup, 32, false},
      {"int4", Granularity::kGroup, 64, true},
      {"int4", Granularity::kGroup, 16, false},
      {"nf4", Granularity::kGroup, 64, false},
      {"mxfp4", Granularity::kGroup, 32, false},
      {"kmeans4", Granularity::kChannel, 0, false},
  };
  ThreadPool pool(2);
  int checked = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const test_support::ScopedTarget scoped(target);
    for (const testing_kernels::LayoutCase& c : cases) {
      for (int64_t cols :
           {int64_t{192}, int64_t{97}, int64_t{1031}, int64_t{2048}}) {
        for (int64_t rows : {int64_t{1}, int64_t{7}, int64_t{33}}) {
          const QuantizedTensor w =
              Make(rows, cols, c.scheme, c.gran, c.group, c.asym, 5 + cols);
          if (!MatMulSupports(w)) continue;
          const std::vector<float> deq = Dequantize(w);
          for (int64_t batch :
               {int64_t{1}, int64_t{3}, int64_t{8}, int64_t{33}}) {
            const std::vector<float> x = Acts(batch, cols, 9 + batch);
            std::vector<float> y(static_cast<size_t>(batch * rows)), ref(rows);
            ASSERT_TRUE(MatMul(w, x.data(), batch, y.data(), pool, Ws()).ok());
            for (int64_t b = 0; b < batch; ++b) {
              reference::MatVec(w, x.data() + b * cols, ref.data());
              for (int64_t r = 0; r < rows; ++r) {
                double mag = 0.0;
                for (int64_t k = 0; k < cols; ++k)
                  mag += std::fabs(double{deq[r * cols + k]} * x[b * cols + k]);
                ASSERT_NEAR(y[b * rows + r], ref[r], 1e-5 * mag + 1e-30)
                    << c.scheme << " g" << c.group << " " << rows << "x" << cols
                    << " batch " << batch << " row " << b << "," << r << " on "
                    << hwy::TargetName(target);
              }
            }
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 100);
}

// int8 activations: integer arithmetic, so every target (VNNI or not) gives
// the reference's bits on every activation row.
TEST(MatMul, IntegerActivationsEqualTheReferenceExactly) {
  ThreadPool pool(2);
  int checked = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const test_support::ScopedTarget scoped(target);
    for (Granularity gran : {Granularity::kChannel, Granularity::kTensor}) {
      for (int64_t cols : {int64_t{1}, int64_t{31}, int64_t{64}, int64_t{97},
                           int64_t{130}, int64_t{1031}, int64_t{4096}}) {
        for (int64_t rows : {int64_t{1}, int64_t{6}, int64_t{13}}) {
          const QuantizedTensor w =
              Make(rows, cols, "int8", gran, 0, false, 3 + cols + rows);
          ASSERT_TRUE(MatMulQ8Supports(w));
          for (int64_t batch :
               {int64_t{1}, int64_t{2}, int64_t{5}, int64_t{32}}) {
            const std::vector<float> x = Acts(batch, cols, 4 + batch);
            std::vector<float> y(static_cast<size_t>(batch * rows)), ref(rows);
            ASSERT_TRUE(
                MatMulQ8(w, x.data(), batch, y.data(), pool, Ws()).ok());
            for (int64_t b = 0; b < batch; ++b) {
              reference::MatVecQ8(w, x.data() + b * cols, ref.data());
              for (int64_t r = 0; r < rows; ++r) {
                ASSERT_EQ(y[b * rows + r], ref[r])
                    << rows << "x" << cols << " batch " << batch << " row " << b
                    << "," << r << " on " << hwy::TargetName(target);
              }
            }
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 100);
}

// On a CPU with AVX-512 VNNI the batched kernels run the vpdpbusd path (so the
// test above covered it).
TEST(MatMul, UsesVnniWhereTheCpuHasIt) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  if (!__builtin_cpu_supports("avx512vnni")) {
    GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  }
  EXPECT_STREQ(MatMulTarget(), "AVX3_DL");
  bool listed = false;
  for (int64_t t : hwy::SupportedAndGeneratedTargets())
    listed = listed || t == HWY_AVX3_DL;
  EXPECT_TRUE(listed) << "the per-target tests above must cover AVX3_DL";
#else
  GTEST_SKIP() << "not x86";
#endif
}

TEST(MatMul, RefusesWhatItHasNoKernelFor) {
  ThreadPool pool(1);
  const QuantizedTensor nf4 =
      Make(4, 64, "int3", Granularity::kGroup, 64, false, 1);
  std::vector<float> x(2 * 64), y(2 * 4);
  EXPECT_FALSE(MatMulSupports(nf4));
  EXPECT_FALSE(MatMul(nf4, x.data(), 2, y.data(), pool, Ws()).ok());
  EXPECT_FALSE(MatMulQ8(nf4, x.data(), 2, y.data(), pool, Ws()).ok());
  const QuantizedTensor i8 =
      Make(4, 64, "int8", Granularity::kChannel, 0, false, 2);
  EXPECT_FALSE(MatMul(i8, x.data(), 0, y.data(), pool, Ws()).ok());
  EXPECT_FALSE(MatMulQ8(i8, x.data(), 0, y.data(), pool, Ws()).ok());
}

}  // namespace
}  // namespace lowbit
