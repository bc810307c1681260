// Scalar conversions between f32 and the 16-bit float types (IEEE binary16,
// bfloat16). Round to nearest even; NaN stays NaN; overflow goes to infinity
// (as hardware does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lowbit {

inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float BitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// IEEE binary16 -> f32 (exact).
inline float F16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  if (exp == 0) {
    // zero or subnormal: man * 2^-24
    const float v = static_cast<float>(man) * BitsToFloat(0x33800000u);
    return sign ? -v : v;
  }
  if (exp == 31) return BitsToFloat(sign | 0x7f800000u | (man << 13));
  return BitsToFloat(sign | ((exp + 112u) << 23) | (man << 13));
}

// f32 -> IEEE binary16, round to nearest even.
inline uint16_t F32ToF16(float f) {
  const uint32_t u = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) {  // inf or nan
    return sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0u);
  }
  if (a >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: inf
  if (a < 0x38800000u) {                        // below 2^-14: subnormal
    // value = a as float; subnormal step is 2^-24.
    const float v = BitsToFloat(a) * 16777216.0f;  // exact scaling by 2^24
    // round half to even to an integer in [0, 1024]
    float r = v;
    const uint32_t i = static_cast<uint32_t>(r);
    const float frac = r - static_cast<float>(i);
    uint32_t q = i;
    if (frac > 0.5f || (frac == 0.5f && (i & 1u))) q = i + 1;
    return sign | static_cast<uint16_t>(q);
  }
  const uint32_t mant_round = ((a >> 13) & 1u) + 0xfffu;
  const uint32_t b = a + mant_round;
  return sign | static_cast<uint16_t>(((b - 0x38000000u) >> 13) & 0x7fffu);
}

inline float BF16ToF32(uint16_t h) {
  return BitsToFloat(static_cast<uint32_t>(h) << 16);
}

inline uint16_t F32ToBF16(float f) {
  const uint32_t u = FloatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet nan
  }
  const uint32_t round = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + round) >> 16);
}

// Rounds through the 16-bit type and back: the value a stored scale really has.
inline float RoundToF16(float f) { return F16ToF32(F32ToF16(f)); }
inline float RoundToBF16(float f) { return BF16ToF32(F32ToBF16(f)); }

// RoundToF16 over an array, in place. Values in f16's normal range round by
// integer arithmetic on their bits (a loop the compiler vectorizes); the rest
// take the scalar path.
inline void RoundToF16(float* v, size_t n) {
  bool rest = false;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t u = FloatBits(v[i]);
    const uint32_t a = u & 0x7fffffffu;
    // [2^-14, 65520): the rounded value is a normal f16.
    const bool normal = a - 0x38800000u < 0x477ff000u - 0x38800000u;
    const uint32_t r = (u + ((u >> 13) & 1u) + 0xfffu) & ~0x1fffu;
    v[i] = BitsToFloat(normal ? r : u);
    rest |= !normal;
  }
  if (!rest) return;
  for (size_t i = 0; i < n; ++i) v[i] = RoundToF16(v[i]);
}

}  // namespace lowbit
