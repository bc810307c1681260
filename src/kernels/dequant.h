// Decoding quantized rows to f32 with SIMD (one Highway source, every target):
// the fast path of formats/quantized_tensor.h's DequantizeRow, equal to it bit
// for bit (the same float operations: s * (level - z)). Covers codes of 1 to 8
// bits of every kind (integers, binary, ternary, NF4, FP4, MXFP4, FP8, k-means
// codebooks); widths other than 4 and 8 bits are unpacked to bytes by the
// scalar UnpackBits first. Used where lowbit decodes whole tensors: `report`,
// `convert`, ONNX export.
#pragma once

#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "formats/quantized_tensor.h"

namespace lowbit {

// Whether DequantizeRows has a SIMD path for q (else it calls DequantizeRow):
// codes of 1 to 8 bits.
bool DequantizeRowsSimd(const QuantizedTensor& q);

// Rows r0..r1 of q into out (row r at out + (r - r0) * q.cols).
void DequantizeRows(const QuantizedTensor& q, int64_t r0, int64_t r1,
                    float* out);

// The whole tensor, rows in parallel; or on the calling thread.
std::vector<float> DequantizeFast(const QuantizedTensor& q, ThreadPool& pool);
std::vector<float> DequantizeFast(const QuantizedTensor& q);

}  // namespace lowbit
