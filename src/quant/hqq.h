// HQQ, half-quadratic quantization (Badri and Shaji, "Half-Quadratic
// Quantization of Large Machine Learning Models", Mobius Labs 2023): a
// calibration-free fit of a group's integer grid that minimises the l_p
// norm (p < 1) of the quantization error instead of its square, so that a
// few large errors cost less than many small ones. Half-quadratic splitting
// alternates three closed-form steps from the min-max grid: the codes
// (rounding), an auxiliary error term e (the generalized soft-threshold of
// the residual, the proximal step of |.|^p with weight beta), and the grid
// given e (the zero point as the mean of Q - (x - e) / s; with a fixed zero
// point, symmetric schemes, the scale by least squares instead). beta grows
// by kappa each round; the rounds stop when the mean absolute error stops
// falling. The zero point is then rounded to what the format stores: an
// integer code, or an f16 value.
#pragma once

#include <cstdint>

#include "quant/group_fit.h"

namespace lowbit {

struct HqqOptions {
  float p = 0.7f;       // the l_p norm
  float beta = 10.0f;   // initial weight of the splitting
  float kappa = 1.01f;  // beta's growth per round
  int rounds = 20;
};

// The grid of an integer scheme of `bits` bits for the n values x (w, the
// importance, is not used: HQQ is calibration-free), its scale representable
// in `st`; err is the plain squared error of the result.
GroupFit FitHqq(const float* x, int64_t n, int bits, bool symmetric,
                ScaleType st, ZeroType zt = ZeroType::kCode,
                const HqqOptions& opt = HqqOptions{});

}  // namespace lowbit
