#include "quant/gptq.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "formats/scheme.h"
#include "kernels/linalg.h"
#include "quant/quantize.h"
#include "tests/support/gptq_test_util.h"

namespace lowbit {
namespace {

using testing_util::CorrelatedHessian;
using testing_util::RandomWeights;

std::vector<float> Diag(const std::vector<float>& h) {
  const int64_t n = static_cast<int64_t>(std::sqrt(double(h.size())));
  std::vector<float> d(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) d[i] = h[i * n + i];
  return d;
}

TEST(Linalg, UpperCholeskyOfInverseFactorsTheInverse) {
  std::mt19937 rng(1);
  for (int64_t n : {1, 2, 7, 64, 130}) {
    // Well conditioned (no column scaling): float's error stays small.
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const int64_t m = 4 * n + 8;
    std::vector<float> x(static_cast<size_t>(m * n));
    for (float& v : x) v = nd(rng);
    std::vector<float> h(static_cast<size_t>(n * n), 0.0f);
    AccumulateGram(x.data(), m, n, h.data());
    SymmetrizeFromUpper(h.data(), n);
    for (float& v : h) v /= static_cast<float>(m);
    for (int64_t i = 0; i < n; ++i) h[i * n + i] += 0.1f;
    std::vector<float> u = h;
    ASSERT_TRUE(UpperCholeskyOfInverse(u.data(), n).ok()) << n;
    // (U^T U) H = I, and U is upper triangular.
    double worst = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < i; ++j) ASSERT_EQ(u[i * n + j], 0.0f);
    }
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0.0;
        for (int64_t k = 0; k < n; ++k) {
          double inv_ik = 0.0;  // (U^T U)(i, k)
          for (int64_t t = 0; t <= std::min(i, k); ++t) {
            inv_ik += static_cast<double>(u[t * n + i]) * u[t * n + k];
          }
          acc += inv_ik * h[k * n + j];
        }
        worst = std::max(worst, std::fabs(acc - (i == j ? 1.0 : 0.0)));
      }
    }
    EXPECT_LT(worst, 2e-3) << "n " << n;
  }
  std::vector<float> bad = {1, 2, 2, 1};  // indefinite
  EXPECT_FALSE(UpperCholeskyOfInverse(bad.data(), 2).ok());
}

struct SchemeCase {
  const char* scheme;
  int64_t group;  // 0: per channel
  bool symmetric;
};

// The paper's claim, for every scheme with fixed levels: on correlated
// inputs GPTQ's layer-output error is below round-to-nearest's, both with the
// same (importance-weighted) scales and with the plain unweighted search.
TEST(Gptq, BeatsRoundToNearestOnCorrelatedInputs) {
  std::mt19937 rng(2);
  const int64_t rows = 24, cols = 96;
  const std::vector<float> h = CorrelatedHessian(cols, 400, rng);
  const std::vector<float> w = RandomWeights(rows, cols, rng);
  ThreadPool pool(2);
  for (const SchemeCase& sc :
       {SchemeCase{"int8", 0, true}, SchemeCase{"int4", 0, true},
        SchemeCase{"int4", 32, false}, SchemeCase{"int3", 32, true},
        SchemeCase{"int2", 32, false}, SchemeCase{"int5", 0, false},
        SchemeCase{"nf4", 32, true}, SchemeCase{"fp4_e2m1", 32, true},
        SchemeCase{"fp8_e4m3", 0, true}, SchemeCase{"ternary", 0, true},
        SchemeCase{"binary", 0, true}}) {
    for (int order = 0; order < 3; ++order) {
      // act-order with static groups; natural order, static groups; natural
      // order with each group refitted when reached.
      const bool act_order = order == 0;
      QuantConfig cfg;
      cfg.scheme = *ParseScheme(sc.scheme);
      cfg.granularity = static_cast<int>(sc.group > 0 ? Granularity::kGroup
                                                      : Granularity::kChannel);
      cfg.group_size = sc.group;
      if (cfg.scheme.SupportsAsymmetric()) cfg.symmetric = sc.symmetric;
      GptqOptions opt;
      opt.act_order = act_order;
      opt.static_groups = order < 2;
      opt.block = 32;
      opt.refit = false;  // the refit's own test is below
      GptqReport rep;
      auto q = QuantizeGptq(w.data(), {rows, cols}, cfg, h.data(), 1, opt, pool,
                            &rep);
      ASSERT_TRUE(q.ok()) << sc.scheme << ": " << q.status().message();
      auto plain = Quantize(w.data(), {rows, cols}, cfg, pool);
      ASSERT_TRUE(plain.ok());
      const double rtn = LayerOutputError(w.data(), *plain, h.data(), 1);
      EXPECT_NEAR(rep.gptq_error, LayerOutputError(w.data(), *q, h.data(), 1),
                  1e-9 * rtn);
      EXPECT_LT(rep.gptq_error, rep.rtn_error)
          << sc.scheme << " g" << sc.group << " order " << order;
      EXPECT_LT(rep.gptq_error, rtn)
          << sc.scheme << " g" << sc.group << " order " << order;
      EXPECT_EQ(q->scales.size(), plain->scales.size());
      // Static groups: the weighted search's scales, only the codes differ.
      if (order < 2 || sc.group == 0) {
        QuantConfig wc = cfg;
        wc.method.unweighted_guard = false;  // as GPTQ's starting scales
        auto weighted = Quantize(w.data(), {rows, cols}, wc, pool, Diag(h));
        ASSERT_TRUE(weighted.ok());
        EXPECT_EQ(q->scales, weighted->scales) << sc.scheme << " " << order;
      }
    }
  }
}

// Row groups (a grouped convolution) use their own matrices: the same as
// quantizing each group alone.
// The least-squares refit of the scales after GPTQ (quant/scale_refit.h)
// never raises the layer-output error, lowers it overall, and keeps the
// codes.
TEST(Gptq, RefitLowersTheLayerOutputError) {
  std::mt19937 rng(4);
  const int64_t rows = 16, cols = 128;
  const std::vector<float> h = CorrelatedHessian(cols, 500, rng);
  const std::vector<float> w = RandomWeights(rows, cols, rng);
  ThreadPool pool(2);
  double before = 0.0, after = 0.0;
  for (const char* spec :
       {"int4:32:sym", "int4:32:asym", "int4:32:f16", "int2:32:f16",
        "int3:0:sym", "int2:0:asym", "nf4:32:sym", "fp4_e2m1:32:sym"}) {
    const std::string s(spec);
    const size_t c1 = s.find(':'), c2 = s.rfind(':');
    const int64_t group = std::stoll(s.substr(c1 + 1, c2 - c1 - 1));
    const std::string mode = s.substr(c2 + 1);
    QuantConfig cfg;
    cfg.scheme = *ParseScheme(s.substr(0, c1));
    cfg.granularity = static_cast<int>(group > 0 ? Granularity::kGroup
                                                 : Granularity::kChannel);
    cfg.group_size = group;
    if (cfg.scheme.SupportsAsymmetric()) cfg.symmetric = mode == "sym";
    if (mode == "f16") cfg.zero_type = ZeroType::kF16;
    GptqOptions opt;
    opt.refit = false;
    GptqReport a, b;
    auto qa =
        QuantizeGptq(w.data(), {rows, cols}, cfg, h.data(), 1, opt, pool, &a);
    opt.refit = true;
    auto qb =
        QuantizeGptq(w.data(), {rows, cols}, cfg, h.data(), 1, opt, pool, &b);
    ASSERT_TRUE(qa.ok() && qb.ok()) << spec;
    EXPECT_EQ(qa->codes, qb->codes) << spec;
    EXPECT_TRUE(qb->Validate().ok()) << spec;
    EXPECT_LE(b.gptq_error, a.gptq_error * (1 + 1e-6)) << spec;
    before += a.gptq_error / a.rtn_error;
    after += b.gptq_error / a.rtn_error;
  }
  EXPECT_LT(after, 0.95 * before);
}

TEST(Gptq, RowGroupsUseTheirOwnStatistics) {
  std::mt19937 rng(3);
  const int64_t rg = 5, cols = 40;
  std::vector<float> h0 = CorrelatedHessian(cols, 200, rng);
  std::vector<float> h1 = CorrelatedHessian(cols, 200, rng);
  std::vector<float> h = h0;
  h.insert(h.end(), h1.begin(), h1.end());
  const std::vector<float> w = RandomWeights(2 * rg, cols, rng);
  ThreadPool pool(1);
  QuantConfig cfg;
  cfg.scheme = *ParseScheme("int3");
  cfg.granularity = static_cast<int>(Granularity::kChannel);
  cfg.scale_type = ScaleType::kF32;
  // minmax: the scales do not depend on the statistics, so the codes of
  // each group must be exactly those of quantizing it alone.
  cfg.method.method = Method::kMinMax;
  auto both = QuantizeGptq(w.data(), {2 * rg, cols}, cfg, h.data(), 2,
                           GptqOptions{}, pool);
  ASSERT_TRUE(both.ok()) << both.status().message();
  for (int g = 0; g < 2; ++g) {
    auto alone =
        QuantizeGptq(w.data() + g * rg * cols, {rg, cols}, cfg,
                     (g == 0 ? h0 : h1).data(), 1, GptqOptions{}, pool);
    ASSERT_TRUE(alone.ok());
    std::vector<float> a(static_cast<size_t>(cols)),
        b(static_cast<size_t>(cols));
    int64_t differ = 0;
    for (int64_t r = 0; r < rg; ++r) {
      DequantizeRow(*both, g * rg + r, a.data());
      DequantizeRow(*alone, r, b.data());
      for (int64_t c = 0; c < cols; ++c) differ += a[c] != b[c];
    }
    EXPECT_EQ(differ, 0) << "group " << g;
  }
}

TEST(Gptq, RefusesWhatItCannotDo) {
  std::mt19937 rng(4);
  const std::vector<float> h = CorrelatedHessian(8, 50, rng);
  const std::vector<float> w = RandomWeights(6, 8, rng);
  ThreadPool pool(1);
  QuantConfig cfg;
  cfg.scheme = *ParseScheme("kmeans4");
  EXPECT_FALSE(
      QuantizeGptq(w.data(), {6, 8}, cfg, h.data(), 1, GptqOptions{}, pool)
          .ok());
  cfg.scheme = *ParseScheme("int4");
  EXPECT_FALSE(
      QuantizeGptq(w.data(), {6, 8}, cfg, h.data(), 4, GptqOptions{}, pool)
          .ok());
  std::vector<float> bad = h;
  bad[3] = NAN;
  EXPECT_FALSE(
      QuantizeGptq(w.data(), {6, 8}, cfg, bad.data(), 1, GptqOptions{}, pool)
          .ok());
  bad = h;
  bad[1] += 1.0f;  // not symmetric
  EXPECT_FALSE(
      QuantizeGptq(w.data(), {6, 8}, cfg, bad.data(), 1, GptqOptions{}, pool)
          .ok());
}

}  // namespace
}  // namespace lowbit
