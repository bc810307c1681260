// Tests for KMeans1D and NearestLevel, including a comparison with a
// brute-force O(n k) k-means++ (Arthur & Vassilvitskii 2007) + Lloyd (Lloyd
// 1982) reference.
#include "quant/kmeans1d.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <utility>
#include <vector>

namespace lowbit {
namespace {

std::vector<float> Normal(int n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

std::vector<float> Uniform(int n, float lo, float hi, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// sum_i w_i (x_i - level(x_i))^2 with the level picked by NearestLevel (w
// empty: all 1).
double Objective(const std::vector<float>& x, const std::vector<float>& w,
                 const std::vector<float>& levels) {
  double sum = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double d =
        static_cast<double>(x[i]) - levels[NearestLevel(levels, x[i])];
    sum += (w.empty() ? 1.0 : w[i]) * d * d;
  }
  return sum;
}

void ExpectAscending(const std::vector<float>& levels) {
  for (size_t j = 1; j < levels.size(); ++j) {
    EXPECT_LE(levels[j - 1], levels[j]) << "at " << j;
  }
}

// Brute-force reference following the same protocol as KMeans1D: the distinct
// values sorted ascending with summed weights, first centre drawn proportional
// to w, the next ones proportional to w D^2 (one 53-bit uniform draw each,
// cumulated in ascending order), then Lloyd with an O(m k) nearest-level scan
// and directly summed means.
std::vector<float> ReferenceKMeans(const std::vector<float>& x,
                                   const std::vector<float>& w, int k,
                                   uint64_t seed, int max_iters) {
  std::vector<std::pair<float, double>> pts;
  for (size_t i = 0; i < x.size(); ++i) {
    pts.push_back({x[i], w.empty() ? 1.0 : static_cast<double>(w[i])});
  }
  std::sort(pts.begin(), pts.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<float> xs;
  std::vector<double> ws;
  for (const auto& [v, wt] : pts) {
    if (!xs.empty() && xs.back() == v) {
      ws.back() += wt;
    } else {
      xs.push_back(v);
      ws.push_back(wt);
    }
  }
  const int m = static_cast<int>(xs.size());
  if (m <= k) {
    xs.resize(k, xs.back());
    return xs;
  }
  std::mt19937_64 gen(seed);
  auto uniform = [&] { return static_cast<double>(gen() >> 11) * 0x1.0p-53; };
  auto draw = [&](const std::vector<double>& mass) {
    double total = 0.0;
    for (double v : mass) total += v;
    const double target = uniform() * total;
    double acc = 0.0;
    for (int i = 0; i < m; ++i) {
      acc += mass[i];
      if (acc > target) return i;
    }
    return m - 1;
  };
  std::vector<float> centres = {xs[draw(ws)]};
  while (static_cast<int>(centres.size()) < k) {
    std::vector<double> mass(m);
    for (int i = 0; i < m; ++i) {
      double best = std::numeric_limits<double>::infinity();
      for (float c : centres) {
        const double d = static_cast<double>(xs[i]) - c;
        best = std::min(best, d * d);
      }
      mass[i] = ws[i] * best;
    }
    centres.push_back(xs[draw(mass)]);
  }
  std::sort(centres.begin(), centres.end());

  std::vector<float> lev = centres;
  for (int iter = 0; iter < max_iters; ++iter) {
    std::vector<double> sw(k, 0.0), swx(k, 0.0);
    for (int i = 0; i < m; ++i) {
      int best = 0;
      double best_d = std::fabs(static_cast<double>(xs[i]) - lev[0]);
      for (int j = 1; j < k; ++j) {
        const double d = std::fabs(static_cast<double>(xs[i]) - lev[j]);
        if (d < best_d) {
          best_d = d;
          best = j;
        }
      }
      sw[best] += ws[i];
      swx[best] += ws[i] * xs[i];
    }
    bool moved = false;
    for (int j = 0; j < k; ++j) {
      if (sw[j] <= 0.0) continue;
      const float level = static_cast<float>(swx[j] / sw[j]);
      if (level != lev[j]) {
        lev[j] = level;
        moved = true;
      }
    }
    if (!moved) break;
  }
  std::sort(lev.begin(), lev.end());
  return lev;
}

TEST(NearestLevelTest, HandCases) {
  const std::vector<float> lv = {-1.0f, 0.0f, 2.0f, 10.0f};
  EXPECT_EQ(NearestLevel(lv, -5.0f), 0);
  EXPECT_EQ(NearestLevel(lv, -1.0f), 0);
  EXPECT_EQ(NearestLevel(lv, -0.4f), 1);
  EXPECT_EQ(NearestLevel(lv, 0.0f), 1);
  EXPECT_EQ(NearestLevel(lv, 1.5f), 2);
  EXPECT_EQ(NearestLevel(lv, 2.0f), 2);
  EXPECT_EQ(NearestLevel(lv, 6.5f), 3);
  EXPECT_EQ(NearestLevel(lv, 100.0f), 3);
  EXPECT_EQ(NearestLevel(lv, std::numeric_limits<float>::infinity()), 3);
  EXPECT_EQ(NearestLevel(lv, -std::numeric_limits<float>::infinity()), 0);
  EXPECT_EQ(NearestLevel(lv, std::nanf("")), 0);
  const std::vector<float> one = {3.0f};
  EXPECT_EQ(NearestLevel(one, -7.0f), 0);
  EXPECT_EQ(NearestLevel(one, 7.0f), 0);
}

TEST(NearestLevelTest, TiesGoToLowerIndex) {
  const std::vector<float> lv = {-1.0f, 0.0f, 2.0f, 10.0f};
  EXPECT_EQ(NearestLevel(lv, -0.5f), 0);
  EXPECT_EQ(NearestLevel(lv, 1.0f), 1);
  EXPECT_EQ(NearestLevel(lv, 6.0f), 2);
  // Runs of equal levels: the first of the run wins, from either side.
  const std::vector<float> dup = {0.0f, 1.0f, 1.0f, 1.0f, 5.0f, 5.0f};
  EXPECT_EQ(NearestLevel(dup, 1.0f), 1);
  EXPECT_EQ(NearestLevel(dup, 0.9f), 1);
  EXPECT_EQ(NearestLevel(dup, 1.2f), 1);
  EXPECT_EQ(NearestLevel(dup, 3.0f), 1);
  EXPECT_EQ(NearestLevel(dup, 3.5f), 4);
  EXPECT_EQ(NearestLevel(dup, 5.0f), 4);
  EXPECT_EQ(NearestLevel(dup, 9.0f), 4);
  const std::vector<float> same = {2.0f, 2.0f, 2.0f};
  EXPECT_EQ(NearestLevel(same, 1.0f), 0);
  EXPECT_EQ(NearestLevel(same, 2.0f), 0);
  EXPECT_EQ(NearestLevel(same, 3.0f), 0);
}

TEST(KMeans1DTest, HandCase) {
  const std::vector<float> x = {0, 0, 0, 10, 10, 10};
  EXPECT_EQ(KMeans1D(x, {}, 2, 1), (std::vector<float>{0.0f, 10.0f}));
  const std::vector<float> y = {0, 1, 2, 10, 11, 12};
  EXPECT_EQ(KMeans1D(y, {}, 2, 7), (std::vector<float>{1.0f, 11.0f}));
}

TEST(KMeans1DTest, FewDistinctValuesAreExactLevels) {
  const std::vector<float> x = {3, 1, 3, 1, -2, 3, 1};
  for (int k : {3, 4, 8}) {
    const std::vector<float> lv = KMeans1D(x, {}, k, 5);
    ASSERT_EQ(static_cast<int>(lv.size()), k);
    ExpectAscending(lv);
    for (float v : {-2.0f, 1.0f, 3.0f}) {
      EXPECT_NE(std::find(lv.begin(), lv.end(), v), lv.end()) << v;
    }
    EXPECT_EQ(Objective(x, {}, lv), 0.0);
  }
  EXPECT_EQ(KMeans1D(x, {}, 5, 5),
            (std::vector<float>{-2.0f, 1.0f, 3.0f, 3.0f, 3.0f}));
}

TEST(KMeans1DTest, EmptyAndDegenerateInputs) {
  EXPECT_EQ(KMeans1D({}, {}, 4, 1), std::vector<float>(4, 0.0f));
  EXPECT_TRUE(KMeans1D(Normal(10, 1), {}, 0, 1).empty());
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> bad = {std::nanf(""), inf, -inf};
  EXPECT_EQ(KMeans1D(bad, {}, 2, 1), std::vector<float>(2, 0.0f));
  // Non-finite values are ignored.
  const std::vector<float> mixed = {1.0f, std::nanf(""), 4.0f, inf};
  EXPECT_EQ(KMeans1D(mixed, {}, 2, 1), (std::vector<float>{1.0f, 4.0f}));
  EXPECT_EQ(KMeans1D(std::vector<float>{2.5f}, {}, 3, 1),
            (std::vector<float>{2.5f, 2.5f, 2.5f}));
}

TEST(KMeans1DTest, AscendingAndSizeK) {
  const std::vector<float> x = Normal(1000, 3);
  for (int k : {1, 2, 3, 4, 7, 16, 64, 256}) {
    const std::vector<float> lv = KMeans1D(x, {}, k, 11);
    ASSERT_EQ(static_cast<int>(lv.size()), k);
    for (size_t j = 1; j < lv.size(); ++j) EXPECT_LT(lv[j - 1], lv[j]) << k;
  }
}

TEST(KMeans1DTest, DeterministicForSeed) {
  const std::vector<float> x = Normal(4096, 4);
  const std::vector<float> w = Uniform(4096, 0.0f, 2.0f, 5);
  for (int k : {4, 16, 256}) {
    EXPECT_EQ(KMeans1D(x, {}, k, 42), KMeans1D(x, {}, k, 42));
    EXPECT_EQ(KMeans1D(x, w, k, 42), KMeans1D(x, w, k, 42));
  }
}

TEST(KMeans1DTest, HeavyWeightPullsTheLevel) {
  const std::vector<float> x = {0.0f, 1.0f, 10.0f};
  const std::vector<float> w = {1.0f, 1.0f, 8.0f};
  const std::vector<float> lv = KMeans1D(x, w, 1, 3);
  ASSERT_EQ(lv.size(), 1u);
  EXPECT_NEAR(lv[0], 8.1f, 1e-6);
  EXPECT_NEAR(KMeans1D(x, {}, 1, 3)[0], 11.0f / 3.0f, 1e-6);
  // k = 2: the heavy point holds the upper level (almost) to itself for any
  // seed.
  const std::vector<float> y = {0.0f, 1.0f, 2.0f, 3.0f};
  const std::vector<float> wy = {1.0f, 1.0f, 1.0f, 100.0f};
  for (uint64_t seed = 0; seed < 10; ++seed) {
    EXPECT_NEAR(KMeans1D(y, wy, 2, seed)[1], 3.0f, 0.02f) << seed;
  }
}

TEST(KMeans1DTest, ZeroWeights) {
  // Zero-weight points are ignored...
  const std::vector<float> x = {0.0f, 1.0f, 100.0f, 2.0f};
  const std::vector<float> w = {1.0f, 1.0f, 0.0f, 1.0f};
  EXPECT_EQ(KMeans1D(x, w, 3, 1), (std::vector<float>{0.0f, 1.0f, 2.0f}));
  EXPECT_NEAR(KMeans1D(x, w, 1, 1)[0], 1.0f, 1e-6);
  // ...unless every weight is zero: then the problem is unweighted.
  const std::vector<float> zeros(x.size(), 0.0f);
  const std::vector<float> big = Normal(500, 8);
  const std::vector<float> big_zeros(big.size(), 0.0f);
  EXPECT_EQ(KMeans1D(x, zeros, 2, 9), KMeans1D(x, {}, 2, 9));
  EXPECT_EQ(KMeans1D(big, big_zeros, 8, 9), KMeans1D(big, {}, 8, 9));
}

TEST(KMeans1DTest, ConvergedLevelsAreWeightedMeans) {
  const std::vector<float> x = Normal(3000, 12);
  const std::vector<float> w = Uniform(3000, 0.0f, 3.0f, 13);
  for (int k : {2, 5, 8, 16}) {
    for (bool weighted : {false, true}) {
      const std::vector<float> ww = weighted ? w : std::vector<float>{};
      const std::vector<float> lv =
          KMeans1D(x, ww, k, 17, /*max_iters=*/100000);
      std::vector<double> sw(k, 0.0), swx(k, 0.0);
      for (size_t i = 0; i < x.size(); ++i) {
        const int j = NearestLevel(lv, x[i]);
        const double wi = ww.empty() ? 1.0 : ww[i];
        sw[j] += wi;
        swx[j] += wi * x[i];
      }
      for (int j = 0; j < k; ++j) {
        if (sw[j] <= 0.0) continue;
        const double mean = swx[j] / sw[j];
        EXPECT_NEAR(lv[j], mean, 1e-5 * std::fabs(mean) + 1e-7)
            << "k=" << k << " weighted=" << weighted << " j=" << j;
      }
    }
  }
}

TEST(KMeans1DTest, BeatsUniformGridOnGaussian) {
  const std::vector<float> x = Normal(4096, 21);
  const auto [mn, mx] = std::minmax_element(x.begin(), x.end());
  for (int k : {4, 16}) {
    std::vector<float> grid(k);
    for (int j = 0; j < k; ++j) grid[j] = *mn + (*mx - *mn) * j / (k - 1);
    const double ours = Objective(x, {}, KMeans1D(x, {}, k, 23));
    EXPECT_LT(ours, Objective(x, {}, grid)) << k;
  }
}

TEST(KMeans1DTest, MatchesBruteForceReference) {
  for (uint64_t s = 0; s < 6; ++s) {
    const std::vector<float> x =
        s % 2 ? Normal(1500, 100 + s) : Uniform(1500, -3.0f, 5.0f, 100 + s);
    const std::vector<float> w = Uniform(1500, 0.1f, 4.0f, 200 + s);
    for (int k : {2, 4, 16, 64}) {
      for (bool weighted : {false, true}) {
        const std::vector<float> ww = weighted ? w : std::vector<float>{};
        const double ours = Objective(x, ww, KMeans1D(x, ww, k, s, 50));
        const double ref = Objective(x, ww, ReferenceKMeans(x, ww, k, s, 50));
        EXPECT_LE(ours, ref * (1.0 + 1e-4))
            << "seed=" << s << " k=" << k << " weighted=" << weighted;
        EXPECT_GE(ours, ref * (1.0 - 1e-4))
            << "seed=" << s << " k=" << k << " weighted=" << weighted;
      }
    }
  }
}

TEST(KMeans1DTest, OffsetDataKeepsPrecision) {
  // Values far from zero with a small spread: a well-fitted table still beats
  // the grid.
  std::vector<float> x = Normal(2048, 31);
  for (float& v : x) v = 1000.0f + 0.01f * v;
  const auto [mn, mx] = std::minmax_element(x.begin(), x.end());
  std::vector<float> grid(8);
  for (int j = 0; j < 8; ++j) grid[j] = *mn + (*mx - *mn) * j / 7;
  const std::vector<float> lv = KMeans1D(x, {}, 8, 3);
  for (size_t j = 1; j < lv.size(); ++j) EXPECT_LT(lv[j - 1], lv[j]);
  EXPECT_LT(Objective(x, {}, lv), Objective(x, {}, grid));
}

}  // namespace
}  // namespace lowbit
