// GPTQ on ggml's block types: on correlated inputs its layer-output error is
// below the nearest codes' on the same scales for every type with a grid
// (q4_K and q3_K among them), the bytes decode with ggml's layout, and the
// nearest codes equal what QuantizeGgmlRow writes with the same importance.
#include "quant/gptq_ggml.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "formats/ggml/blocks.h"
#include "formats/ggml/decode.h"
#include "quant/ggml_quantize.h"
#include "tests/support/gptq_test_util.h"

namespace lowbit {
namespace {

using testing_util::CorrelatedHessian;
using testing_util::RandomWeights;

ThreadPool& Pool() {
  static ThreadPool pool(2);
  return pool;
}

const GgmlType kTypes[] = {
    GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ5_0, GgmlType::kIQ4_NL,
    GgmlType::kQ4_1, GgmlType::kQ5_1, GgmlType::kQ2_K, GgmlType::kQ3_K,
    GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kIQ4_XS};

TEST(GgmlGptq, BelowRoundToNearestOnCorrelatedInputsForEveryType) {
  std::mt19937 rng(7);
  const int64_t rows = 24, cols = 512;
  const std::vector<float> h = CorrelatedHessian(cols, 2048, rng);
  const std::vector<float> w = RandomWeights(rows, cols, rng);
  for (GgmlType t : kTypes) {
    const GgmlTypeInfo& info = GetGgmlTypeInfo(t);
    for (bool act_order : {true, false}) {
      GptqOptions opt;
      opt.act_order = act_order;
      auto r = QuantizeGgmlGptq(t, w.data(), rows, cols, h.data(), opt, Pool());
      ASSERT_TRUE(r.ok()) << info.ggml_name << ": " << r.status().message();
      const std::string what =
          std::string(info.ggml_name) + (act_order ? " act-order" : "");
      EXPECT_GT(r->rtn_error, 0.0) << what;
      const double most = 0.5;
      EXPECT_LT(r->gptq_error, most * r->rtn_error) << what;
      std::printf("%-18s GPTQ / round to nearest: %.3f\n", what.c_str(),
                  r->gptq_error / r->rtn_error);
      ASSERT_EQ(static_cast<int64_t>(r->bytes.size()),
                rows * info.RowBytes(cols));
      // The nearest codes on the fitted scales are QuantizeGgmlRow's blocks
      // with the same importance (diag H): recomputed here, their error is
      // rtn_error.
      std::vector<float> imp(cols);
      for (int64_t i = 0; i < cols; ++i) imp[i] = h[i * cols + i];
      std::vector<uint8_t> rtn(r->bytes.size());
      QuantizeGgmlRows(t, w.data(), rtn.data(), rows, cols, imp.data());
      std::vector<float> d(static_cast<size_t>(rows * cols));
      DequantizeGgmlRow(t, rtn.data(), d.data(), rows * cols);
      for (int64_t i = 0; i < rows * cols; ++i) d[i] = w[i] - d[i];
      double e = 0.0;
      for (int64_t rr = 0; rr < rows; ++rr) {
        for (int64_t i = 0; i < cols; ++i) {
          double acc = 0.0;
          for (int64_t j = 0; j < cols; ++j) {
            acc += static_cast<double>(h[i * cols + j]) * d[rr * cols + j];
          }
          e += d[rr * cols + i] * acc;
        }
      }
      EXPECT_NEAR(e, r->rtn_error, 1e-3 * r->rtn_error) << what;
    }
  }
}

TEST(GgmlGptq, RefusesTypesWithoutAGridAndBadShapes) {
  std::mt19937 rng(3);
  const std::vector<float> h = CorrelatedHessian(256, 600, rng);
  const std::vector<float> w = RandomWeights(4, 256, rng);
  for (GgmlType t : {GgmlType::kF16, GgmlType::kTQ1_0, GgmlType::kTQ2_0}) {
    EXPECT_FALSE(
        QuantizeGgmlGptq(t, w.data(), 4, 256, h.data(), {}, Pool()).ok());
  }
  // 96 values: not whole q4_K super-blocks of 256.
  EXPECT_FALSE(
      QuantizeGgmlGptq(GgmlType::kQ4_K, w.data(), 4, 96, h.data(), {}, Pool())
          .ok());
  std::vector<float> bad = h;
  bad[1] += 1.0f;  // not symmetric
  EXPECT_FALSE(QuantizeGgmlGptq(GgmlType::kQ4_K, w.data(), 4, 256, bad.data(),
                                {}, Pool())
                   .ok());
}

}  // namespace
}  // namespace lowbit
