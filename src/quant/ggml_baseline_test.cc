#include "quant/ggml_baseline.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "tests/support/golden_test_util.h"

namespace lowbit {
namespace {

// The baseline is only a fair stand-in for ggml if it makes ggml's choices:
// on every row of the golden src (N(0,1), t4, zeros, constants, tiny and huge
// scales, +-1, uniform, Laplace) its values must equal ggml's dequantized
// blocks bit for bit.
TEST(GgmlBaseline, ReproducesGgmlOnTheGoldenRows) {
  if (testing_golden::GoldenBytes().empty()) {
    GTEST_SKIP() << "no " << testing_golden::GoldenPath()
                 << " (../shared is absent)";
  }
  auto f = GgufFile::Open(testing_golden::GoldenPath());
  ASSERT_TRUE(f.ok()) << f.status().message();
  const GgufTensorInfo* src = (*f)->FindTensor("src");
  ASSERT_NE(src, nullptr);
  const int64_t n = 16 * 512;
  std::vector<float> x(n);
  std::memcpy(x.data(), src->data, n * 4);
  for (GgmlType t : {GgmlType::kQ4_K, GgmlType::kQ5_K}) {
    ASSERT_TRUE(HasGgmlBaseline(t));
    const std::string name(GetGgmlTypeInfo(t).ggml_name);
    const GgufTensorInfo* deq = (*f)->FindTensor("deq." + name);
    ASSERT_NE(deq, nullptr) << name;
    std::vector<float> g(n), y(n);
    std::memcpy(g.data(), deq->data, n * 4);
    GgmlBaselineRow(t, x.data(), y.data(), n);
    int bad = 0;
    for (int64_t i = 0; i < n; ++i) {
      uint32_t a, b;
      std::memcpy(&a, &y[i], 4);
      std::memcpy(&b, &g[i], 4);
      if (a != b && ++bad <= 3)
        ADD_FAILURE() << name << " value " << i << ": " << y[i] << " vs ggml "
                      << g[i];
    }
    EXPECT_EQ(bad, 0) << name;
  }
}

}  // namespace
}  // namespace lowbit
