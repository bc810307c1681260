// The error of a quantized tensor against the values it was made from,
// measured on the codes in memory: rows are decoded a block at a time into
// one reused buffer (1 MiB, so that a block stays in the cache), never the
// whole tensor.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/thread_pool.h"
#include "eval/error_stats.h"
#include "formats/quantized_tensor.h"

namespace lowbit {

// x holds q.rows x q.cols reference values, row-major.
ErrorStats QuantizedError(const QuantizedTensor& q, const float* x,
                          ThreadPool& pool);

// Rows of decoded block at a time: about kErrorBlockBytes of f32.
inline constexpr int64_t kErrorBlockBytes = int64_t{1} << 20;
inline int64_t ErrorBlockRows(int64_t cols) {
  return cols > 0 ? std::max<int64_t>(1, kErrorBlockBytes / 4 / cols) : 1;
}

}  // namespace lowbit
