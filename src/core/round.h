// Fast round-to-nearest-even of floats for the quantizers' inner loops.
// std::nearbyint is a library call on baseline x86-64 (no SSE4.1 roundss);
// adding and subtracting 1.5 * 2^23 rounds the same way for |v| <= 2^22 in the
// default rounding mode.
#pragma once

#include <algorithm>
#include <limits>
#include <type_traits>

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

// A float converted to the integer type I truncating toward zero, as C++
// does, but defined everywhere: NaN gives 0, values beyond I's range its
// limits (C++ leaves both undefined; ONNX's Cast leaves them open).
template <typename I>
inline I TruncateToInt(double v) {
  static_assert(std::is_integral_v<I>);
  if (!(v == v)) return 0;
  if (v <= static_cast<double>(std::numeric_limits<I>::min())) {
    return std::numeric_limits<I>::min();
  }
  // 2^63 and 2^64 are exact doubles; max() + 1 is the first value too large.
  if (v >= static_cast<double>(std::numeric_limits<I>::max()) + 1.0) {
    return std::numeric_limits<I>::max();
  }
  return static_cast<I>(v);
}

}  // namespace lowbit
