// The classifier trainer's splits: HoldOutLast takes the last images (and
// their labels) out of the training set, KeepFirst keeps the first ones (a
// part of a test set); ClassifierValidation measures the error rate of a
// tape's graph on a held-out split.
#include "train/classifier.h"

#include <gtest/gtest.h>

namespace lowbit {
namespace {

ImageDataset Numbered(int64_t n) {
  ImageDataset d;
  d.n = n;
  d.height = 1;
  d.width = 2;
  for (int64_t i = 0; i < n; ++i) {
    d.images.push_back(static_cast<float>(i));
    d.images.push_back(static_cast<float>(-i));
    d.labels.push_back(static_cast<int32_t>(i % 10));
  }
  return d;
}

TEST(Classifier, HoldOutLastTakesTheLastImages) {
  ImageDataset d = Numbered(10);
  auto v = HoldOutLast(&d, 3);
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(d.n, 7);
  EXPECT_EQ(d.images.size(), 14u);
  EXPECT_EQ(d.labels.size(), 7u);
  EXPECT_EQ(d.images.back(), -6.0f);
  EXPECT_EQ(v->n, 3);
  EXPECT_EQ(v->height, 1);
  EXPECT_EQ(v->width, 2);
  EXPECT_EQ(v->images, (std::vector<float>{7, -7, 8, -8, 9, -9}));
  EXPECT_EQ(v->labels, (std::vector<int32_t>{7, 8, 9}));
  for (int64_t bad : {0, 7, 8}) {
    ImageDataset e = Numbered(7);
    auto r = HoldOutLast(&e, bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(e.n, 7) << "the dataset is untouched on error";
  }
}

TEST(Classifier, KeepFirstKeepsTheFirstImages) {
  ImageDataset d = Numbered(10);
  ASSERT_TRUE(KeepFirst(&d, 3).ok());
  EXPECT_EQ(d.n, 3);
  EXPECT_EQ(d.images, (std::vector<float>{0, 0, 1, -1, 2, -2}));
  EXPECT_EQ(d.labels, (std::vector<int32_t>{0, 1, 2}));
  ImageDataset all = Numbered(4);
  ASSERT_TRUE(KeepFirst(&all, 0).ok());
  EXPECT_EQ(all.n, 4);
  EXPECT_EQ(all.labels.size(), 4u);
  ASSERT_TRUE(KeepFirst(&all, 4).ok());
  EXPECT_EQ(all.n, 4);
  for (int64_t bad : {-1, 5}) {
    ImageDataset e = Numbered(4);
    const Status s = KeepFirst(&e, bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("expected 0 (all) to 4"), std::string::npos)
        << s.message();
    EXPECT_EQ(e.n, 4) << "the dataset is untouched on error";
    EXPECT_EQ(e.images.size(), 8u);
  }
}

}  // namespace
}  // namespace lowbit
