// Decoders of ggml's block formats to f32, bit-for-bit equal to ggml's own
// dequantize_row_* (its reference C code, compiled without FMA contraction).
#pragma once

#include <cstdint>

#include "formats/ggml/ggml_type.h"

namespace lowbit {

// Bit-exactness: each decoder performs ggml's float operations in ggml's
// order, in float (never double): e.g. for Q4_K, d * scale and dmin * min are
// rounded to float first, then x = d1 * q - m1. FMA contraction cannot change
// the results: in every multiply-add (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K) the
// product is exact in float (an fp16 scale times codes of at most 6 + 5 bits
// needs at most 22 significant bits). Checked by building these files with
// -mfma -ffp-contract=fast against the golden test.

// Decodes n elements of type t from `blocks` (n / block_elements blocks of
// block_bytes each, any alignment) into out[0, n). Requires n to be a multiple
// of the type's block size and t to be a codec type (GgmlTypeInfo::codec;
// aborts otherwise). For kF32 it copies, for kF16 and kBF16 it widens exactly.
void DequantizeGgmlRow(GgmlType t, const uint8_t* blocks, float* out,
                       int64_t n);

// The same, one function per type. Each requires n % block_elements == 0.
// Plain types (decode_basic.cc).
void DequantizeF32(const uint8_t* blocks, float* out, int64_t n);
void DequantizeF16(const uint8_t* blocks, float* out, int64_t n);
void DequantizeBF16(const uint8_t* blocks, float* out, int64_t n);
// 32-element blocks (decode_basic.cc).
void DequantizeQ4_0(const uint8_t* blocks, float* out, int64_t n);
void DequantizeQ4_1(const uint8_t* blocks, float* out, int64_t n);
void DequantizeQ5_0(const uint8_t* blocks, float* out, int64_t n);
void DequantizeQ5_1(const uint8_t* blocks, float* out, int64_t n);
void DequantizeQ8_0(const uint8_t* blocks, float* out, int64_t n);
// k-quants, 256-element super-blocks (decode_kquant.cc).
void DequantizeQ2_K(const uint8_t* blocks, float* out, int64_t n);
void DequantizeQ3_K(const uint8_t* blocks, float* out, int64_t n);
void DequantizeQ4_K(const uint8_t* blocks, float* out, int64_t n);
void DequantizeQ5_K(const uint8_t* blocks, float* out, int64_t n);
void DequantizeQ6_K(const uint8_t* blocks, float* out, int64_t n);
// Non-linear and ternary formats (decode_iq_tq.cc).
void DequantizeIQ4_NL(const uint8_t* blocks, float* out, int64_t n);
void DequantizeIQ4_XS(const uint8_t* blocks, float* out, int64_t n);
void DequantizeTQ1_0(const uint8_t* blocks, float* out, int64_t n);
void DequantizeTQ2_0(const uint8_t* blocks, float* out, int64_t n);

}  // namespace lowbit
