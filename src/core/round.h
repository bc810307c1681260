// Fast round-to-nearest-even of floats for the quantizers' inner loops.
// std::nearbyint is a library call on baseline x86-64 (no SSE4.1 roundss);
// adding and subtracting 1.5 * 2^23 rounds the same way for |v| <= 2^22 in the
// default rounding mode.
#pragma once

#include <algorithm>

namespace lowbit {

// Round to nearest, ties to even; exact for |v| <= 2^22 (callers clamp first).
inline float RoundEven(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  const float t =
      v + kMagic;  // not folded: no -ffast-math, so no reassociation
  return t - kMagic;
}

// clamp(round(v), lo, hi) for any v (clamps to [lo - 1, hi + 1] before
// rounding); NaN gives lo, as the SIMD kernels' Max(v, lo - 1) does on every
// target (x86 maxps and Highway's emulation return the non-NaN operand), so
// that a code is never converted from NaN (undefined behaviour).
inline float RoundClamp(float v, float lo, float hi) {
  // min/max rather than std::clamp: they map onto SIMD min/max instructions.
  // std::max(a, b) is (a < b) ? b : a: lo - 1 first makes NaN give lo - 1.
  v = std::min(std::max(lo - 1.0f, v), hi + 1.0f);
  return std::min(std::max(RoundEven(v), lo), hi);
}

}  // namespace lowbit
