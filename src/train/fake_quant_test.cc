// Fake quantization: the forward values are s * clamp(round(w / s)) with the
// f16 step; Export() decodes to exactly them; the STE passes the gradient
// inside the range only; LSQ's step gradient is the paper's formula.
#include "train/fake_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/half.h"
#include "quant/quantize.h"

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
    SCOPED_TRACE(name);
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
  // Binary: levels -s and s; the step between the codes is 2 s.
  {
    auto f = FakeQuantWeight::Create(w.data(), rows, cols,
                                     *ParseScheme("binary"), true, pool);
    ASSERT_TRUE(f.ok()) << f.status().message();
    std::vector<float> y(rows * cols);
    f->Forward(y.data());
    const QuantizedTensor q = f->Export({rows, cols});
    ASSERT_TRUE(q.Validate().ok());
    EXPECT_EQ(Dequantize(q), y);
    for (int64_t r = 0; r < rows; ++r) {
      const float s = 0.5f * RoundToF16(f->step().data<float>()[r]);
      for (int64_t c = 0; c < cols; ++c) {
        EXPECT_EQ(std::fabs(y[r * cols + c]), std::fabs(s));
      }
    }
  }
  EXPECT_FALSE(FakeQuantWeight::Create(w.data(), rows, cols,
                                       *ParseScheme("nf4"), false, pool)
                   .ok());
}

// Groups with asymmetric f16 zero points (from the quantizer's own result):
// the forward values are s (clamp(round(w / s + z), 0, L) - z) with f16 s and
// z, equal to the quantizer's decode before training and to Export()'s
// after; the zero points' gradient is -s g summed over the clipped weights.
TEST(FakeQuant, GroupsWithF16ZeroPoints) {
  std::mt19937 rng(2);
  std::normal_distribution<float> nd(0.1f, 0.5f);
  const int64_t rows = 4, cols = 40;  // groups of 16: 16, 16, 8
  std::vector<float> w(rows * cols);
  for (float& v : w) v = nd(rng);
  ThreadPool pool(1);
  for (const char* name : {"int2", "int3", "int4"}) {
    QuantConfig c;
    c.scheme = *ParseScheme(name);
    c.granularity = static_cast<int>(Granularity::kGroup);
    c.group_size = 16;
    c.symmetric = 0;
    c.zero_type = ZeroType::kF16;
    c.method = MethodSpec{Method::kMse};
    c.scale_type = ScaleType::kF16;
    auto q = Quantize(w.data(), {rows, cols}, c, pool);
    ASSERT_TRUE(q.ok()) << q.status().message();
    auto f = FakeQuantWeight::FromQuantized(w.data(), *q, true);
    ASSERT_TRUE(f.ok()) << f.status().message();
    ASSERT_EQ(f->groups(), 3);
    EXPECT_TRUE(f->trains_zero());
    std::vector<float> y(rows * cols);
    f->Forward(y.data());
    EXPECT_EQ(Dequantize(*q), y) << name;
    // Move the steps and zero points off the quantizer's values.
    for (int64_t i = 0; i < rows * 3; ++i) {
      f->step().data<float>()[i] *= 0.8f;
      f->zero().data<float>()[i] += 0.3f;
    }
    f->Forward(y.data());
    const QuantizedTensor e = f->Export({rows, cols});
    ASSERT_TRUE(e.Validate().ok());
    EXPECT_EQ(e.zero_type, ZeroType::kF16);
    EXPECT_EQ(Dequantize(e), y) << name;
    std::vector<float> g(rows * cols), gw(rows * cols), gs(rows * 3),
        gz(rows * 3);
    for (float& v : g) v = nd(rng);
    f->Backward(g.data(), gw.data(), gs.data(), gz.data());
    const float top = std::ldexp(1.0f, c.scheme.bits) - 1;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < 3; ++j) {
        const float s = RoundToF16(f->step().data<float>()[r * 3 + j]);
        const float z = RoundToF16(f->zero().data<float>()[r * 3 + j]);
        double dz = 0.0;
        const int64_t n = j < 2 ? 16 : 8;
        for (int64_t cc = j * 16; cc < j * 16 + n; ++cc) {
          const float v = w[r * cols + cc] / s + z;
          if (v <= 0.0f || v >= top) dz -= double{g[r * cols + cc]} * s;
          EXPECT_EQ(gw[r * cols + cc],
                    v > 0.0f && v < top ? g[r * cols + cc] : 0.0f);
        }
        EXPECT_NEAR(gz[r * 3 + j], dz / std::sqrt(double(n) * top),
                    1e-5 * (1 + std::fabs(dz)))
            << name;
      }
    }
  }
}

}  // namespace
}  // namespace lowbit
