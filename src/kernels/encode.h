// Quantizing values to codes with SIMD (one Highway source, every target), and
// the squared error of those codes: the quantizer's inner loops. quant/
// group_fit.cc scores every candidate scale of its searches with EncodeError
// and writes the chosen codes with EncodeValues; both equal the scalar codecs
// of kernels/reference/encode.h (codes bit for bit, errors up to the order of
// the double-precision sum).
//
// The code of x for scale s is the scheme's code of x / s (x times 1/s; s = 0
// maps everything to the code of 0):
//   int:      clamp(round_even(x/s + offset), -zero, 2^bits - 1 - zero) + zero
//             (level: code - zero - offset; offset 0 but for f16 zero points)
//   nf4:      the nearest of the 16 levels, ties to the lower
//   fp8_e4m3, fp8_e5m2, fp4_e2m1, mxfp4: the nearest minifloat, ties to the
//             even code, saturating (the top code for NaN), +0 for zero
//   ternary:  2 above +threshold, 0 below -threshold, else 1
//   binary:   1 for x >= 0, else 0 (the sign of x itself)
// and its value is s times the code's level.
#pragma once

#include <cstdint>

#include "formats/scheme.h"

namespace lowbit {

// One group's parameters (quant/group_fit.h's GroupFit).
struct CodeParams {
  float scale = 0.0f;
  int zero = 0;            // int: the zero-point code
  float threshold = 0.0f;  // ternary: in units of the scale
  float offset = 0.0f;     // int: the zero point is zero + offset (f16 zeros)
};

// Whether the kernels cover the scheme: every kind but k-means.
bool EncodeSupports(const Scheme& scheme);

// One code per value, one byte each.
void EncodeValues(const Scheme& scheme, const CodeParams& p, const float* x,
                  int64_t n, uint8_t* codes);

// sum_i w_i (x_i - s level(code_i))^2 (w null: all ones), each difference in
// float, the sum in double.
double EncodeError(const Scheme& scheme, const CodeParams& p, const float* x,
                   const float* w, int64_t n);

// k-means codes: for each value the index of the nearest of n ascending
// levels (a codebook of 1 to 16, checked), ties and runs of equal levels to
// the lowest index, NaN to 0: quant/kmeans1d.h's NearestLevel (the reference),
// whose distances in double it reproduces exactly.
void NearestLevels(const float* levels, int n, const float* x, int64_t count,
                   uint8_t* codes);

namespace reference {
// The scalar codecs, element by element (kernels/reference/encode.cc).
void EncodeValues(const Scheme& scheme, const CodeParams& p, const float* x,
                  int64_t n, uint8_t* codes);
double EncodeError(const Scheme& scheme, const CodeParams& p, const float* x,
                   const float* w, int64_t n);
}  // namespace reference

}  // namespace lowbit
