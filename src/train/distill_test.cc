#include "train/distill.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

// --distill-confidence: a row whose teacher's top probability is below p
// adds nothing. UnsureRows agrees with the softmax computed here; the masked
// loss is the sum of the sure rows' own losses (each row computed alone,
// over the same count of rows); the gradient is the unmasked one on sure
// rows and zero on unsure ones, and agrees with central differences; with
// hard decisions it is refused.
TEST(Distill, ConfidenceLeavesOutTheRowsTheTeacherIsUnsureOf) {
  std::mt19937 rng(11);
  const int64_t rows = 8, c = 6;
  const graph::Tensor out = Random({1, rows, c}, rng, 1.0f);
  graph::Tensor teacher = Random({1, rows, c}, rng, 0.3f);
  // Rows 0, 3, 5 and 6: one class far ahead (sure); the others nearly flat.
  for (int64_t r : {0, 3, 5, 6}) teacher.data<float>()[r * c + r % c] += 6.0f;
  const double p = 0.8;
  std::vector<bool> expect(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const float* t = teacher.data<float>() + r * c;
    double sum = 0.0, top = 0.0;
    for (int64_t k = 0; k < c; ++k) sum += std::exp(double{t[k]});
    for (int64_t k = 0; k < c; ++k)
      top = std::max(top, std::exp(double{t[k]}) / sum);
    expect[r] = top < p;
  }
  EXPECT_EQ(UnsureRows(teacher, p), expect);
  EXPECT_EQ(std::count(expect.begin(), expect.end(), true), 4);
  for (DistillLoss kind : {DistillLoss::kKl, DistillLoss::kMse}) {
    auto all = DistillLossOf(out, teacher, kind);
    auto masked = DistillLossOf(out, teacher, kind, 0.0, p);
    ASSERT_TRUE(all.ok() && masked.ok());
    double sure_sum = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      if (expect[r]) continue;
      graph::Tensor o1 = graph::Tensor::Zeros(DType::kF32, {1, c});
      graph::Tensor t1 = graph::Tensor::Zeros(DType::kF32, {1, c});
      std::copy_n(out.data<float>() + r * c, c, o1.data<float>());
      std::copy_n(teacher.data<float>() + r * c, c, t1.data<float>());
      auto one = DistillLossOf(o1, t1, kind);
      ASSERT_TRUE(one.ok());
      // KL: a mean over rows; MSE: a mean over values (c of them per row).
      sure_sum += one->loss / static_cast<double>(rows);
    }
    EXPECT_GT(sure_sum, 0.01);
    EXPECT_LT(masked->loss, all->loss - 0.01);
    EXPECT_NEAR(masked->loss, sure_sum, 1e-9);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t k = 0; k < c; ++k) {
        const int64_t i = r * c + k;
        EXPECT_EQ(masked->grad.data<float>()[i],
                  expect[r] ? 0.0f : all->grad.data<float>()[i])
            << r << " " << k;
      }
    }
    // The mask follows the teacher, not the student: the student's small
    // moves do not change it.
    ExpectGradient(
        out, masked->grad,
        [&](const graph::Tensor& z) {
          return DistillLossOf(z, teacher, kind, 0.0, p)->loss;
        },
        2e-4);
  }
  EXPECT_FALSE(DistillLossOf(out, teacher, DistillLoss::kKl, 0.5, p).ok());
}

// With an unsure_target (the start's output), an unsure row learns that
// tensor's row: the loss is the sure rows' losses to the teacher plus the
// unsure rows' losses to the target, each row computed alone; the gradient
// agrees with central differences; a target of another shape is refused.
TEST(Distill, UnsureRowsLearnTheGivenTarget) {
  std::mt19937 rng(5);
  const int64_t rows = 6, c = 5;
  const graph::Tensor out = Random({rows, c}, rng, 1.0f);
  const graph::Tensor start = Random({rows, c}, rng, 1.0f);
  graph::Tensor teacher = Random({rows, c}, rng, 0.3f);
  for (int64_t r : {1, 2, 4}) teacher.data<float>()[r * c + 1] += 6.0f;
  const double p = 0.8;
  const std::vector<bool> unsure = UnsureRows(teacher, p);
  ASSERT_EQ(std::count(unsure.begin(), unsure.end(), true), 3);
  for (DistillLoss kind : {DistillLoss::kKl, DistillLoss::kMse}) {
    auto r = DistillLossOf(out, teacher, kind, 0.0, p, &start);
    ASSERT_TRUE(r.ok());
    double expect = 0.0;
    for (int64_t i = 0; i < rows; ++i) {
      graph::Tensor o1 = graph::Tensor::Zeros(DType::kF32, {1, c});
      graph::Tensor t1 = graph::Tensor::Zeros(DType::kF32, {1, c});
      const graph::Tensor& target = unsure[i] ? start : teacher;
      std::copy_n(out.data<float>() + i * c, c, o1.data<float>());
      std::copy_n(target.data<float>() + i * c, c, t1.data<float>());
      auto one = DistillLossOf(o1, t1, kind);
      ASSERT_TRUE(one.ok());
      expect += one->loss / static_cast<double>(rows);
    }
    EXPECT_NEAR(r->loss, expect, 1e-9);
    EXPECT_GT(r->loss, DistillLossOf(out, teacher, kind, 0.0, p)->loss + 0.01);
    ExpectGradient(
        out, r->grad,
        [&](const graph::Tensor& z) {
          return DistillLossOf(z, teacher, kind, 0.0, p, &start)->loss;
        },
        2e-4);
  }
  const graph::Tensor other = Random({rows, c + 1}, rng, 1.0f);
  EXPECT_FALSE(
      DistillLossOf(out, teacher, DistillLoss::kKl, 0.0, p, &other).ok());
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
