#include "quant/awq.h"

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

struct Data {
  std::vector<float> h, abs_mean;
};

// Inputs of `ch` channels x `taps` taps per group whose channel magnitudes
// spread over two orders (a few salient channels), correlated within a
// channel's taps; statistics as lowbit stats writes them.
Data Stats(int64_t groups, int64_t ch, int64_t taps, int64_t n,
           std::mt19937& rng) {
  const int64_t cols = ch * taps;
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Data d;
  d.h.assign(static_cast<size_t>(groups * cols * cols), 0.0f);
  d.abs_mean.assign(static_cast<size_t>(groups * cols), 0.0f);
  std::vector<float> x(static_cast<size_t>(n * cols));
  for (int64_t g = 0; g < groups; ++g) {
    std::vector<float> mag(static_cast<size_t>(ch));
    for (float& m : mag) m = std::exp(1.2f * nd(rng));
    for (int64_t s = 0; s < n; ++s) {
      for (int64_t c = 0; c < ch; ++c) {
        const float base = nd(rng);
        for (int64_t t = 0; t < taps; ++t) {
          x[s * cols + c * taps + t] = mag[c] * (base + 0.5f * nd(rng));
        }
      }
    }
    float* h = d.h.data() + g * cols * cols;
    AccumulateGram(x.data(), n, cols, h);
    SymmetrizeFromUpper(h, cols);
    for (int64_t i = 0; i < cols * cols; ++i) h[i] /= static_cast<float>(n);
    for (int64_t s = 0; s < n; ++s) {
      for (int64_t c = 0; c < cols; ++c) {
        d.abs_mean[g * cols + c] += std::fabs(x[s * cols + c]) / n;
      }
    }
  }
  return d;
}

QuantConfig Config(const char* scheme, int64_t group) {
  QuantConfig c;
  c.scheme = *ParseScheme(scheme);
  c.granularity =
      static_cast<int>(group > 0 ? Granularity::kGroup : Granularity::kChannel);
  c.group_size = group;
  c.scale_type = ScaleType::kF32;
  return c;
}

// With every scale fixed at 1, AWQ is round-to-nearest with the same
// weighted search: the same codes and scales.
TEST(Awq, ScalesOfOneAreRoundToNearest) {
  std::mt19937 rng(1);
  const int64_t rows = 12, ch = 8, taps = 4, cols = ch * taps;
  const Data d = Stats(1, ch, taps, 300, rng);
  std::normal_distribution<float> nd(0.0f, 0.1f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& v : w) v = nd(rng);
  ThreadPool pool(1);
  const QuantConfig cfg = Config("int4", 16);
  AwqOptions opt;
  opt.fixed_alpha = 0.0;
  auto a = QuantizeAwq(w.data(), {rows, cols}, cfg, d.h.data(),
                       d.abs_mean.data(), 1, taps, opt, pool);
  ASSERT_TRUE(a.ok()) << a.status().message();
  std::vector<float> imp(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) imp[c] = d.h[c * cols + c];
  auto r = Quantize(w.data(), {rows, cols}, cfg, pool, imp);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(a->q.codes, r->codes);
  EXPECT_EQ(a->q.scales, r->scales);
  for (float s : a->channel_scale) EXPECT_EQ(s, 1.0f);
  EXPECT_EQ(a->layer_error, LayerOutputError(w.data(), *r, d.h.data(), 1));
}

// Salient input channels: the searched scales lower the layer-output error
// below round-to-nearest's, with row groups too.
TEST(Awq, SearchedScalesLowerTheLayerError) {
  std::mt19937 rng(2);
  for (int64_t groups : {1, 2}) {
    for (const char* scheme : {"int3", "int4"}) {
      const int64_t rows = 16 * groups, ch = 16, taps = 2, cols = ch * taps;
      const Data d = Stats(groups, ch, taps, 400, rng);
      std::normal_distribution<float> nd(0.0f, 0.1f);
      std::vector<float> w(static_cast<size_t>(rows * cols));
      for (float& v : w) v = nd(rng);
      ThreadPool pool(2);
      auto a =
          QuantizeAwq(w.data(), {rows, cols}, Config(scheme, 0), d.h.data(),
                      d.abs_mean.data(), groups, taps, AwqOptions{}, pool);
      ASSERT_TRUE(a.ok()) << a.status().message();
      EXPECT_LT(a->layer_error, a->rtn_error) << scheme << " g" << groups;
      EXPECT_GT(a->alpha, 0.0);
      EXPECT_EQ(a->channel_scale.size(), static_cast<size_t>(groups * ch));
    }
  }
}

TEST(Awq, RefusesShapesThatDoNotSplit) {
  std::vector<float> w(6 * 10, 0.1f), h(100, 0.0f), m(10, 1.0f);
  for (int i = 0; i < 10; ++i) h[i * 10 + i] = 1.0f;
  ThreadPool pool(1);
  EXPECT_FALSE(QuantizeAwq(w.data(), {6, 10}, Config("int4", 0), h.data(),
                           m.data(), 1, 3, AwqOptions{}, pool)
                   .ok());
  EXPECT_FALSE(QuantizeAwq(w.data(), {6, 10}, Config("int4", 0), h.data(),
                           m.data(), 4, 1, AwqOptions{}, pool)
                   .ok());
}

}  // namespace
}  // namespace lowbit
