// Batched products with quantized weights: Y = X W^T, where X holds `batch`
// rows of w.cols activations (row-major) and Y gets `batch` rows of w.rows
// outputs. Batch 1 goes to kernels/matvec.h (the bandwidth-bound path); larger
// batches are compute-bound and reuse each weight tile for every activation
// row: a tile of 4 weight rows times 4 activation rows in 16 vector
// accumulators. One Highway source (kernels/matmul.cc) for every target; the
// reference is kernels/matvec.h's, row by row.
//
// Example (a 4-token prompt through one int8 layer):
//   QuantizedTensor w = *Quantize(data, {11008, 4096}, int8_per_channel, pool);
//   std::vector<float> x(4 * 4096), y(4 * 11008);
//   Workspace ws;                                        // reused per call
//   LB_RETURN_IF_ERROR(MatMul(w, x.data(), 4, y.data(), pool, ws));    // f32 x
//   LB_RETURN_IF_ERROR(MatMulQ8(w, x.data(), 4, y.data(), pool, ws));  // int8
#pragma once

#include <cstdint>

#include "core/status.h"
#include "core/thread_pool.h"
#include "core/workspace.h"
#include "formats/quantized_tensor.h"

namespace lowbit {

// f32 activations: int8 weights per channel or per tensor, int4 in groups
// (even group size), symmetric or asymmetric. Each weight tile is decoded to
// f32 once and multiplied with fused multiply-adds; within float rounding of
// reference::MatVec per activation row (the tests allow 1e-5 of sum |w x|).
bool MatMulSupports(const QuantizedTensor& w);
// Scratch (the reordered activations, decoded weight tiles) comes from `ws`.
Status MatMul(const QuantizedTensor& w, const float* x, int64_t batch, float* y,
              ThreadPool& pool, Workspace& ws);

// int8 activations (each activation row quantized with its own scale, as
// QuantizeActivations) and int8 symmetric weights per channel or tensor, fewer
// than 65536 columns: exact int32 dot products of the unsigned codes with the
// signed activations, with AVX-512 VNNI (vpdpbusd: 64 multiply-adds per
// instruction) where the CPU has it, 16-bit multiply-add pairs elsewhere.
// Equal bit for bit to reference::MatVecQ8 on each activation row.
bool MatMulQ8Supports(const QuantizedTensor& w);
Status MatMulQ8(const QuantizedTensor& w, const float* x, int64_t batch,
                float* y, ThreadPool& pool, Workspace& ws);

// The name of the Highway target the batched kernels run on (for reports).
const char* MatMulTarget();

}  // namespace lowbit
