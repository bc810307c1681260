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

// clamp(round(v), lo, hi) for any finite v (clamps to [lo - 1, hi + 1] before
// rounding).
inline float RoundClamp(float v, float lo, float hi) {
  return std::clamp(RoundEven(std::clamp(v, lo - 1.0f, hi + 1.0f)), lo, hi);
}

}  // namespace lowbit
