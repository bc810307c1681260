// Fake quantization: the forward values are s * clamp(round(w / s)) with the
// f16 step; Export() decodes to exactly them; the STE passes the gradient
// inside the range only; LSQ's step gradient is the paper's formula.
#include "train/fake_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/half.h"

namespace lowbit {
namespace {

TEST(FakeQuant, ForwardExportAndGradients) {
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.5f);
  const int64_t rows = 6, cols = 20;
  std::vector<float> w(rows * cols);
  for (float& v : w) v = nd(rng);
  ThreadPool pool(1);
  for (const char* name : {"int4", "int3", "int2", "ternary", "int8"}) {
    const Scheme sc = *ParseScheme(name);
    auto f = FakeQuantWeight::Create(w.data(), rows, cols, sc, true, pool);
    ASSERT_TRUE(f.ok()) << f.status().message();
    const bool ternary = sc.kind == SchemeKind::kTernary;
    const float qn = ternary ? -1.0f : -std::ldexp(1.0f, sc.bits - 1);
    const float qp = ternary ? 1.0f : std::ldexp(1.0f, sc.bits - 1) - 1;
    std::vector<float> y(rows * cols);
    f->Forward(y.data());
    const QuantizedTensor q = f->Export({rows, cols});
    ASSERT_TRUE(q.Validate().ok()) << name;
    EXPECT_EQ(Dequantize(q), y) << name;
    std::vector<float> g(rows * cols), gw(rows * cols), gs(rows);
    for (float& v : g) v = nd(rng);
    f->Backward(g.data(), gw.data(), gs.data());
    for (int64_t r = 0; r < rows; ++r) {
      const float s = RoundToF16(f->step().data<float>()[r]);
      ASSERT_NE(s, 0.0f);
      double ds = 0.0;
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t i = r * cols + c;
        const float v = w[i] / s;
        const float lv = std::clamp(std::nearbyint(v), qn, qp);
        EXPECT_EQ(y[i], s * lv) << name;
        const bool inside = v > qn && v < qp;
        EXPECT_EQ(gw[i], inside ? g[i] : 0.0f) << name;
        ds += g[i] * (inside ? std::nearbyint(v) - v : (v <= qn ? qn : qp));
      }
      EXPECT_NEAR(gs[r], ds / std::sqrt(double(cols) * qp),
                  1e-5 * (1 + std::fabs(ds)))
          << name;
    }
  }
  EXPECT_FALSE(FakeQuantWeight::Create(w.data(), rows, cols,
                                       *ParseScheme("nf4"), false, pool)
                   .ok());
}

}  // namespace
}  // namespace lowbit
