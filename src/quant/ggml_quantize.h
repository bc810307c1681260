// Encoders of the ggml block formats: choose codes and scales
// (quant/ggml_fit.h, quant/group_fit.h) and pack them into ggml's bytes
// (formats/ggml/pack.h), which DequantizeGgmlRow reads back.
#pragma once

#include <cstdint>

#include "formats/ggml/ggml_type.h"

namespace lowbit {

// True for the types QuantizeGgmlRow can write (GgmlTypeInfo::codec).
bool CanEncodeGgml(GgmlType t);

// Quantizes n values (a multiple of the type's block size) into n / block
// blocks at out. `importance` (n weights, or null) weights the squared error
// every choice minimises. Deterministic and thread-safe.
void QuantizeGgmlRow(GgmlType t, const float* x, uint8_t* out, int64_t n,
                     const float* importance);

// Quantizes `rows` consecutive rows of `cols` values (rows * RowBytes(cols)
// bytes at out); `importance` (cols weights, or null) applies to every row.
// The same bytes as QuantizeGgmlRow row by row, faster: without importance
// the rows form one stream, so the next values are fetched while the current
// ones compute.
void QuantizeGgmlRows(GgmlType t, const float* x, uint8_t* out, int64_t rows,
                      int64_t cols, const float* importance);

}  // namespace lowbit
