// Input-channel equalization (quant/equalize.h): alpha = 0 is the plain fit
// bit for bit; the chosen alpha is never worse under the layer's own error;
// on a layer whose small-weight channels carry large inputs (what the
// method assumes) the output error drops; channel scales follow the row
// groups; refusals.
#include "quant/equalize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "formats/scheme.h"
#include "kernels/linalg.h"
#include "quant/gptq.h"
#include "quant/quantize.h"

namespace lowbit {
namespace {

QuantConfig Config(const char* scheme, int64_t group, ZeroType zt) {
  QuantConfig c;
  c.scheme = *ParseScheme(scheme);
  c.granularity =
      static_cast<int>(group > 0 ? Granularity::kGroup : Granularity::kChannel);
  c.group_size = group;
  c.symmetric = 0;
  c.zero_type = zt;
  return c;
}

// A layer of `groups` row groups, `ch` input channels of `taps` taps: channel
// c's weights have magnitude 1 / m_c and its inputs m_c (m spread over two
// orders), so every channel contributes alike to the output. h: E[x x^T] per
// group.
struct Layer {
  std::vector<float> w, h;
};

Layer Balanced(int64_t groups, int64_t rows, int64_t ch, int64_t taps,
               std::mt19937& rng) {
  const int64_t cols = ch * taps, n = 400;
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Layer l;
  l.w.resize(static_cast<size_t>(groups * rows * cols));
  l.h.assign(static_cast<size_t>(groups * cols * cols), 0.0f);
  std::vector<float> x(static_cast<size_t>(n * cols));
  for (int64_t g = 0; g < groups; ++g) {
    std::vector<float> m(static_cast<size_t>(ch));
    for (float& v : m) v = std::exp(1.2f * nd(rng));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        l.w[(g * rows + r) * cols + c] = 0.1f * nd(rng) / m[c / taps];
      }
    }
    for (int64_t s = 0; s < n; ++s) {
      for (int64_t c = 0; c < cols; ++c) {
        x[s * cols + c] = m[c / taps] * (1.0f + nd(rng));  // a mean, too
      }
    }
    float* h = l.h.data() + g * cols * cols;
    AccumulateGram(x.data(), n, cols, h);
    SymmetrizeFromUpper(h, cols);
    for (int64_t i = 0; i < cols * cols; ++i) h[i] /= static_cast<float>(n);
  }
  return l;
}

TEST(Equalize, AlphaZeroIsThePlainFit) {
  std::mt19937 rng(3);
  const Layer l = Balanced(1, 12, 8, 4, rng);
  ThreadPool pool(2);
  EqualizeOptions opt;
  opt.alphas = {0.0};
  for (ZeroType zt : {ZeroType::kCode, ZeroType::kF16}) {
    const QuantConfig cfg = Config("int4", 16, zt);
    auto e = QuantizeEqualized(l.w.data(), {12, 32}, cfg, nullptr, {}, 1, 4,
                               opt, pool);
    ASSERT_TRUE(e.ok()) << e.status().message();
    auto q = Quantize(l.w.data(), {12, 32}, cfg, pool);
    ASSERT_TRUE(q.ok());
    EXPECT_EQ(e->q.codes, q->codes);
    EXPECT_EQ(e->q.scales, q->scales);
    EXPECT_EQ(e->q.zeros, q->zeros);
    EXPECT_EQ(e->alpha, 0.0);
    for (float s : e->channel_scale) EXPECT_EQ(s, 1.0f);
  }
}

// Data-free (weight error, weighted by an importance or not) and with
// statistics (tr(D H D^T)): the kept alpha's error is the lowest of the grid,
// at most alpha = 0's; decode / s is the weight the layer applies.
TEST(Equalize, NeverWorseThanThePlainFitUnderItsError) {
  std::mt19937 rng(4);
  ThreadPool pool(2);
  for (int64_t groups : {1, 3}) {
    const int64_t rows = 8, ch = 12, taps = 3, cols = ch * taps;
    const Layer l = Balanced(groups, rows, ch, taps, rng);
    std::vector<float> imp(static_cast<size_t>(cols));
    for (int64_t c = 0; c < cols; ++c) imp[c] = 0.5f + (c % 5);
    for (const char* scheme : {"int2", "int3", "int4"}) {
      for (int mode = 0; mode < 3; ++mode) {  // plain, importance, H
        const QuantConfig cfg = Config(scheme, 16, ZeroType::kF16);
        const float* h = mode == 2 ? l.h.data() : nullptr;
        std::span<const float> im;
        if (mode == 1) im = imp;
        auto e = QuantizeEqualized(l.w.data(), {groups * rows, cols}, cfg, h,
                                   im, groups, taps, EqualizeOptions{}, pool);
        ASSERT_TRUE(e.ok()) << e.status().message();
        EXPECT_LE(e->layer_error, e->rtn_error) << scheme << " mode " << mode;
        ASSERT_EQ(e->channel_scale.size(), static_cast<size_t>(groups * ch));
        // The error as reported, recomputed from decode / s.
        std::vector<float> y = Dequantize(e->q);
        double err = 0.0;
        for (int64_t r = 0; r < groups * rows; ++r) {
          for (int64_t c = 0; c < cols; ++c) {
            const float s = e->channel_scale[(r / rows) * ch + c / taps];
            const double d = l.w[r * cols + c] - y[r * cols + c] / s;
            err += d * d * (mode == 1 ? imp[c] : 1.0);
          }
        }
        if (mode < 2) {
          EXPECT_NEAR(err, e->layer_error, 1e-9 + 1e-5 * err) << scheme;
        }
      }
    }
  }
}

// What the method assumes (small weights meet large inputs): with statistics
// the output error drops well below the plain fit's; data-free, alpha > 0 is
// chosen on such weights.
TEST(Equalize, BalancedLayersGainFromIt) {
  std::mt19937 rng(5);
  ThreadPool pool(2);
  const int64_t rows = 32, ch = 32, cols = ch;
  const Layer l = Balanced(1, rows, ch, 1, rng);
  const QuantConfig cfg = Config("int4", 32, ZeroType::kF16);
  auto e = QuantizeEqualized(l.w.data(), {rows, cols}, cfg, l.h.data(), {}, 1,
                             1, EqualizeOptions{}, pool);
  ASSERT_TRUE(e.ok());
  EXPECT_LT(e->layer_error, 0.7 * e->rtn_error);
  EXPECT_GT(e->alpha, 0.0);
  auto f = QuantizeEqualized(l.w.data(), {rows, cols}, cfg, nullptr, {}, 1, 1,
                             EqualizeOptions{}, pool);
  ASSERT_TRUE(f.ok());
  EXPECT_GT(f->alpha, 0.0);
  // Its output error, on the statistics it did not see, below the plain fit's.
  const double eq =
      ScaledError(l.w.data(), f->q, l.h.data(), 1, f->channel_scale);
  auto plain = Quantize(l.w.data(), {rows, cols}, cfg, pool);
  ASSERT_TRUE(plain.ok());
  EXPECT_LT(eq, LayerOutputError(l.w.data(), *plain, l.h.data(), 1));
}

TEST(Equalize, RefusesShapesThatDoNotSplit) {
  std::vector<float> w(6 * 10, 0.1f);
  ThreadPool pool(1);
  const QuantConfig cfg = Config("int4", 0, ZeroType::kCode);
  EXPECT_FALSE(QuantizeEqualized(w.data(), {6, 10}, cfg, nullptr, {}, 1, 3,
                                 EqualizeOptions{}, pool)
                   .ok());
  EXPECT_FALSE(QuantizeEqualized(w.data(), {6, 10}, cfg, nullptr, {}, 4, 1,
                                 EqualizeOptions{}, pool)
                   .ok());
  std::vector<float> imp(3, 1.0f);
  EXPECT_FALSE(QuantizeEqualized(w.data(), {6, 10}, cfg, nullptr, imp, 1, 1,
                                 EqualizeOptions{}, pool)
                   .ok());
}

}  // namespace
}  // namespace lowbit
