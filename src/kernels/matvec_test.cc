// Every compiled target, AVX3_DL (VNNI) included, against the references.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#include "kernels/matvec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "hwy/targets.h"
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

// sum_k |w_rk x_k|: the scale of row r's rounding differences.
double RowMagnitude(const std::vector<float>& deq, const std::vector<float>& x,
                    int64_t r) {
  const int64_t cols = static_cast<int64_t>(x.size());
  double mag = 0.0;
  for (int64_t k = 0; k < cols; ++k) {
    mag += std::fabs(static_cast<double>(deq[r * cols + k]) * x[k]);
  }
  return mag;
}

// Every compiled target against the reference, within float rounding of the
// sums: sizes of 1 to 3 vectors plus one (and odd row counts, prime columns
// for int8), both symmetric and asymmetric.
TEST(MatVec, EveryTargetMatchesTheReference) {
  const std::vector<testing_kernels::LayoutCase> cases = {
      {"int8", Granularity::kChannel, 0, false},
      {"int8", Granularity::kChannel, 0, true},
      {"int8", Granularity::kTensor, 0, false},
      {"int4", Granularity::kGroup, 32, false},
      {"int4", Granularity::kGroup, 64, true},
      // 4-bit levels through a table
      {"nf4", Granularity::kGroup, 64, false},
      {"fp4_e2m1", Granularity::kGroup, 32, false},
      {"mxfp4", Granularity::kGroup, 32, false},
      {"kmeans4", Granularity::kChannel, 0, false},
      {"kmeans4", Granularity::kTensor, 0, false},
  };
  ThreadPool pool(2);
  int checked = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const test_support::ScopedTarget scoped(target);
    for (const testing_kernels::LayoutCase& c : cases) {
      for (int64_t cols : {int64_t{64}, int64_t{128}, int64_t{97},
                           int64_t{1031}, int64_t{4096}}) {
        for (int64_t rows : {int64_t{1}, int64_t{7}, int64_t{33}}) {
          const QuantizedTensor w =
              Make(rows, cols, c.scheme, c.gran, c.group, c.asym, 5 + cols);
          if (!MatVecSupports(w)) continue;
          std::vector<float> x(static_cast<size_t>(cols)), y(rows), ref(rows);
          std::mt19937 rng(9);
          std::uniform_real_distribution<float> u(-1.0f, 1.0f);
          for (float& v : x) v = u(rng);
          ASSERT_TRUE(MatVec(w, x.data(), y.data(), pool, Ws()).ok());
          reference::MatVec(w, x.data(), ref.data());
          const std::vector<float> deq = Dequantize(w);
          for (int64_t r = 0; r < rows; ++r) {
            const double mag = RowMagnitude(deq, x, r);
            ASSERT_NEAR(y[r], ref[r], 1e-5 * mag + 1e-30)
                << c.scheme << " " << rows << "x" << cols << " row " << r
                << " on " << hwy::TargetName(target);
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 20);
}

// The integer-activation path is integer arithmetic: every target gives the
// reference's bits; and it stays close to the float product (the activations'
// 8-bit rounding is the only difference).
TEST(MatVec, IntegerActivationsEqualTheReferenceExactly) {
  ThreadPool pool(2);
  int checked = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const test_support::ScopedTarget scoped(target);
    for (Granularity gran : {Granularity::kChannel, Granularity::kTensor}) {
      for (int64_t cols : {int64_t{1}, int64_t{31}, int64_t{64}, int64_t{97},
                           int64_t{1031}, int64_t{4096}}) {
        const int64_t rows = 13;
        const QuantizedTensor w =
            Make(rows, cols, "int8", gran, 0, false, 3 + cols);
        ASSERT_TRUE(MatVecQ8Supports(w));
        std::vector<float> x(static_cast<size_t>(cols)), y(rows), ref(rows),
            fy(rows);
        std::mt19937 rng(4);
        std::normal_distribution<float> g(0.0f, 1.0f);
        for (float& v : x) v = g(rng);
        ASSERT_TRUE(MatVecQ8(w, x.data(), y.data(), pool, Ws()).ok());
        reference::MatVecQ8(w, x.data(), ref.data());
        reference::MatVec(w, x.data(), fy.data());
        const std::vector<float> deq = Dequantize(w);
        for (int64_t r = 0; r < rows; ++r) {
          ASSERT_EQ(y[r], ref[r])
              << cols << " row " << r << " on " << hwy::TargetName(target);
          const double mag = RowMagnitude(deq, x, r);
          EXPECT_NEAR(y[r], fy[r], 0.01 * mag + 1e-6) << cols << " row " << r;
        }
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 10);
}

// int4 groups with integer activations: the reference's exact group sums,
// within float rounding; and close to the f32-activation product.
TEST(MatVec, Int4WithIntegerActivationsMatchesTheReference) {
  ThreadPool pool(2);
  int checked = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const test_support::ScopedTarget scoped(target);
    for (bool asym : {false, true}) {
      for (int64_t group : {int64_t{32}, int64_t{64}, int64_t{128}}) {
        for (int64_t cols : {int64_t{128}, int64_t{1024}, int64_t{4096}}) {
          const int64_t rows = 11;
          const QuantizedTensor w =
              Make(rows, cols, "int4", Granularity::kGroup, group, asym,
                   7 + cols + group);
          if (!MatVecQ8Supports(w)) continue;
          std::vector<float> x(static_cast<size_t>(cols)), y(rows), ref(rows),
              fy(rows);
          std::mt19937 rng(6);
          std::normal_distribution<float> g(0.0f, 1.0f);
          for (float& v : x) v = g(rng);
          ASSERT_TRUE(MatVecQ8(w, x.data(), y.data(), pool, Ws()).ok());
          reference::MatVecQ8(w, x.data(), ref.data());
          reference::MatVec(w, x.data(), fy.data());
          const std::vector<float> deq = Dequantize(w);
          for (int64_t r = 0; r < rows; ++r) {
            const double mag = RowMagnitude(deq, x, r);
            ASSERT_NEAR(y[r], ref[r], 1e-5 * mag + 1e-30)
                << group << " " << cols << " row " << r << " on "
                << hwy::TargetName(target);
            EXPECT_NEAR(y[r], fy[r], 0.01 * mag + 1e-6);
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 20);
}

// The table schemes run their own kernel (not skipped by the loop above).
// Activation quantization: bit for bit on every target, lengths 1 to 3
// vectors plus one at odd starts, values at and around the rounding ties.
TEST(MatVec, QuantizeActivationsEqualsTheReferenceOnEveryTarget) {
  std::vector<float> x = testing_kernels::Normal(300, 77);
  for (int i = 0; i < 40; ++i) x[5 * i] = (static_cast<float>(i) - 19.5f) / 4;
  x[17] = 0.0f;
  x[18] = -0.0f;
  int checked = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const test_support::ScopedTarget scoped(target);
    for (int64_t start : {0, 1, 3}) {
      for (int64_t n = 1; n <= 3 * 16 + 1; ++n) {
        std::vector<int16_t> got(n), want(n);
        const float a = QuantizeActivations(x.data() + start, n, got.data());
        const float b =
            reference::QuantizeActivations(x.data() + start, n, want.data());
        ASSERT_EQ(a, b) << n << " on " << hwy::TargetName(target);
        ASSERT_EQ(got, want) << n << " on " << hwy::TargetName(target);
        ++checked;
      }
    }
    std::vector<float> zeros(37, 0.0f);
    std::vector<int16_t> q(37, 5);
    EXPECT_EQ(QuantizeActivations(zeros.data(), 37, q.data()), 0.0f);
    EXPECT_EQ(q, std::vector<int16_t>(37, 0));
  }
  EXPECT_GT(checked, 100);
}

TEST(MatVec, TableSchemesHaveAKernel) {
  for (const char* scheme : {"nf4", "fp4_e2m1", "mxfp4"}) {
    EXPECT_TRUE(
        MatVecSupports(Make(2, 128, scheme, Granularity::kGroup, 32, false, 1)))
        << scheme;
  }
  EXPECT_TRUE(MatVecSupports(
      Make(2, 128, "kmeans4", Granularity::kChannel, 0, false, 1)));
}

TEST(MatVec, RefusesWhatItHasNoKernelFor) {
  ThreadPool pool(1);
  const QuantizedTensor w =
      Make(4, 64, "int3", Granularity::kGroup, 64, false, 1);
  EXPECT_FALSE(MatVecSupports(w));
  std::vector<float> x(64), y(4);
  EXPECT_FALSE(MatVec(w, x.data(), y.data(), pool, Ws()).ok());
}

}  // namespace
}  // namespace lowbit
