// kernels/encode.h against the scalar codecs on every compiled target: codes
// bit for bit, errors up to the order of the double sum; values at every level
// and exactly between two levels (the tie rules), just off the ties,
// saturating, subnormal, zeros of both signs; lengths 1 to 3 vectors plus
// one, at unaligned starts.
#include "kernels/encode.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "hwy/targets.h"
#include "quant/kmeans1d.h"
#include "tests/support/scoped_target.h"

namespace lowbit {
namespace {

// Values that probe a scheme at scale s: its levels times s, the midpoints
// of neighbouring levels and their float neighbours, then random values over
// a wide range of magnitudes, both signs.
std::vector<float> Probes(const Scheme& scheme, float s, uint32_t seed) {
  std::vector<float> lv(scheme.Levels().begin(), scheme.Levels().end());
  if (scheme.kind == SchemeKind::kTernary) lv = {-1.0f, 0.0f, 1.0f};
  if (scheme.kind == SchemeKind::kInt) {  // every integer code and beyond
    lv.clear();
    for (int k = -260; k <= 260; ++k) lv.push_back(static_cast<float>(k));
  }
  std::vector<float> finite;
  for (float l : lv) {
    if (std::isfinite(l)) finite.push_back(l);
  }
  std::sort(finite.begin(), finite.end());
  std::vector<float> v = {0.0f,
                          -0.0f,
                          1e30f,
                          -1e30f,
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::denorm_min()};
  for (size_t i = 0; i < finite.size(); ++i) {
    v.push_back(finite[i] * s);
    if (i + 1 < finite.size()) {
      const float mid = (finite[i] + finite[i + 1]) * 0.5f * s;
      v.push_back(mid);
      v.push_back(std::nextafter(mid, 1e30f));
      v.push_back(std::nextafter(mid, -1e30f));
    }
  }
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> e(-30.0f, 20.0f);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (int i = 0; i < 400; ++i) {
    v.push_back((i & 1 ? -1.0f : 1.0f) * std::exp2(e(rng)) * s);
    v.push_back(g(rng) * s * 3.0f);
  }
  return v;
}

std::vector<std::pair<Scheme, CodeParams>> Cases() {
  std::vector<std::pair<Scheme, CodeParams>> c;
  for (int bits = 2; bits <= 8; ++bits) {
    const Scheme sc{SchemeKind::kInt, bits};
    c.push_back({sc, CodeParams{0.37f, 1 << (bits - 1), 0.0f}});  // symmetric
    c.push_back({sc, CodeParams{0.011f, 1, 0.0f}});               // asymmetric
    c.push_back({sc, CodeParams{0.0f, 2, 0.0f}});                 // scale 0
    // f16 zero points: zero + offset, offsets of either sign.
    c.push_back({sc, CodeParams{0.013f, 2, 0.0f, 0.3125f}});
    c.push_back({sc, CodeParams{0.29f, 1, 0.0f, -0.4375f}});
  }
  for (SchemeKind k :
       {SchemeKind::kNf4, SchemeKind::kFp8E4M3, SchemeKind::kFp8E5M2,
        SchemeKind::kFp4E2M1, SchemeKind::kMxfp4}) {
    const Scheme sc{
        k, k == SchemeKind::kFp8E4M3 || k == SchemeKind::kFp8E5M2 ? 8 : 4};
    c.push_back({sc, CodeParams{1.0f, 0, 0.0f}});
    c.push_back({sc, CodeParams{0.0123f, 0, 0.0f}});
  }
  c.push_back({Scheme{SchemeKind::kTernary, 2}, CodeParams{0.5f, 0, 0.7f}});
  c.push_back({Scheme{SchemeKind::kTernary, 2}, CodeParams{1.0f, 0, 0.5f}});
  c.push_back({Scheme{SchemeKind::kBinary, 1}, CodeParams{0.25f, 0, 0.0f}});
  return c;
}

TEST(Encode, EqualsTheScalarCodecsOnEveryTarget) {
  int checked = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const test_support::ScopedTarget scoped(target);
    uint32_t seed = 1;
    for (const auto& [scheme, p] : Cases()) {
      ASSERT_TRUE(EncodeSupports(scheme));
      const std::vector<float> x =
          Probes(scheme, p.scale != 0.0f ? p.scale : 1.0f, ++seed);
      std::vector<float> w(x.size());
      std::mt19937 rng(seed);
      std::uniform_real_distribution<float> u(0.0f, 2.0f);
      for (float& v : w) v = u(rng);
      const std::string what = scheme.Name() + " s=" + std::to_string(p.scale) +
                               " z=" + std::to_string(p.zero) + "+" +
                               std::to_string(p.offset) + " on " +
                               hwy::TargetName(target);
      // Everything at once, then short runs at odd starts.
      std::vector<uint8_t> got(x.size()), want(x.size());
      EncodeValues(scheme, p, x.data(), static_cast<int64_t>(x.size()),
                   got.data());
      reference::EncodeValues(scheme, p, x.data(),
                              static_cast<int64_t>(x.size()), want.data());
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_EQ(int{got[i]}, int{want[i]}) << what << " x=" << x[i];
      }
      for (int64_t start : {1, 3, 5}) {
        for (int64_t n = 1; n <= 3 * 16 + 1; ++n) {
          const float* xs = x.data() + start;
          EncodeValues(scheme, p, xs, n, got.data());
          reference::EncodeValues(scheme, p, xs, n, want.data());
          for (int64_t i = 0; i < n; ++i) {
            ASSERT_EQ(int{got[i]}, int{want[i]}) << what << " n=" << n;
          }
          // Errors of the finite probes (the first seven are extremes).
          const float* xf = x.data() + 7 + start;
          for (const float* wt : {static_cast<const float*>(nullptr),
                                  static_cast<const float*>(w.data())}) {
            const double e = EncodeError(scheme, p, xf, wt, n);
            const double r = reference::EncodeError(scheme, p, xf, wt, n);
            ASSERT_NEAR(e, r, 1e-12 * r + 1e-300) << what << " n=" << n;
          }
        }
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 40);
}

// The minifloat kernels round on the f32 bits; every positive code's level,
// and the midpoints around it, come back to the table's code.
TEST(Encode, MinifloatCodesRoundTrip) {
  for (SchemeKind k :
       {SchemeKind::kFp8E4M3, SchemeKind::kFp8E5M2, SchemeKind::kFp4E2M1}) {
    const Scheme sc{k, k == SchemeKind::kFp4E2M1 ? 4 : 8};
    const auto lv = sc.Levels();
    std::vector<float> x;
    std::vector<uint8_t> want;
    for (size_t c = 0; c < lv.size(); ++c) {
      if (!std::isfinite(lv[c]) || (c != 0 && lv[c] == 0.0f)) continue;
      x.push_back(lv[c]);
      want.push_back(static_cast<uint8_t>(c));
    }
    std::vector<uint8_t> got(x.size());
    EncodeValues(sc, CodeParams{1.0f, 0, 0.0f}, x.data(),
                 static_cast<int64_t>(x.size()), got.data());
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(int{got[i]}, int{want[i]}) << sc.Name() << " " << x[i];
    }
    EXPECT_GT(x.size(), size_t{14});
  }
}

// k-means codes against NearestLevel on every target: codebooks of 1 to 16
// levels with runs of equal levels, values at every level, midpoint and its
// neighbours, NaN and infinities, odd lengths and starts.
TEST(Encode, NearestLevelsEqualsNearestLevelOnEveryTarget) {
  std::mt19937 rng(11);
  std::normal_distribution<float> g(0.0f, 1.0f);
  int checked = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const test_support::ScopedTarget scoped(target);
    for (int n = 1; n <= 16; ++n) {
      std::vector<float> lv(static_cast<size_t>(n));
      for (float& v : lv) v = g(rng);
      if (n >= 4) lv[2] = lv[1];  // a run of equal levels
      if (n >= 6) lv[5] = lv[4] = lv[3];
      std::sort(lv.begin(), lv.end());
      std::vector<float> x = {std::numeric_limits<float>::quiet_NaN(),
                              std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(), 0.0f};
      for (int i = 0; i < n; ++i) {
        x.push_back(lv[i]);
        if (i + 1 < n) {
          const float mid = lv[i] + (lv[i + 1] - lv[i]) * 0.5f;
          x.push_back(mid);
          x.push_back(std::nextafter(mid, 1e30f));
          x.push_back(std::nextafter(mid, -1e30f));
        }
      }
      for (int i = 0; i < 100; ++i) x.push_back(1.5f * g(rng));
      for (int64_t start : {0, 1, 3}) {
        const int64_t count = static_cast<int64_t>(x.size()) - start;
        std::vector<uint8_t> got(static_cast<size_t>(count));
        NearestLevels(lv.data(), n, x.data() + start, count, got.data());
        for (int64_t i = 0; i < count; ++i) {
          ASSERT_EQ(int{got[i]}, NearestLevel(lv, x[start + i]))
              << n << " levels, x=" << x[start + i] << " on "
              << hwy::TargetName(target);
        }
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 100);
}

}  // namespace
}  // namespace lowbit
