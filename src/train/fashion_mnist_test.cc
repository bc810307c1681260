// Fashion-MNIST: the Debian package's files read as 60,000 + 10,000 images
// (skipped with a message where dataset-fashion-mnist is not installed), and
// folders that are missing or disagree refused by name.
#include "train/fashion_mnist.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace lowbit {
namespace {

namespace fs = std::filesystem;

TEST(FashionMnist, ReadsDebiansFiles) {
  if (!fs::exists(std::string(kFashionMnistDir) +
                  "/t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << kFashionMnistDir
                 << " missing: apt-get install dataset-fashion-mnist";
  }
  auto test = LoadFashionMnist(kFashionMnistDir, "test");
  ASSERT_TRUE(test.ok()) << test.status().message();
  EXPECT_EQ(test->n, 10000);
  EXPECT_EQ(test->images.size(), 10000u * 784);
  std::vector<int> count(10, 0);
  for (int32_t l : test->labels) ++count[l];
  for (int c : count) EXPECT_EQ(c, 1000);  // the test set is balanced
  float lo = 1, hi = 0;
  for (float v : test->images) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 1.0f);
  auto train = LoadFashionMnist(kFashionMnistDir, "train");
  ASSERT_TRUE(train.ok()) << train.status().message();
  EXPECT_EQ(train->n, 60000);
}

void WriteIdx(const fs::path& p, std::vector<uint32_t> dims, uint8_t fill) {
  std::ofstream f(p, std::ios::binary);
  std::vector<uint8_t> b = {0, 0, 8, static_cast<uint8_t>(dims.size())};
  uint64_t n = 1;
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) b.push_back((d >> s) & 0xff);
    n *= d;
  }
  b.resize(b.size() + n, fill);
  f.write(reinterpret_cast<const char*>(b.data()), b.size());
}

TEST(FashionMnist, RefusesBadFolders) {
  const fs::path dir = fs::temp_directory_path() / "lowbit_fmnist_test";
  fs::remove_all(dir);
  auto missing = LoadFashionMnist(dir.string(), "test");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("dataset-fashion-mnist"),
            std::string::npos);
  fs::create_directories(dir);
  auto nofile = LoadFashionMnist(dir.string(), "test");
  ASSERT_FALSE(nofile.ok());
  EXPECT_NE(nofile.status().message().find("t10k-images-idx3-ubyte"),
            std::string::npos);
  WriteIdx(dir / "t10k-images-idx3-ubyte", {3, 28, 28}, 255);
  WriteIdx(dir / "t10k-labels-idx1-ubyte", {2}, 1);
  auto count = LoadFashionMnist(dir.string(), "test");
  ASSERT_FALSE(count.ok());
  EXPECT_NE(count.status().message().find("expected 3 labels"),
            std::string::npos)
      << count.status().message();
  WriteIdx(dir / "t10k-labels-idx1-ubyte", {3}, 12);
  auto label = LoadFashionMnist(dir.string(), "test");
  ASSERT_FALSE(label.ok());
  EXPECT_NE(label.status().message().find("past 9"), std::string::npos);
  WriteIdx(dir / "t10k-labels-idx1-ubyte", {3}, 7);
  auto ok = LoadFashionMnist(dir.string(), "test");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->labels, (std::vector<int32_t>{7, 7, 7}));
  EXPECT_EQ(ok->images[5], 1.0f);
  EXPECT_FALSE(LoadFashionMnist(dir.string(), "val").ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lowbit
