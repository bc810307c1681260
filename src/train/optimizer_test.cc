// Optimisers against their formulas written out by hand, the schedules'
// shapes, the losses' gradients against finite differences.
#include "train/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "train/loss.h"

namespace lowbit {
namespace {

graph::Tensor Vec(std::vector<float> v) {
  graph::Tensor t = graph::Tensor::Zeros(DType::kF32, {int64_t(v.size())});
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

TEST(Optimizer, SgdWithMomentumAndWeightDecay) {
  OptimizerOptions o;
  o.momentum = 0.5;
  o.weight_decay = 0.1;
  auto opt = Optimizer::Create(o);
  ASSERT_TRUE(opt.ok());
  graph::Tensor w = Vec({1.0f, -2.0f}), g = Vec({0.5f, 1.0f});
  ASSERT_TRUE(opt->Step({&w}, {&g}, 0.1).ok());
  // v = g + 0.1 w = (0.6, 0.8); w = (0.94, -2.08).
  EXPECT_FLOAT_EQ(w.data<float>()[0], 0.94f);
  EXPECT_FLOAT_EQ(w.data<float>()[1], -2.08f);
  ASSERT_TRUE(opt->Step({&w}, {&g}, 0.1).ok());
  // v = 0.5 (0.6, 0.8) + (0.5 + 0.094, 1 - 0.208) = (0.894, 1.192).
  EXPECT_NEAR(w.data<float>()[0], 0.94f - 0.0894f, 1e-6);
  EXPECT_NEAR(w.data<float>()[1], -2.08f - 0.1192f, 1e-6);
}

TEST(Optimizer, AdamStepsAreBiasCorrected) {
  OptimizerOptions o;
  o.kind = "adam";
  auto opt = Optimizer::Create(o);
  ASSERT_TRUE(opt.ok());
  graph::Tensor w = Vec({1.0f, 1.0f}), g = Vec({0.3f, -4.0f});
  ASSERT_TRUE(opt->Step({&w}, {&g}, 0.01).ok());
  // First step: m_hat = g, v_hat = g^2: w -= lr g / (|g| + eps).
  EXPECT_NEAR(w.data<float>()[0], 1.0f - 0.01f, 1e-6);
  EXPECT_NEAR(w.data<float>()[1], 1.0f + 0.01f, 1e-6);
  graph::Tensor g2 = Vec({0.1f, 0.0f});
  ASSERT_TRUE(opt->Step({&w}, {&g2}, 0.01).ok());
  const double m = 0.9 * 0.1 * 0.3 + 0.1 * 0.1,
               v = 0.999 * 0.001 * 0.09 + 0.001 * 0.01;
  const double step =
      0.01 * (m / (1 - 0.81)) / (std::sqrt(v / (1 - 0.999 * 0.999)) + 1e-8);
  EXPECT_NEAR(w.data<float>()[0], 0.99 - step, 1e-6);
  EXPECT_FALSE(Optimizer::Create({"rmsprop"}).ok());
}

TEST(Optimizer, Schedules) {
  EXPECT_DOUBLE_EQ(*ScheduledRate("constant", 0.1, 50, 100), 0.1);
  EXPECT_DOUBLE_EQ(*ScheduledRate("cosine", 0.1, 0, 100), 0.1);
  EXPECT_NEAR(*ScheduledRate("cosine", 0.1, 50, 100), 0.05, 1e-12);
  EXPECT_NEAR(*ScheduledRate("cosine", 0.1, 100, 100), 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(*ScheduledRate("step", 0.1, 49, 100), 0.1);
  EXPECT_NEAR(*ScheduledRate("step", 0.1, 60, 100), 0.01, 1e-12);
  EXPECT_NEAR(*ScheduledRate("step", 0.1, 80, 100), 0.001, 1e-12);
  EXPECT_FALSE(ScheduledRate("linear", 0.1, 0, 10).ok());
}

// Both losses' gradients against central differences (in double: the loss
// is computed in double from f32 logits; e = 1e-3 on logits of order 1).
TEST(Loss, GradientsMatchFiniteDifferences) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.5f);
  graph::Tensor z = graph::Tensor::Zeros(DType::kF32, {3, 5});
  graph::Tensor t = graph::Tensor::Zeros(DType::kF32, {3, 5});
  for (int i = 0; i < 15; ++i) {
    z.data<float>()[i] = nd(rng);
    t.data<float>()[i] = nd(rng);
  }
  const int32_t labels[3] = {4, 0, 2};
  for (int which = 0; which < 2; ++which) {
    auto run = [&]() {
      return which == 0 ? SoftmaxCrossEntropy(z, labels) : DistillKl(z, t, 2.0);
    };
    auto r = run();
    ASSERT_TRUE(r.ok());
    for (int i = 0; i < 15; ++i) {
      float& v = z.data<float>()[i];
      const float keep = v;
      v = keep + 1e-3f;
      const double lp = run()->loss;
      v = keep - 1e-3f;
      const double lm = run()->loss;
      v = keep;
      EXPECT_NEAR((lp - lm) / 2e-3, r->grad.data<float>()[i], 2e-4)
          << which << " " << i;
    }
  }
  // A student equal to its teacher: no loss, no gradient.
  auto same = DistillKl(t, t, 1.0);
  ASSERT_TRUE(same.ok());
  EXPECT_NEAR(same->loss, 0.0, 1e-12);
  const int32_t bad[3] = {4, 5, 0};
  EXPECT_FALSE(SoftmaxCrossEntropy(z, bad).ok());
}

}  // namespace
}  // namespace lowbit
