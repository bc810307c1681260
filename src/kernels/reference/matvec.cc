// Scalar reference of kernels/matvec.h: the exact decoder, then a dot product
// in double precision.
#include "kernels/matvec.h"

#include <vector>

namespace lowbit::reference {

void MatVec(const QuantizedTensor& w, const float* x, float* y) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    DequantizeRow(w, r, row.data());
    double s = 0.0;
    for (int64_t c = 0; c < w.cols; ++c) {
      s += static_cast<double>(row[c]) * x[c];
    }
    y[r] = static_cast<float>(s);
  }
}

void MatVecQ8(const QuantizedTensor& w, const float* x, float* y) {
  std::vector<int16_t> xq(static_cast<size_t>(w.cols));
  const float sx = QuantizeActivations(x, w.cols, xq.data());
  int64_t sum_xq = 0;
  for (int16_t v : xq) sum_xq += v;
  for (int64_t r = 0; r < w.rows; ++r) {
    const uint8_t* c = w.codes.data() + r * w.code_row_bytes();
    int64_t dot = 0;
    for (int64_t k = 0; k < w.cols; ++k) dot += int64_t{c[k]} * xq[k];
    const int64_t srow = w.granularity == Granularity::kTensor ? 0 : r;
    y[r] = w.scales[srow] * (sx * static_cast<float>(dot - 128 * sum_xq));
  }
}

}  // namespace lowbit::reference
