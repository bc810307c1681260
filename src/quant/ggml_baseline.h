// ggml's own reference quantizer for q4_K and q5_K (the algorithm of
// llama.cpp's quantize_row_q4_K_ref / quantize_row_q5_K_ref: per sub-block a
// weighted range search over a few candidate scales with least squares on
// scale and minimum, then 6-bit sub-scales against the largest), written
// anew from its description. It exists to measure ggml's error on tensors for
// which no ggml figure exists (benchmarks); lowbit never writes files with
// it. ggml_baseline_test.cc checks that it reproduces the dequantized values
// of ggml's own blocks in ../shared/testdata/ggml bit for bit.
#pragma once

#include <cstdint>

#include "formats/ggml/ggml_type.h"

namespace lowbit {

// True for the types GgmlBaselineRow covers.
bool HasGgmlBaseline(GgmlType t);

// Quantizes n values (a multiple of 256) as ggml would and writes back the
// dequantized values y (as ggml's dequantizer computes them).
void GgmlBaselineRow(GgmlType t, const float* x, float* y, int64_t n);

}  // namespace lowbit
