// Per-group choice of scale (and zero point) and encoding of one group of
// values, for every scheme with a fixed level table. A "group" is any
// contiguous run of values sharing one scale: a block of a row, a whole row
// (per channel) or the whole tensor. Decoding is x = scale * (level[code] -
// zero) (see formats/scheme.h).
#pragma once

#include <cstdint>

#include "formats/quantized_tensor.h"
#include "kernels/encode.h"
#include "quant/config.h"

namespace lowbit {

struct GroupFit {
  float scale = 0.0f;  // exactly representable in the scale type
  int zero =
      0;  // the zero point code (asymmetric int; for symmetric int 2^(b-1))
  float threshold = 0.0f;  // ternary only: |x| > threshold gets a nonzero code
  double err =
      0.0;  // weighted squared error of the group with these parameters
  // With f16 zero points: the zero point is zero + offset, an f16 value
  // (zero the nearest integer); 0 with code zero points.
  float offset = 0.0f;

  float zero_point() const { return static_cast<float>(zero) + offset; }
  CodeParams params() const {
    return CodeParams{scale, zero, threshold, offset};
  }
};

// The fit's zero point set to z, split into an integer and a fraction (z must
// be exactly representable: an f16 value).
void SetFitZero(float z, GroupFit* fit);

// Zero point z of a `bits`-bit integer grid as it is stored: the nearest code
// in [0, 2^bits) for kCode; for kF16, z limited to [-qmax, 2 qmax] (a grid
// that far off its group is degenerate) and rounded to f16.
float StoredZeroPoint(double z, int bits, ZeroType t);

// Rounds a scale to what its storage type holds (f16: nearest even; E8M0 is not
// handled here: mxfp4 scales are chosen as powers of two).
float RoundScale(float s, ScaleType t);

// Chooses the parameters for n values x (weights w, or nullptr for all ones)
// under `scheme` (any kind but kKmeans) and `method`. Never worse than kMinMax
// for kMse. With zero_type kF16 (asymmetric int), kMse goes on from the best
// code zero point to a least-squares fit of scale and an f16 zero point,
// alternating with the codes, and kHqq keeps its zero point unrounded; never
// worse than the code zero point. With weights w, never worse under the
// weighted error than the fit without them (both are tried).
GroupFit FitGroup(const float* x, const float* w, int64_t n,
                  const Scheme& scheme, bool symmetric,
                  const MethodSpec& method, ScaleType scale_type,
                  ZeroType zero_type = ZeroType::kCode);

// Writes one code per value (unpacked, one byte each) for the chosen
// parameters. For ternary with kMinMax / kPercentile the TWN threshold rule of
// the fit is applied.
void EncodeGroup(const float* x, int64_t n, const Scheme& scheme,
                 const GroupFit& fit, const MethodSpec& method, uint8_t* codes);

}  // namespace lowbit
