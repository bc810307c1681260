// QGemm: every kernel this CPU runs (AVX-512 VNNI, AVX2) equals the scalar
// reference bit for bit, and the reference equals the formula of
// kernels/qgemm.h computed independently in double precision from the
// dequantized weights.
#include "kernels/qgemm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "tests/support/kernel_test_util.h"

namespace lowbit {
namespace {

struct Case {
  std::string scheme;
  Granularity gran;
  int64_t group;
  bool asym;
};

// The activations quantized as the header says, then sum over k of
// dequantized weight times dequantized activation, in double.
// `mag` gets sum |w x| per output, the scale of the float rounding.
std::vector<double> Expected(const QuantizedTensor& q, const float* x,
                             int64_t rows, int64_t group,
                             std::vector<double>* mag) {
  const std::vector<float> wd = Dequantize(q);
  std::vector<double> y(static_cast<size_t>(rows * q.rows));
  mag->assign(y.size(), 0.0);
  for (int64_t m = 0; m < rows; ++m) {
    const float* xr = x + m * q.cols;
    // Activations: int8 per group of `group` inputs.
    std::vector<double> xd(static_cast<size_t>(q.cols));
    for (int64_t k0 = 0; k0 < q.cols; k0 += group) {
      const int64_t k1 = std::min(q.cols, k0 + group);
      float amax = 0;
      for (int64_t k = k0; k < k1; ++k) amax = std::max(amax, std::fabs(xr[k]));
      const float inv = amax > 0 ? 127.0f / amax : 0.0f;
      for (int64_t k = k0; k < k1; ++k) {
        xd[k] = std::clamp(std::nearbyint(xr[k] * inv), -127.0f, 127.0f) *
                static_cast<double>(amax / 127.0f);
      }
    }
    for (int64_t n = 0; n < q.rows; ++n) {
      double acc = 0, abs = 0;
      for (int64_t k = 0; k < q.cols; ++k) {
        acc += static_cast<double>(wd[n * q.cols + k]) * xd[k];
        abs += std::fabs(static_cast<double>(wd[n * q.cols + k]) * xd[k]);
      }
      y[m * q.rows + n] = acc;
      (*mag)[m * q.rows + n] = abs;
    }
  }
  return y;
}

TEST(QGemm, EveryKernelEqualsReferenceAndReferenceEqualsFormula) {
  const std::vector<Case> cases = {
      {"int8", Granularity::kChannel, 0, false},
      {"int8", Granularity::kChannel, 0, true},
      {"int8", Granularity::kTensor, 0, false},
      {"int4", Granularity::kGroup, 32, false},
      {"int4", Granularity::kGroup, 32, true},
      {"int4", Granularity::kChannel, 0, false},
      {"int4", Granularity::kGroup, 16, true},
      {"int3", Granularity::kGroup, 32, false},
      {"int2", Granularity::kGroup, 16, true},
      {"int6", Granularity::kGroup, 64, false},
  };
  ThreadPool pool(2);
  Workspace ws;
  std::vector<QGemmKernel> kernels;
  for (QGemmKernel k : {QGemmKernel::kAvx2, QGemmKernel::kVnni}) {
    if (QGemmCanRun(k)) kernels.push_back(k);
  }
  int checked = 0, compared = 0;
  for (const Case& c : cases) {
    for (int64_t cols : {27, 64, 240}) {
      for (int64_t n : {5, 32, 70}) {
        if (c.gran == Granularity::kGroup && c.group > cols) continue;
        const QuantizedTensor q = testing_kernels::QuantizeNormal(
            n, cols, c.scheme, c.gran, c.group, c.asym, 7 + n + cols);
        ASSERT_TRUE(QGemmSupports(q)) << c.scheme;
        const auto w = PrepareQGemm(q);
        ASSERT_TRUE(w.ok()) << w.status().message();
        for (int64_t rows : {1, 3, 4, 9, 130}) {
          std::vector<float> x = testing_kernels::Normal(rows * cols, 3 + rows);
          if (rows > 3) std::fill_n(x.begin() + cols, cols, 0.0f);  // zero row
          std::vector<float> ref(rows * n);
          reference::QGemm(*w, x.data(), rows, cols, ref.data(), n);
          std::vector<double> mag;
          const std::vector<double> want =
              Expected(q, x.data(), rows, w->group, &mag);
          const std::string what = c.scheme + " cols " + std::to_string(cols) +
                                   " n " + std::to_string(n) + " rows " +
                                   std::to_string(rows);
          for (int64_t i = 0; i < rows * n; ++i) {
            // The reference sums exact integers and rounds once per group.
            ASSERT_NEAR(ref[i], want[i], 1e-5 * mag[i] + 1e-30)
                << what << " at " << i;
          }
          for (const QGemmKernel k : kernels) {
            // Into a wider output: the columns past n stay untouched.
            std::vector<float> got(rows * (n + 3), -1.0f);
            QGemm(*w, x.data(), rows, cols, got.data(), n + 3, pool, ws, k);
            for (int64_t m = 0; m < rows; ++m) {
              for (int64_t j = 0; j < n + 3; ++j) {
                const float g = got[m * (n + 3) + j];
                if (j >= n) {
                  ASSERT_EQ(g, -1.0f) << QGemmKernelName(k) << " " << what;
                } else {
                  ASSERT_EQ(g, ref[m * n + j])
                      << QGemmKernelName(k) << " " << what << " at " << m
                      << ", " << j;
                }
              }
            }
            ++compared;
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 390);  // every case ran (group 64 > 27 columns skipped)
  EXPECT_EQ(compared, 390 * static_cast<int>(kernels.size()));
  EXPECT_TRUE(QGemmCanRun(QGemmBestKernel()));
  if (kernels.empty()) {
    GTEST_SKIP() << "neither AVX2 nor AVX-512 VNNI here: only the reference "
                    "was run";
  }
  // The best kernel, the one QGemm runs by default, is the last compared.
  EXPECT_EQ(QGemmBestKernel(), kernels.back());
}

TEST(QGemm, RefusesWhatItCannotRun) {
  const QuantizedTensor nf4 = testing_kernels::QuantizeNormal(
      4, 64, "nf4", Granularity::kGroup, 64, false, 1);
  EXPECT_FALSE(QGemmSupports(nf4));
  EXPECT_FALSE(PrepareQGemm(nf4).ok());
}

}  // namespace
}  // namespace lowbit
