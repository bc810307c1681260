// Packers of ggml's block formats: scales and codes already chosen (by
// quant/ggml_quantize.h) written as ggml's bytes, the layouts of
// formats/ggml/blocks.h that DequantizeGgmlRow reads. Scales are rounded to
// f16 here; every other value must already lie in the type's range.
#pragma once

#include <cstdint>

#include "formats/ggml/ggml_type.h"

namespace lowbit {

// f32 (copied), f16 or bf16 (rounded to nearest even): n values.
void PackFloatRow(GgmlType t, const float* x, int64_t n, uint8_t* out);

// q8_0, q4_0, q5_0, iq4_nl: nb blocks of 32, block i with scale d[i] and
// codes[32 i .. 32 i + 32) in ggml's unsigned storage (the level minus the
// type's lowest level: 0..255, 0..15, 0..31, 0..15 table indices).
void PackOneLevelBlocks(GgmlType t, const float* d, const uint8_t* codes,
                        int64_t nb, uint8_t* out);

// q4_1, q5_1: nb blocks of 32 with scale d[i], offset m[i] and unsigned codes.
void PackAffineBlocks(GgmlType t, const float* d, const float* m,
                      const uint8_t* codes, int64_t nb, uint8_t* out);

// One k-quant super-block (q2_K, q3_K, q4_K, q5_K, q6_K, iq4_xs) of 256
// values: x = d * sc[j] * L(q) - dmin * mn[j] for the types with a minimum,
// else d * sc[j] * L(q).
struct KQuantBlock {
  float d = 0.0f;     // f16-exact
  float dmin = 0.0f;  // f16-exact
  int sc[16] = {};    // integer sub-scales in the type's range
  int mn[16] = {};    // integer sub-minimums
  int q[256] = {};    // codes in the type's [qmin, qmax]
};
void PackKQuantBlock(GgmlType t, const KQuantBlock& b, uint8_t* dst);

// One tq1_0 or tq2_0 block of 256 ternary codes (0, 1, 2 for -1, 0, +1) with
// scale d.
void PackTernaryBlock(GgmlType t, float d, const uint8_t* codes, uint8_t* dst);

}  // namespace lowbit
