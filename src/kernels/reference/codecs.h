// The scalar codecs of every fixed-level scheme: Encode(x / s) gives the code,
// Level(code) its level (the value is s times the level). The reference of
// kernels/encode.h, and what quant/group_fit.cc uses where it needs codes one
// at a time.
#pragma once

#include <cstdint>

#include "core/round.h"
#include "formats/scheme.h"
#include "kernels/encode.h"

namespace lowbit::codecs {

// Integer codes; the zero point is zero + offset (offset 0 but for f16 zero
// points, quant/group_fit.h).
struct Int {
  float qmax;
  float zero;
  float offset = 0.0f;
  uint8_t Encode(float xs) const {
    return static_cast<uint8_t>(RoundClamp(xs + offset, -zero, qmax - zero) +
                                zero);
  }
  float Level(uint8_t c) const {
    return (static_cast<float>(c) - zero) - offset;
  }
};

// Nearest level of an ascending table (NF4), ties to the lower.
struct Table {
  const float* levels;
  int n;
  uint8_t Encode(float xs) const {
    int lo = 0, hi = n - 1;
    if (!(xs > levels[0])) return 0;
    if (!(xs < levels[n - 1])) return static_cast<uint8_t>(n - 1);
    while (hi - lo > 1) {  // levels[lo] <= xs < levels[hi]
      const int mid = (lo + hi) / 2;
      if (levels[mid] <= xs) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    return static_cast<uint8_t>(xs - levels[lo] <= levels[hi] - xs ? lo : hi);
  }
  float Level(uint8_t c) const { return levels[c]; }
};

// Minifloats: formats/scheme.h's encoders (nearest, ties to the even code,
// saturating); `levels` is the scheme's level table.
template <uint8_t (*kEncode)(float)>
struct Mini {
  const float* levels;
  uint8_t Encode(float xs) const { return kEncode(xs); }
  float Level(uint8_t c) const { return levels[c]; }
};
using Fp8E4M3 = Mini<EncodeFp8E4M3>;
using Fp8E5M2 = Mini<EncodeFp8E5M2>;
using Fp4 = Mini<EncodeFp4E2M1>;

struct Ternary {
  float t;  // threshold in units of the scale
  uint8_t Encode(float xs) const { return xs > t ? 2 : (xs < -t ? 0 : 1); }
  float Level(uint8_t c) const { return static_cast<float>(c) - 1.0f; }
};

// Binary codes follow the sign of x itself (not of x / s).
struct Binary {
  uint8_t Encode(float xs) const { return xs >= 0.0f ? 1 : 0; }
  float Level(uint8_t c) const { return c ? 1.0f : -1.0f; }
};

// Calls f(codec) with the scheme's codec for parameters p (not k-means).
template <class F>
auto WithCodec(const Scheme& scheme, const CodeParams& p, F&& f) {
  const float* lv = scheme.Levels().data();
  switch (scheme.kind) {
    case SchemeKind::kInt:
      return f(Int{static_cast<float>((1 << scheme.bits) - 1),
                   static_cast<float>(p.zero), p.offset});
    case SchemeKind::kNf4:
      return f(Table{lv, 16});
    case SchemeKind::kFp8E4M3:
      return f(Fp8E4M3{lv});
    case SchemeKind::kFp8E5M2:
      return f(Fp8E5M2{lv});
    case SchemeKind::kFp4E2M1:
    case SchemeKind::kMxfp4:
      return f(Fp4{lv});
    case SchemeKind::kTernary:
      return f(Ternary{p.threshold});
    case SchemeKind::kBinary:
    case SchemeKind::kKmeans:
      break;
  }
  return f(Binary{});
}

}  // namespace lowbit::codecs
