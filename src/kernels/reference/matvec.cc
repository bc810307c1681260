// Scalar reference of kernels/matvec.h: the exact decoder, then a dot product
// in double precision.
#include "kernels/matvec.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/round.h"
#include "formats/bitpack.h"

namespace lowbit::reference {

float QuantizeActivations(const float* x, int64_t n, int16_t* xq) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float sx = amax / 127.0f;
  const float inv = sx > 0.0f ? 1.0f / sx : 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    xq[i] = static_cast<int16_t>(RoundClamp(x[i] * inv, -127.0f, 127.0f));
  }
  return sx;
}

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
  std::vector<uint8_t> codes(static_cast<size_t>(w.cols)), zeros;
  for (int64_t r = 0; r < w.rows; ++r) {
    UnpackBits(w.codes.data() + r * w.code_row_bytes(), w.cols, w.scheme.bits,
               codes.data());
    if (w.scheme.bits == 8) {  // one scale: an exact integer dot product
      int64_t dot = 0, sum_xq = 0;
      for (int64_t k = 0; k < w.cols; ++k) {
        dot += int64_t{codes[k]} * xq[k];
        sum_xq += xq[k];
      }
      const int64_t srow = w.granularity == Granularity::kTensor ? 0 : r;
      y[r] = w.scales[srow] * (sx * static_cast<float>(dot - 128 * sum_xq));
      continue;
    }
    // Groups: exact integer sums per group, scaled, summed in double.
    const int64_t groups = w.groups_per_row();
    zeros.assign(static_cast<size_t>(groups), 8);
    if (!w.symmetric) {
      UnpackBits(w.zeros.data() + r * w.zero_row_bytes(), groups, 4,
                 zeros.data());
    }
    double acc = 0.0;
    for (int64_t g = 0; g < groups; ++g) {
      int64_t d = 0;
      for (int64_t k = g * w.group_size; k < (g + 1) * w.group_size; ++k) {
        d += (int64_t{codes[k]} - zeros[g]) * xq[k];
      }
      acc += static_cast<double>(w.scales[r * groups + g]) *
             static_cast<double>(d);
    }
    y[r] = static_cast<float>(sx * acc);
  }
}

}  // namespace lowbit::reference
