// Choosing the codes and scales of ggml's block formats, independent of their
// byte layout: one-level blocks (a scale, and for q4_1/q5_1 a float minimum,
// per 32 values) and two-level "k-quant" super-blocks (an f16 super-scale,
// small integer sub-block scales, and codes). The packers in formats/ggml/ turn
// the results into ggml's bytes.
#pragma once

#include <cstdint>

namespace lowbit {

// One block of x ~ d * q + m with q in [0, qmax] and d, m rounded to f16 (q4_1,
// q5_1).
struct AffineBlock {
  float d = 0.0f;  // f16-exact
  float m = 0.0f;  // f16-exact
  uint8_t q[32] = {};
};
// Minimises the (weighted) squared error of n <= 32 values: a grid of ranges,
// then alternating least squares on (d, m) with the codes fixed.
void FitAffineBlock(const float* x, const float* w, int n, int qmax,
                    AffineBlock* out);

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
};

struct TwoLevelBlock {
  float d = 0.0f;     // f16-exact
  float dmin = 0.0f;  // f16-exact
  int sc[16] = {};
  int mn[16] = {};
  int q[256] = {};  // codes in [qmin, qmax]
};

// Chooses d, dmin, the sub-scales and the codes minimising the weighted squared
// error of sub * nsub values: per sub-block continuous fits, then super-scale
// candidates, integer sub-scales refined by local search with the codes
// re-chosen, and a final least-squares refinement of the super-scales.
void FitTwoLevel(const float* x, const float* w, const TwoLevelSpec& spec,
                 TwoLevelBlock* out);

// Weighted squared error of the decoded super-block (for tests and the search).
double TwoLevelError(const float* x, const float* w, const TwoLevelSpec& spec,
                     const TwoLevelBlock& b);

}  // namespace lowbit
