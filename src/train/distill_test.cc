#include "train/distill.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>

#include "train/line_augment.h"

namespace lowbit {
namespace {

graph::Tensor Random(Shape shape, std::mt19937& rng, float scale) {
  graph::Tensor t = graph::Tensor::Zeros(DType::kF32, shape);
  std::normal_distribution<float> nd(0.0f, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = nd(rng);
  return t;
}

// The gradient `grad` of loss(out) against central differences of 1e-3.
void ExpectGradient(const graph::Tensor& out, const graph::Tensor& grad,
                    const std::function<double(const graph::Tensor&)>& loss,
                    double tol) {
  ASSERT_EQ(grad.shape(), out.shape());
  graph::Tensor z = graph::Tensor::Zeros(DType::kF32, out.shape());
  std::copy_n(out.data<float>(), out.numel(), z.data<float>());
  for (int64_t i = 0; i < z.numel(); ++i) {
    float& v = z.data<float>()[i];
    const float keep = v;
    v = keep + 1e-3f;
    const double lp = loss(z);
    v = keep - 1e-3f;
    const double lm = loss(z);
    v = keep;
    EXPECT_NEAR((lp - lm) / 2e-3, grad.data<float>()[i], tol) << i;
  }
}

// KL plus w times the cross-entropy to the teacher's arg max per row: the
// loss is the sum of the two computed apart, and the gradient agrees with
// central differences.
TEST(Distill, HardWeightAddsCrossEntropyToTheTeachersDecisions) {
  std::mt19937 rng(7);
  const graph::Tensor out = Random({2, 3, 5}, rng, 1.5f);
  const graph::Tensor teacher = Random({2, 3, 5}, rng, 2.0f);
  const double w = 0.7;
  auto kl = DistillLossOf(out, teacher, DistillLoss::kKl);
  auto both = DistillLossOf(out, teacher, DistillLoss::kKl, w);
  ASSERT_TRUE(kl.ok() && both.ok());
  std::vector<int32_t> decision(6);
  for (int r = 0; r < 6; ++r) {
    const float* t = teacher.data<float>() + r * 5;
    decision[r] = static_cast<int32_t>(std::max_element(t, t + 5) - t);
  }
  auto ce = SoftmaxCrossEntropy(out.Reshaped({6, 5}), decision.data());
  ASSERT_TRUE(ce.ok());
  EXPECT_GT(ce->loss, 0.1);
  EXPECT_NEAR(both->loss, kl->loss + w * ce->loss, 1e-9);
  ExpectGradient(
      out, both->grad,
      [&](const graph::Tensor& z) {
        return DistillLossOf(z, teacher, DistillLoss::kKl, w)->loss;
      },
      2e-4);
  // The MSE ignores the weight (a model without logits is refused it
  // upstream, pipeline/qat_model.h).
  auto mse = DistillLossOf(out, teacher, DistillLoss::kMse);
  auto mse_w = DistillLossOf(out, teacher, DistillLoss::kMse, w);
  ASSERT_TRUE(mse.ok() && mse_w.ok());
  EXPECT_EQ(mse->loss, mse_w->loss);
}

// A feature's loss: sum (s - t)^2 / sum t^2, computed apart; the gradient
// agrees with central differences; zero at the teacher; the same for a
// teacher scaled by 100 with the student scaled alike (scale-free); shapes
// that differ are refused.
TEST(Distill, FeatureLossIsTheRelativeSquaredError) {
  std::mt19937 rng(3);
  const graph::Tensor out = Random({1, 4, 1, 6}, rng, 1.0f);
  const graph::Tensor teacher = Random({1, 4, 1, 6}, rng, 0.8f);
  auto l = FeatureLossOf(out, teacher);
  ASSERT_TRUE(l.ok());
  double err = 0.0, energy = 0.0;
  for (int64_t i = 0; i < out.numel(); ++i) {
    const double d = double{out.data<float>()[i]} - teacher.data<float>()[i];
    err += d * d;
    energy += double{teacher.data<float>()[i]} * teacher.data<float>()[i];
  }
  EXPECT_GT(l->loss, 0.5);
  EXPECT_NEAR(l->loss, err / energy, 1e-9);
  ExpectGradient(
      out, l->grad,
      [&](const graph::Tensor& z) { return FeatureLossOf(z, teacher)->loss; },
      1e-4);
  EXPECT_EQ(FeatureLossOf(teacher, teacher)->loss, 0.0);
  graph::Tensor big_out = graph::Tensor::Zeros(DType::kF32, out.shape());
  graph::Tensor big_t = graph::Tensor::Zeros(DType::kF32, out.shape());
  for (int64_t i = 0; i < out.numel(); ++i) {
    big_out.data<float>()[i] = 100.0f * out.data<float>()[i];
    big_t.data<float>()[i] = 100.0f * teacher.data<float>()[i];
  }
  EXPECT_NEAR(FeatureLossOf(big_out, big_t)->loss, l->loss, 1e-6);
  EXPECT_FALSE(FeatureLossOf(out, Random({1, 4, 6}, rng, 1.0f)).ok());
}

// A dark stroke on a light line, 40 x 160, gray or RGB.
Image Line(int channels) {
  Image img;
  img.width = 160;
  img.height = 40;
  img.channels = channels;
  img.data.assign(160 * 40 * channels, 230);
  for (int y = 12; y < 28; ++y) {
    for (int x = 30; x < 130; ++x) {
      if ((x / 6) % 2 == 0) {
        for (int k = 0; k < channels; ++k)
          img.data[(y * 160 + x) * channels + k] = 20;
      }
    }
  }
  return img;
}

// The same seed, the same image; other seeds, other images, within the
// stated bounds of size; the strokes stay darker than the background.
TEST(LineAugment, SeededAndBounded) {
  for (int channels : {1, 3}) {
    const Image img = Line(channels);
    const Image a = AugmentTextLine(img, 11), b = AugmentTextLine(img, 11);
    EXPECT_EQ(a.width, b.width);
    EXPECT_EQ(a.height, b.height);
    EXPECT_EQ(a.data, b.data);
    int differ = 0;
    for (uint64_t seed = 1; seed <= 30; ++seed) {
      const Image c = AugmentTextLine(img, seed);
      ASSERT_EQ(c.channels, channels);
      ASSERT_EQ(c.data.size(),
                static_cast<size_t>(c.width * c.height * channels));
      // Height: +- 2 * 40/12 rows; width: 160 stretched by at most 1.25 either
      // way (one pixel of rounding), then 2 * 40/16 columns fewer or
      // 2 * 40/4 more.
      EXPECT_GE(c.height, 40 - 6);
      EXPECT_LE(c.height, 40 + 6);
      EXPECT_GE(c.width, 128 - 1 - 4);
      EXPECT_LE(c.width, 200 + 1 + 20);
      differ += c.width != a.width || c.height != a.height || c.data != a.data;
      // The darkest twentieth of the pixels is well below the brightest tenth.
      std::vector<uint8_t> v = c.data;
      std::sort(v.begin(), v.end());
      EXPECT_LT(v[v.size() / 20] + 60, v[v.size() * 9 / 10]) << seed;
    }
    EXPECT_GE(differ, 29);
  }
}

}  // namespace
}  // namespace lowbit
