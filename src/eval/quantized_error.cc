#include "eval/quantized_error.h"

#include <algorithm>
#include <mutex>
#include <vector>

#include "kernels/dequant.h"

namespace lowbit {

ErrorStats QuantizedError(const QuantizedTensor& q, const float* x,
                          ThreadPool& pool) {
  ErrorStats total;
  if (q.rows == 0 || q.cols == 0) return total;
  const int64_t block = std::min(q.rows, ErrorBlockRows(q.cols));
  std::vector<float> y(static_cast<size_t>(block * q.cols));
  std::mutex mu;
  for (int64_t b0 = 0; b0 < q.rows; b0 += block) {
    const int64_t nb = std::min(block, q.rows - b0);
    pool.ParallelFor(nb, 0, [&](int64_t r0, int64_t r1) {
      float* out = y.data() + r0 * q.cols;
      DequantizeRows(q, b0 + r0, b0 + r1, out);
      ErrorStats part;
      part.Add(x + (b0 + r0) * q.cols, out, (r1 - r0) * q.cols);
      std::lock_guard<std::mutex> lock(mu);
      total.Merge(part);
    });
  }
  return total;
}

}  // namespace lowbit
