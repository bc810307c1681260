// Least-squares refit of a quantized weight's group parameters on the
// layer-output error, its codes fixed: for each row, the scales a_g (and, with
// zero points, the offsets b_g) of v_i = a_g L(c_i) + b_g that minimise
// (w - v)^T H (w - v), the normal equations of the 1 or 2 parameters per
// group solved exactly (Cholesky); then the scales rounded to their storage
// type and the zero points z = -b / a to theirs (an integer code, or f16).
// Kept per row only where the rounded result lowers the row's error.
//
// After GPTQ (quant/gptq.h) the codes carry the compensation of each other's
// rounding error; the scales the search chose before them no longer are the
// best for those codes (the refit step of, e.g., OmniQuant, arXiv 2308.13137,
// and of the least-squares refit of HQQ-style solvers, here on the output).
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "formats/quantized_tensor.h"

namespace lowbit {

// w: rows x cols; codes: the codes of q, one byte each (rows x cols); h:
// `groups` matrices [cols x cols], row block g (rows / groups consecutive
// rows) using matrix g. Per-tensor and k-means tensors are left as they are.
// Returns the number of rows changed.
int64_t RefitOnOutputError(const float* w, const uint8_t* codes, const float* h,
                           int64_t groups, QuantizedTensor& q,
                           ThreadPool& pool);

}  // namespace lowbit
