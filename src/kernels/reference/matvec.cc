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

}  // namespace lowbit::reference
