#include "kernels/dequant.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "hwy/targets.h"
#include "quant/quantize.h"
#include "tests/support/kernel_test_util.h"
#include "tests/support/scoped_target.h"

namespace lowbit {
namespace {

// Every compiled target gives DequantizeRow's bits, for every kind and width
// of code (1 to 8 bits), every granularity, odd widths and unaligned tails.
TEST(Dequant, EveryTargetEqualsDequantizeRowBitForBit) {
  const std::vector<testing_kernels::LayoutCase> cases = {
      {"int8", Granularity::kChannel, 0, false},
      {"int8", Granularity::kTensor, 0, true},
      {"int8", Granularity::kGroup, 32, true},
      {"int4", Granularity::kGroup, 32, false},
      {"int4", Granularity::kGroup, 64, true},
      {"int4", Granularity::kChannel, 0, false},
      {"nf4", Granularity::kGroup, 64, false},
      {"fp4_e2m1", Granularity::kGroup, 32, false},
      {"mxfp4", Granularity::kGroup, 32, false},
      {"fp8_e4m3", Granularity::kChannel, 0, false},
      {"fp8_e5m2", Granularity::kTensor, 0, false},
      {"kmeans4", Granularity::kChannel, 0, false},
      {"kmeans8", Granularity::kTensor, 0, false},
      {"int3", Granularity::kGroup, 32, false},
      {"int2", Granularity::kGroup, 32, true},
      {"int5", Granularity::kGroup, 32, false},
      {"int6", Granularity::kChannel, 0, true},
      {"binary", Granularity::kChannel, 0, false},
      {"ternary", Granularity::kChannel, 0, false},
      {"kmeans2", Granularity::kChannel, 0, false},
      {"kmeans3", Granularity::kTensor, 0, false},
  };
  ThreadPool pool(2);
  int checked = 0;
  for (const testing_kernels::LayoutCase& c : cases) {
    for (int64_t cols :
         {int64_t{1}, int64_t{15}, int64_t{33}, int64_t{97}, int64_t{1031}}) {
      const int64_t rows = 3;
      std::mt19937 rng(static_cast<uint32_t>(cols * 7 + c.group));
      std::normal_distribution<float> g(0.0f, 1.0f);
      std::vector<float> w(static_cast<size_t>(rows * cols));
      for (float& v : w) v = g(rng);
      QuantConfig qc;
      qc.scheme = *ParseScheme(c.scheme);
      qc.granularity = static_cast<int>(c.gran);
      qc.group_size = c.group;
      qc.symmetric = c.asym ? 0 : 1;
      qc.method = MethodSpec{};
      auto q = Quantize(w.data(), Shape{rows, cols}, qc, pool);
      if (!q.ok()) continue;  // e.g. groups wider than the row
      ASSERT_TRUE(DequantizeRowsSimd(*q)) << c.scheme;
      const std::vector<float> ref = Dequantize(*q);
      for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
        const test_support::ScopedTarget scoped(target);
        const std::vector<float> got = DequantizeFast(*q, pool);
        ASSERT_EQ(got.size(), ref.size());
        ASSERT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * 4), 0)
            << c.scheme << " " << cols << " cols on "
            << hwy::TargetName(target);
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 80);
}

}  // namespace
}  // namespace lowbit
