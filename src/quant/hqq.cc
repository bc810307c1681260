#include "quant/hqq.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/half.h"
#include "kernels/encode.h"

namespace lowbit {
namespace {

// The proximal step of (1/beta) |e|^p at r: shrinks r towards 0 by
// |r|^(p-1) / beta (a generalized soft threshold), never past 0.
inline float Shrink(float r, float beta, float p) {
  const float a = std::fabs(r);
  const float t = a - std::pow(a + 1e-8f, p - 1.0f) / beta;
  return t > 0.0f ? std::copysign(t, r) : 0.0f;
}

}  // namespace

GroupFit FitHqq(const float* x, int64_t n, int bits, bool symmetric,
                ScaleType st, ZeroType zt, const HqqOptions& opt) {
  const bool f16_zero = zt == ZeroType::kF16 && !symmetric;
  // The zero point as stored.
  auto stored_zero = [&](float zc) {
    return StoredZeroPoint(zc, bits, f16_zero ? zt : ZeroType::kCode);
  };
  const float qmax = static_cast<float>((1 << bits) - 1);
  const float half = static_cast<float>(1 << (bits - 1));
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  GroupFit out;
  const Scheme scheme{SchemeKind::kInt, bits};
  // The min-max grid to start from.
  float s, z;
  if (symmetric) {
    const float ext = std::max(-lo, hi);
    s = ext / half;
    z = half;
  } else {
    s = (hi - lo) / qmax;
    z = s > 0.0f ? -lo / s : 0.0f;
  }
  if (!(s > 0.0f)) {
    out.scale = 0.0f;
    out.zero = symmetric ? static_cast<int>(half) : 0;
    out.err = EncodeError(scheme, CodeParams{0.0f, out.zero, 0}, x, nullptr, n);
    return out;
  }
  std::vector<float> q(static_cast<size_t>(n)), e(static_cast<size_t>(n));
  // The l_p error of the grid as stored: the scale rounded to its type, the
  // zero point to an integer code.
  auto stored_lp = [&](float sc, float zc) {
    const float ss = RoundScale(sc, st);
    const float zi = symmetric ? half : stored_zero(zc);
    const float inv = ss > 0.0f ? 1.0f / ss : 0.0f;
    double acc = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const float c = std::clamp(std::nearbyint(x[i] * inv + zi), 0.0f, qmax);
      acc += std::pow(std::fabs(x[i] - ss * (c - zi)) + 1e-12f, opt.p);
    }
    return acc;
  };
  float beta = opt.beta, best_s = s, best_z = z;
  double best = stored_lp(s, z);
  for (int round = 0; round < opt.rounds; ++round) {
    // In units of the scale (x / s), so that beta means the same for any
    // weight magnitude.
    const float inv = 1.0f / s;
    for (int64_t i = 0; i < n; ++i) {
      const float u = x[i] * inv;
      q[i] = std::clamp(std::nearbyint(u + z), 0.0f, qmax);
      e[i] = Shrink(u - (q[i] - z), beta, opt.p);
    }
    if (symmetric) {  // zero fixed: least-squares scale of x - s e on q - z
      double num = 0.0, den = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        const double l = q[i] - z;
        num += (x[i] - s * e[i]) * l;
        den += l * l;
      }
      if (den > 0.0 && num > 0.0) s = static_cast<float>(num / den);
    } else {  // x - s e ~ a q + b by least squares: s = a, z = -b / a
      double sq = 0, sy = 0, sqq = 0, sqy = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double y = x[i] - s * e[i];
        sq += q[i];
        sy += y;
        sqq += static_cast<double>(q[i]) * q[i];
        sqy += q[i] * y;
      }
      const double nn = static_cast<double>(n), var = nn * sqq - sq * sq;
      if (var > 0.0) {
        const double a = (nn * sqy - sq * sy) / var, b = (sy - a * sq) / nn;
        if (a > 0.0) {
          s = static_cast<float>(a);
          z = static_cast<float>(-b / a);
        }
      }
    }
    beta *= opt.kappa;
    const double lp = stored_lp(s, z);
    if (lp < best) {
      best = lp;
      best_s = s;
      best_z = z;
    }
  }
  out.scale = RoundScale(best_s, st);
  SetFitZero(symmetric ? half : stored_zero(best_z), &out);
  out.err = EncodeError(scheme, out.params(), x, nullptr, n);
  return out;
}

}  // namespace lowbit
