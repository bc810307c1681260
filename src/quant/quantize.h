// Quantize: one float tensor -> QuantizedTensor under a QuantConfig, rows in
// parallel.
#pragma once

#include <span>

#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "formats/quantized_tensor.h"
#include "quant/config.h"

namespace lowbit {

// Quantizes the row-major float data of `shape` (rows = shape[0], cols = the
// rest). `importance`, when not empty, holds one non-negative weight per column
// (input channel): the scale search and k-means minimise the
// importance-weighted squared error. Errors (InvalidArgument) for NaN/Inf
// values, bad options or a wrong importance length; the caller adds the tensor
// name. Uses `pool` for rows; deterministic for any pool size.
Result<QuantizedTensor> Quantize(const float* data, const Shape& shape,
                                 QuantConfig config, ThreadPool& pool,
                                 std::span<const float> importance = {});

}  // namespace lowbit
