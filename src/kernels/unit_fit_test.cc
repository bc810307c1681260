#include "kernels/unit_fit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "hwy/targets.h"
#include "tests/support/scoped_target.h"

namespace lowbit {
namespace {

const float kIq4[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                        1,    13,   25,  38,  53,  69,  89,  113};

struct Case {
  std::string name;
  UnitLevels lv;
  int n;
  int smin, smax, mmax;
};

std::vector<Case> Cases() {
  std::vector<Case> c;
  c.push_back({"q4_K", {0, 15, nullptr, true}, 32, 0, 63, 63});
  c.push_back({"q2_K", {0, 3, nullptr, true}, 16, 0, 15, 15});
  c.push_back({"q6_K", {-32, 31, nullptr, false}, 16, -128, 127, 0});
  c.push_back({"q3_K", {-4, 3, nullptr, false}, 16, -32, 31, 0});
  c.push_back({"iq4_xs", {0, 15, kIq4, false}, 32, -32, 31, 0});
  return c;
}

// Values with every awkward feature: Gaussian units, all-zero, constant,
// all-positive and all-negative units, huge and tiny magnitudes, exact ties.
std::vector<float> Values(size_t units, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(units * static_cast<size_t>(n));
  for (size_t u = 0; u < units; ++u) {
    float* v = x.data() + u * n;
    for (int i = 0; i < n; ++i) v[i] = g(rng);
    switch (u % 9) {
      case 1:
        std::fill(v, v + n, 0.0f);
        break;
      case 2:
        std::fill(v, v + n, 0.75f);
        break;
      case 3:
        for (int i = 0; i < n; ++i) v[i] = std::fabs(v[i]) + 1.0f;
        break;
      case 4:
        for (int i = 0; i < n; ++i) v[i] = -std::fabs(v[i]);
        break;
      case 5:
        for (int i = 0; i < n; ++i) v[i] *= 1e-6f;
        break;
      case 6:
        for (int i = 0; i < n; ++i) v[i] = std::round(v[i] * 4.0f) / 4.0f;
        break;
      case 7:
        v[0] = 300.0f;
        break;
      default:
        break;
    }
  }
  return x;
}

template <typename T>
void ExpectSameBits(const std::vector<T>& a, const std::vector<T>& b,
                    const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(0, std::memcmp(&a[i], &b[i], sizeof(T)))
        << what << " differs at " << i << ": " << a[i] << " vs " << b[i];
  }
}

// Every compiled SIMD target equals the scalar reference bit for bit, for each
// level kind, with and without weights, at unit counts that are not a multiple
// of the vector width (padded) and of awkward sizes.
TEST(UnitFit, EveryTargetEqualsTheReference) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  for (const Case& c : Cases()) {
    for (size_t units : {size_t{1}, size_t{17}, size_t{130}}) {
      for (bool weighted : {false, true}) {
        const std::vector<float> x = Values(units, c.n, 7 + units);
        std::vector<float> wr(x.size());
        std::mt19937 rng(11);
        std::uniform_real_distribution<float> uw(0.1f, 3.0f);
        for (float& v : wr) v = uw(rng);
        const size_t padded = PaddedUnits(units);
        std::vector<float> xt(padded * c.n), wt(padded * c.n);
        TransposeUnits(x.data(), units, c.n, xt.data());
        TransposeUnits(wr.data(), units, c.n, wt.data());
        UnitBatch b{xt.data(), weighted ? wt.data() : nullptr, c.n, padded};
        const UnitFitParams prm{3, c.lv.affine ? 2 : 1, 0.3f, 1};
        // Reference.
        std::vector<float> rs(padded), rm(padded);
        reference::FitUnits(b, c.lv, prm, rs.data(), rm.data());
        std::vector<float> d(padded), dmin(padded);
        for (size_t u = 0; u < padded; ++u) {
          d[u] = std::fabs(rs[u]) / 40.0f;
          dmin[u] = rm[u] / 20.0f;
        }
        ScaleSearch s;
        s.d = d.data();
        s.dmin = dmin.data();
        s.s_target = rs.data();
        s.m_target = rm.data();
        s.smin = c.smin;
        s.smax = c.smax;
        s.mmax = c.mmax;
        s.rs = 2;
        s.rm = 1;
        std::vector<int32_t> rsc(padded), rmn(padded);
        std::vector<float> rerr(padded);
        reference::SearchUnitScales(b, c.lv, s, rsc.data(), rmn.data(),
                                    rerr.data());
        std::vector<float> rev(padded), rsl(padded), rsll(padded), rslx(padded);
        std::vector<uint8_t> rcodes(padded * c.n);
        UnitSums rsum{rsl.data(), rsll.data(), rslx.data()};
        reference::EvalUnits(b, c.lv, rs.data(), rm.data(), rev.data(),
                             rcodes.data(), &rsum);
        for (int64_t target : targets) {
          const test_support::ScopedTarget scoped(target);
          const std::string what = c.name + " units " + std::to_string(units) +
                                   (weighted ? " weighted" : "") + " on " +
                                   hwy::TargetName(target);
          std::vector<float> xt2(padded * c.n, -1.0f), xt3(padded * c.n, -2.0f);
          TransposeUnits(x.data(), units, c.n, xt2.data());
          reference::TransposeUnits(x.data(), units, c.n, xt3.data());
          ExpectSameBits(xt2, xt3, what + " transpose");
          std::vector<float> S(padded), M(padded);
          FitUnits(b, c.lv, prm, S.data(), M.data());
          ExpectSameBits(S, rs, what + " S");
          ExpectSameBits(M, rm, what + " M");
          std::vector<int32_t> sc(padded), mn(padded);
          std::vector<float> err(padded);
          SearchUnitScales(b, c.lv, s, sc.data(), mn.data(), err.data());
          ExpectSameBits(sc, rsc, what + " sc");
          ExpectSameBits(mn, rmn, what + " mn");
          ExpectSameBits(err, rerr, what + " search err");
          std::vector<float> ev(padded), sl(padded), sll(padded), slx(padded);
          std::vector<uint8_t> codes(padded * c.n);
          UnitSums sum{sl.data(), sll.data(), slx.data()};
          EvalUnits(b, c.lv, rs.data(), rm.data(), ev.data(), codes.data(),
                    &sum);
          ExpectSameBits(ev, rev, what + " eval err");
          ExpectSameBits(codes, rcodes, what + " codes");
          std::vector<uint8_t> back(units * c.n), rback(units * c.n);
          UntransposeCodes(codes.data(), units, c.n, back.data());
          reference::UntransposeCodes(rcodes.data(), units, c.n, rback.data());
          ExpectSameBits(back, rback, what + " untransposed codes");
          ExpectSameBits(sl, rsl, what + " sl");
          ExpectSameBits(sll, rsll, what + " sll");
          ExpectSameBits(slx, rslx, what + " slx");
        }
      }
    }
  }
}

// The reference itself: the fit is never worse than the plain range (affine)
// or extreme (symmetric) scale, and the search never worse than its start.
TEST(UnitFit, FitBeatsTheRangeAndSearchBeatsRounding) {
  for (const Case& c : Cases()) {
    const size_t units = 64;
    const std::vector<float> x = Values(units, c.n, 3);
    std::vector<float> xt(units * c.n);
    TransposeUnits(x.data(), units, c.n, xt.data());
    UnitBatch b{xt.data(), nullptr, c.n, units};
    std::vector<float> S(units), M(units), err(units), base(units), bs(units),
        bm(units);
    FitUnits(b, c.lv, UnitFitParams{}, S.data(), M.data());
    EvalUnits(b, c.lv, S.data(), M.data(), err.data(), nullptr, nullptr);
    for (size_t u = 0; u < units; ++u) {
      float lo = 0, hi = 0, ext = 0;
      for (int i = 0; i < c.n; ++i) {
        const float v = x[u * c.n + i];
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        if (std::fabs(v) > std::fabs(ext)) ext = v;
      }
      const float top = c.lv.table ? c.lv.table[0] : c.lv.qmin;
      bs[u] = c.lv.affine ? (hi - lo) / c.lv.qmax : ext / top;
      bm[u] = c.lv.affine ? -lo : 0.0f;
    }
    EvalUnits(b, c.lv, bs.data(), bm.data(), base.data(), nullptr, nullptr);
    for (size_t u = 0; u < units; ++u) {
      EXPECT_LE(err[u], base[u] * (1 + 1e-5f) + 1e-30f)
          << c.name << " unit " << u;
    }
  }
}

}  // namespace
}  // namespace lowbit
