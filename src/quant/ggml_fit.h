// Choosing the codes and scales of ggml's block formats, independent of their
// byte layout: one-level blocks (a scale, and for q4_1/q5_1 an offset, per 32
// values) and two-level "k-quant" super-blocks (an f16 super-scale,
// small integer sub-block scales, and codes). The packers in formats/ggml/ turn
// the results into ggml's bytes.
#pragma once

#include <cstdint>

#include "formats/ggml/pack.h"
#include "kernels/unit_fit.h"

namespace lowbit {

// A k-quant super-block of nsub sub-blocks of `sub` values:
//   x = d * sc[j] * L(q) - dmin * mn[j]   (has_min)
//   x = d * sc[j] * L(q)                  (otherwise)
// where L(q) = q, or table[q - qmin] for a non-uniform level table (iq4_xs).
struct TwoLevelSpec {
  int sub = 32;  // values per sub-block
  int nsub = 8;  // sub-blocks per super-block
  int qmin = 0;  // code range
  int qmax = 15;
  int smin = 0;  // integer sub-scale range
  int smax = 63;
  bool has_min = false;
  int mmax = 0;                  // integer sub-minimum range [0, mmax]
  const float* table = nullptr;  // qmax - qmin + 1 levels, or null for L(q) = q
  // How hard to search (see FitTwoLevelRow).
  UnitFitParams fit;     // the continuous per-sub-block fit
  int d_candidates = 6;  // super-scales tried: base * (1 - d_span * k / n)
  float d_span = 0.15f;
  int rs = 1, rm = 1;        // integer sub-scale / sub-minimum search radius
  int cs = 0, cm = 0;        // and the search window's centre offsets
  int ls_rounds = 1;         // least-squares rounds on (d, dmin)
  int ls_rs = 1, ls_rm = 1;  // the integer search radius after each round
};

// One fitted super-block: what formats/ggml/pack.h packs.
using TwoLevelBlock = KQuantBlock;

// Chooses d, dmin, the sub-scales and the codes of `nblocks` consecutive
// super-blocks (one row), minimising the weighted squared error:
//  1. every sub-block's continuous (S, M) (kernels/unit_fit, one sub-block
//     per SIMD lane);
//  2. per super-block, `d_candidates` super-scales from the largest S onto the
//     integer range (both signs when sub-scales are signed), each scored with
//     rounded integer sub-scales, the best kept;
//  3. integer sub-scales and sub-minimums searched within +-rs, +-rm;
//  4. `ls_rounds` rounds of least squares on (d, dmin) with the integer
//     sub-scales and codes fixed, then step 3 again (radius ls_rs, ls_rm),
//     kept when better.
void FitTwoLevelRow(const float* x, const float* w, int64_t nblocks,
                    const TwoLevelSpec& spec, TwoLevelBlock* out);

// One scale per block of `n` values over symmetric levels (q8_0, q4_0, q5_0,
// iq4_nl): the continuous fit of kernels/unit_fit, the scale rounded to f16,
// nearest codes. d[b] is f16-exact; codes[b * n + i] = code - qmin.
void FitOneLevelRow(const float* x, const float* w, int64_t nblocks, int n,
                    const UnitLevels& levels, const UnitFitParams& fit,
                    float* d, uint8_t* codes);

// One scale and one offset per block of `n` values, x ~ d c + m with codes c
// in [0, qmax] and d, m rounded to f16 (q4_1, q5_1): the affine continuous fit
// of kernels/unit_fit on each block shifted down by max(0, min x) (the fit
// keeps its offset on one side of zero), then nearest codes at the rounded
// (d, m). codes[b * n + i] = c.
void FitAffineRow(const float* x, const float* w, int64_t nblocks, int n,
                  int qmax, const UnitFitParams& fit, float* d, float* m,
                  uint8_t* codes);

// Weighted squared error of the decoded super-block (for tests and the search).
double TwoLevelError(const float* x, const float* w, const TwoLevelSpec& spec,
                     const TwoLevelBlock& b);

}  // namespace lowbit
