// The example of docs/kernels.md, at a small size: it must compile and its
// products must agree with each other.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/matmul.h"
#include "kernels/matvec.h"
#include "kernels/packed.h"
#include "quant/quantize.h"

namespace lowbit {
namespace {

Status Layer(const std::vector<float>& w_f32, int64_t rows, int64_t cols,
             ThreadPool& pool, std::vector<float>* y, std::vector<float>* ys,
             std::vector<float>* ys8) {
  QuantConfig c;
  c.scheme = *ParseScheme("int4");
  c.granularity = static_cast<int>(Granularity::kGroup);
  c.group_size = 32;
  LB_ASSIGN_OR_RETURN(QuantizedTensor w,
                      Quantize(w_f32.data(), Shape{rows, cols}, c, pool));
  LB_ASSIGN_OR_RETURN(PackedMatrix packed, Pack(w));
  Workspace ws;  // scratch of the products, reused by every call
  std::vector<float> x(static_cast<size_t>(cols), 0.5f);
  y->resize(static_cast<size_t>(rows));
  LB_RETURN_IF_ERROR(MatVecQ8(packed, x.data(), y->data(), pool, ws));
  std::vector<float> xs(static_cast<size_t>(32 * cols), 0.5f);
  ys->resize(static_cast<size_t>(32 * rows));
  LB_RETURN_IF_ERROR(MatMul(w, xs.data(), 32, ys->data(), pool, ws));
  ys8->resize(ys->size());
  LB_RETURN_IF_ERROR(MatMulQ8(packed, xs.data(), 32, ys8->data(), pool, ws));
  return Status::Ok();
}

TEST(KernelsDocsExample, RunsAndAgrees) {
  const int64_t rows = 96, cols = 512;
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& v : w) v = g(rng);
  ThreadPool pool(2);
  std::vector<float> y, ys, ys8;
  ASSERT_TRUE(Layer(w, rows, cols, pool, &y, &ys, &ys8).ok());
  // x = 0.5 everywhere quantizes exactly, so the int8-activation product of
  // the packed weights equals every row of the f32 batched product up to
  // float rounding.
  for (int64_t b = 0; b < 32; ++b) {
    for (int64_t r = 0; r < rows; ++r) {
      EXPECT_NEAR(ys[b * rows + r], y[r], 1e-4 * (1 + std::fabs(y[r])));
      EXPECT_EQ(ys8[b * rows + r], y[r]);  // the same row, the same bits
    }
  }
}

}  // namespace
}  // namespace lowbit
