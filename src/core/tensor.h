// Shapes and float conversions of weight tensors. Weights are seen as 2-D:
// rows = shape[0] (output channels), cols = product of the rest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace lowbit {

using Shape = std::vector<int64_t>;

// Number of elements; 1 for a scalar (empty shape).
int64_t NumElements(const Shape& shape);
// "[1024, 4096]".
std::string ShapeString(const Shape& shape);
// rows = shape[0], cols = the product of the rest (1-D: 1 x n; scalar: 1 x 1).
void RowsCols(const Shape& shape, int64_t* rows, int64_t* cols);
// Bytes that n elements of `t` occupy (rounded up to whole bytes for packed
// types).
int64_t StorageBytes(DType t, int64_t n);

// Converts n elements of a float weight type (f32, f16, bf16) to f32.
void ToFloat(DType t, const void* src, int64_t n, float* dst);
// Converts n floats to a float weight type (rounding to nearest even).
void FromFloat(DType t, const float* src, int64_t n, void* dst);

}  // namespace lowbit
