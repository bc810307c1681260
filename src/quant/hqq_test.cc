#include "quant/hqq.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "formats/scheme.h"
#include "kernels/encode.h"
#include "quant/quantize.h"

namespace lowbit {
namespace {

// sum |x - q|^0.7, HQQ's objective.
double LpError(const std::vector<float>& x, const GroupFit& f, int bits) {
  std::vector<uint8_t> c(x.size());
  const Scheme sc{SchemeKind::kInt, bits};
  EncodeValues(sc, CodeParams{f.scale, f.zero, 0}, x.data(),
               static_cast<int64_t>(x.size()), c.data());
  double acc = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    acc += std::pow(
        std::fabs(x[i] - f.scale * (static_cast<float>(c[i]) - f.zero)) +
            1e-12f,
        0.7f);
  }
  return acc;
}

// On heavy-tailed groups (weights with outliers), HQQ lowers its l_p
// objective against the min-max grid it starts from, for every width and
// both symmetries, summed over many groups.
TEST(Hqq, LowersTheLpErrorOfHeavyTailedGroups) {
  std::mt19937 rng(7);
  std::student_t_distribution<float> t(3.0f);
  for (int bits : {2, 3, 4, 8}) {
    for (bool symmetric : {true, false}) {
      double hqq = 0, minmax = 0;
      for (int g = 0; g < 200; ++g) {
        std::vector<float> x(64);
        for (float& v : x) v = 0.01f * t(rng) + (symmetric ? 0.0f : 0.004f);
        const GroupFit h =
            FitHqq(x.data(), 64, bits, symmetric, ScaleType::kF32);
        const GroupFit m =
            FitGroup(x.data(), nullptr, 64, Scheme{SchemeKind::kInt, bits},
                     symmetric, MethodSpec{Method::kMinMax}, ScaleType::kF32);
        hqq += LpError(x, h, bits);
        minmax += LpError(x, m, bits);
        ASSERT_GT(h.scale, 0.0f);
        ASSERT_GE(h.zero, 0);
        ASSERT_LE(h.zero, (1 << bits) - 1);
      }
      EXPECT_LT(hqq, minmax) << bits << " bits, symmetric " << symmetric;
    }
  }
}

TEST(Hqq, IsAMethodOfIntegerSchemesOnly) {
  std::vector<float> w(8 * 64);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0, 1);
  for (float& v : w) v = nd(rng);
  ThreadPool pool(1);
  QuantConfig c;
  c.scheme = *ParseScheme("int3");
  c.granularity = static_cast<int>(Granularity::kGroup);
  c.group_size = 32;
  c.symmetric = 0;
  c.method = *ParseMethod("hqq");
  auto q = Quantize(w.data(), {8, 64}, c, pool);
  ASSERT_TRUE(q.ok()) << q.status().message();
  EXPECT_EQ(q->method, "hqq");
  EXPECT_EQ(q->scales.size(), 16u);
  c.scheme = *ParseScheme("nf4");
  c.symmetric = -1;
  auto bad = Quantize(w.data(), {8, 64}, c, pool);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("hqq"), std::string::npos);
}

}  // namespace
}  // namespace lowbit
