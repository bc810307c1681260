// Matrix-vector products with quantized weights: y = W x for W (rows x cols)
// held in lowbit's QuantizedTensor layout, read directly from the packed codes
// (no dequantized copy), rows in parallel. One Highway source for every target
// (kernels/matvec.cc), a scalar reference (kernels/reference/matvec.cc).
//
// MatVec (f32 activations): integer weights, symmetric or asymmetric, 8 bits
// per channel or per tensor, 4 bits in groups whose half-size is a multiple of
// the vector length (groups of 32 on AVX-512, 16 on AVX2); and 4-bit codes
// through a table of 16 levels: nf4, fp4_e2m1, mxfp4 (times the group's
// scale) and kmeans4 (the row's codebook). MatVecQ8 (int8 activations): int8
// and int4 as below, with AVX-512 VNNI on CPUs that have it. For batches see
// kernels/matmul.h, for repacked (faster) layouts kernels/packed.h, and
// docs/kernels.md for the whole API.
//
// Example:
//   QuantizedTensor w = *Quantize(data, {4096, 4096}, int4_g32, pool);
//   std::vector<float> x(4096), y(4096);
//   LB_RETURN_IF_ERROR(MatVec(w, x.data(), y.data(), pool));
#pragma once

#include "core/status.h"
#include "core/thread_pool.h"
#include "core/workspace.h"
#include "formats/quantized_tensor.h"

namespace lowbit {

// Whether MatVec has a kernel for `w`.
bool MatVecSupports(const QuantizedTensor& w);

// y[r] = sum_c decode(w)[r][c] * x[c]; x has w.cols values, y w.rows. The sums
// run in float vectors, so they differ from reference::MatVec by rounding only
// (|y - y_ref| <= 1e-5 * sum_c |w_rc x_c| in the tests). InvalidArgument when
// the layout is not supported.
// Scratch comes from `ws` (a call of the same shape after the first
// allocates nothing).
Status MatVec(const QuantizedTensor& w, const float* x, float* y,
              ThreadPool& pool, Workspace& ws);

// Integer-activation products: x is quantized to int8 with one scale
// sx = max|x| / 127 (QuantizeActivations) and the dot products run in int32
// (16-bit multiplies with pairwise 32-bit sums).
//  - int8 weights (symmetric, per channel or per tensor):
//    y[r] = scale_r * sx * (sum c xq - 128 sum xq), integer arithmetic, equal
//    to reference::MatVecQ8 bit for bit.
//  - int4 weights in groups (symmetric or asymmetric): exact integer sums per 4
//    codes, scaled per group into float accumulators: equal to the reference
//    within float rounding.
bool MatVecQ8Supports(const QuantizedTensor& w);
Status MatVecQ8(const QuantizedTensor& w, const float* x, float* y,
                ThreadPool& pool, Workspace& ws);

// x -> round(x / sx) in [-127, 127] with sx = max|x| / 127 (0 for x = 0);
// returns sx. SIMD, equal to reference::QuantizeActivations bit for bit
// (finite x).
float QuantizeActivations(const float* x, int64_t n, int16_t* xq);

namespace reference {
float QuantizeActivations(const float* x, int64_t n, int16_t* xq);
// Row by row: DequantizeRow, then a double-precision dot product.
void MatVec(const QuantizedTensor& w, const float* x, float* y);
// The same quantized activations; exact int64 sums (per row for int8, per
// group for int4, those scaled and summed in double).
void MatVecQ8(const QuantizedTensor& w, const float* x, float* y);
}  // namespace reference

}  // namespace lowbit
