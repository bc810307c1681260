// kernels/error_sums on every Highway target against the scalar reference.
#include "kernels/error_sums.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "tests/support/scoped_target.h"

namespace lowbit {
namespace {

TEST(ErrorSums, EqualsReferenceOnEveryTarget) {
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0.0f, 3.0f);
  for (int64_t n : {0, 1, 7, 8, 9, 17, 63, 1000, 4099}) {
    std::vector<float> x(n), y(n);
    for (int64_t i = 0; i < n; ++i) {
      x[i] = g(rng);
      y[i] = x[i] + 0.01f * g(rng);
    }
    ErrorSums want;
    want.max_abs = 0.5;  // a running maximum carried in
    reference::AccumulateErrorSums(x.data(), y.data(), n, want);
    for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
      const test_support::ScopedTarget scoped(target);
      ErrorSums got;
      got.max_abs = 0.5;
      AccumulateErrorSums(x.data(), y.data(), n, got);
      const auto near = [](double a, double b) {
        return std::fabs(a - b) <= 1e-12 * std::max(1.0, std::fabs(b));
      };
      EXPECT_TRUE(near(got.sq_err, want.sq_err))
          << hwy::TargetName(target) << " n=" << n;
      EXPECT_TRUE(near(got.sq_ref, want.sq_ref)) << hwy::TargetName(target);
      EXPECT_TRUE(near(got.sq_out, want.sq_out)) << hwy::TargetName(target);
      EXPECT_TRUE(near(got.dot, want.dot)) << hwy::TargetName(target);
      EXPECT_EQ(got.max_abs, want.max_abs) << hwy::TargetName(target);
    }
  }
}

TEST(ErrorSums, FirstNonFiniteOnEveryTarget) {
  const float kNaN = std::numeric_limits<float>::quiet_NaN();
  const float kInf = std::numeric_limits<float>::infinity();
  const float kMax = std::numeric_limits<float>::max();
  const float kDenorm = std::numeric_limits<float>::denorm_min();
  for (int64_t n : {0, 1, 5, 16, 33, 1000}) {
    std::vector<float> x(n);
    for (int64_t i = 0; i < n; ++i) x[i] = i % 3 ? kMax : -kDenorm;
    std::vector<std::vector<float>> cases = {x};
    for (int64_t at : {int64_t{0}, n / 2, n - 1}) {
      if (n == 0) break;
      for (float bad : {kNaN, kInf, -kInf}) {
        std::vector<float> c = x;
        c[at] = bad;
        if (at + 1 < n) c[n - 1] = kNaN;  // a later one does not count
        cases.push_back(c);
      }
    }
    for (const std::vector<float>& c : cases) {
      const int64_t want = reference::FirstNonFinite(c.data(), n);
      for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
        const test_support::ScopedTarget scoped(target);
        EXPECT_EQ(FirstNonFinite(c.data(), n), want)
            << hwy::TargetName(target) << " n=" << n;
      }
    }
  }
}

}  // namespace
}  // namespace lowbit
