// Scalar reference of kernels/unit_fit.h: one unit at a time, the same float
// operations in the same order as the SIMD version (which must equal it bit for
// bit). Branches here are lane masks there.
#include "kernels/unit_fit.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/round.h"

namespace lowbit {
namespace reference {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Min and max as SIMD instructions define them (the second operand on ties),
// and rounding by the magic number: the Highway version uses the same, so both
// produce the same bits, down to the sign of zero.
inline float MinF(float a, float b) { return a < b ? a : b; }
inline float MaxF(float a, float b) { return a > b ? a : b; }
inline float Clamp(float v, float lo, float hi) {
  return MinF(MaxF(v, lo), hi);
}
inline float RoundIn(float v, float lo, float hi) {
  return Clamp(RoundEven(Clamp(v, lo - 1.0f, hi + 1.0f)), lo, hi);
}

struct Unit {
  const float* x;
  const float* w;
  size_t stride;
  int n;
  float X(int i) const { return x[static_cast<size_t>(i) * stride]; }
  float W(int i) const { return w ? w[static_cast<size_t>(i) * stride] : 1.0f; }
};

struct Level {
  explicit Level(const UnitLevels& l) : lv(l) {
    if (lv.table) {
      for (int k = 0; k < lv.qmax - lv.qmin; ++k)
        mid[k] = 0.5f * (lv.table[k] + lv.table[k + 1]);
    }
  }
  const UnitLevels& lv;
  float mid[256] = {};
  // The nearest level of v; *code is its index (code - qmin).
  float Of(float v, int* code) const {
    if (lv.table == nullptr) {
      const float q = Clamp(std::nearbyint(v), static_cast<float>(lv.qmin),
                            static_cast<float>(lv.qmax));
      *code = static_cast<int>(q) - lv.qmin;
      return q;
    }
    float l = lv.table[0];
    int k = 0;
    for (int j = 0; j < lv.qmax - lv.qmin; ++j) {
      if (v > mid[j]) {
        l = lv.table[j + 1];
        ++k;
      }
    }
    *code = k;
    return l;
  }
  float Lo() const {
    return lv.table ? lv.table[0] : static_cast<float>(lv.qmin);
  }
  float Hi() const {
    return lv.table ? lv.table[lv.qmax - lv.qmin] : static_cast<float>(lv.qmax);
  }
};

struct Pass {
  float err = 0, sl = 0, sll = 0, slx = 0;
};

// Codes at (S, M) and their sums; codes written with `stride` when non-null.
Pass Run(const Unit& u, const Level& lv, float S, float M, uint8_t* codes) {
  const float inv = S != 0.0f ? 1.0f / S : 0.0f;
  Pass p;
  for (int i = 0; i < u.n; ++i) {
    const float x = u.X(i), w = u.W(i);
    int code;
    const float xm = lv.lv.affine ? x + M : x;
    const float l = lv.Of(xm * inv, &code);
    if (codes)
      codes[static_cast<size_t>(i) * u.stride] = static_cast<uint8_t>(code);
    const float r = xm - S * l;
    const float wl = w * l;
    p.err += (w * r) * r;
    if (lv.lv.affine) p.sl += wl;
    p.sll += wl * l;
    p.slx += wl * x;
  }
  return p;
}

// The best candidate so far; a new one must be better by `slack` (a millionth
// of the unit's energy), so that the rounding of the closed-form errors cannot
// pick between equally exact fits (constant units).
struct Best {
  float S = 0, M = 0, err = kInf, slack = 0;
  void Consider(float s, float m, float e) {
    if (e < err - slack) {
      S = s;
      M = m;
      err = e;
    }
  }
};

// Least squares of (S, M) for fixed codes, and its error in closed form. When
// every code is the same (no unique solution) the candidate's scale s0 is
// kept and only M is fitted.
void LsAffine(const Pass& p, float s0, float sw, float sx, float sxx,
              Best* best) {
  const float det = sw * p.sll - p.sl * p.sl;
  float a = det > 0.0f ? (sw * p.slx - p.sl * sx) / det : s0;
  float m = (a * p.sl - sx) / sw;
  if (!(m >= 0.0f)) {
    m = 0.0f;
    a = p.sll > 0.0f ? p.slx / p.sll : 0.0f;
  }
  const float ta = 2.0f * a, tm = 2.0f * m;
  const float e = (a * a) * p.sll + (m * m) * sw + sxx - (ta * m) * p.sl -
                  ta * p.slx + tm * sx;
  best->Consider(a, m, e);
}

void LsSymmetric(const Pass& p, float sxx, Best* best) {
  const float a = p.sll > 0.0f ? p.slx / p.sll : 0.0f;
  best->Consider(a, 0.0f, sxx - a * p.slx);
}

float Factor(const UnitFitParams& p, int k) {
  return 1.0f -
         p.shrink * static_cast<float>(k) / static_cast<float>(p.candidates);
}

float PhaseOffset(const UnitFitParams& p, int ph) {
  return (static_cast<float>(ph) - 0.5f * static_cast<float>(p.phases - 1)) /
         static_cast<float>(p.phases);
}

Best FitOne(const Unit& u, const Level& lv, const UnitFitParams& prm) {
  float sw = 0, sx = 0, sxx = 0;
  float lo = 0.0f, hi = -kInf;
  for (int i = 0; i < u.n; ++i) {
    const float x = u.X(i), w = u.W(i);
    const float wx = w * x;
    sw += w;
    sx += wx;
    sxx += wx * x;
    lo = MinF(x, lo);
    hi = MaxF(x, hi);
  }
  // The value of largest magnitude (the positive one on a tie).
  const float ext = hi >= -lo ? hi : lo;
  Best best;
  best.slack = sxx * 1e-6f;
  if (lv.lv.affine) {
    if (!(hi > lo)) {
      best.S = 0.0f;
      best.M = -lo;
      return best;
    }
    const float qmax = lv.Hi() - lv.Lo();
    const float range = (hi - lo) / qmax;
    for (int k = 0; k < prm.candidates; ++k) {
      const float s0 = range * Factor(prm, k);
      const float mc = 0.5f * ((lo + hi) - s0 * qmax);
      for (int ph = 0; ph < prm.phases; ++ph) {
        const float m0 = MaxF(-(mc + s0 * PhaseOffset(prm, ph)), 0.0f);
        // The least-squares fit on a candidate's codes is never worse than the
        // candidate itself, so only it is scored.
        const Pass p = Run(u, lv, s0, m0, nullptr);
        LsAffine(p, s0, sw, sx, sxx, &best);
      }
    }
    for (int it = 0; it < prm.lloyd; ++it) {
      const Pass p = Run(u, lv, best.S, best.M, nullptr);
      best.err = kInf;  // least squares on the re-chosen codes never loses
      LsAffine(p, best.S, sw, sx, sxx, &best);
    }
    return best;
  }
  if (ext == 0.0f) {
    best.S = 0.0f;
    return best;
  }
  const float bases[2] = {ext / lv.Lo(), ext / lv.Hi()};
  for (int bi = 0; bi < 2; ++bi) {
    const float base = bases[bi];
    const int nk = bi == 1 && prm.lean_second ? 1 : prm.candidates;
    for (int k = 0; k < nk; ++k) {
      const float s0 = base * Factor(prm, k);
      const Pass p = Run(u, lv, s0, 0.0f, nullptr);
      LsSymmetric(p, sxx, &best);
    }
  }
  for (int it = 0; it < prm.lloyd; ++it) {
    const Pass p = Run(u, lv, best.S, 0.0f, nullptr);
    best.err = kInf;
    LsSymmetric(p, sxx, &best);
  }
  return best;
}

Unit UnitAt(const UnitBatch& b, size_t u) {
  return Unit{b.x + u, b.w ? b.w + u : nullptr, b.units, b.n};
}

}  // namespace

void FitUnits(const UnitBatch& b, const UnitLevels& lv, const UnitFitParams& p,
              float* S, float* M) {
  const Level level(lv);
  for (size_t u = 0; u < b.units; ++u) {
    const Best best = FitOne(UnitAt(b, u), level, p);
    S[u] = best.S;
    M[u] = best.M;
  }
}

// A search candidate's error, computed in the code domain: with inv = 1 / S
// and t = x inv + M inv (one rounding), S^2 sum w (t - L(t))^2 accumulated
// with fused multiply-adds (infinite when S = 0).
float ScaledErr(const Unit& u, const Level& lv, float S, float M) {
  if (S == 0.0f) return kInf;
  const float inv = 1.0f / S;
  const float minv = M * inv;
  float e = 0.0f;
  for (int i = 0; i < u.n; ++i) {
    const float x = u.X(i), w = u.W(i);
    const float t = lv.lv.affine ? std::fma(x, inv, minv) : x * inv;
    int code;
    const float r = t - lv.Of(t, &code);
    e = std::fma(w * r, r, e);
  }
  return (S * S) * e;
}

void SearchUnitScales(const UnitBatch& b, const UnitLevels& lv,
                      const ScaleSearch& s, int32_t* sc, int32_t* mn,
                      float* err) {
  const Level level(lv);
  const float fsmin = static_cast<float>(s.smin),
              fsmax = static_cast<float>(s.smax),
              fmmax = static_cast<float>(s.mmax);
  for (size_t u = 0; u < b.units; ++u) {
    const Unit unit = UnitAt(b, u);
    const float d = s.d[u];
    const float dmin = lv.affine ? s.dmin[u] : 0.0f;
    const float sc0 =
        d != 0.0f ? RoundIn(s.s_target[u] / d, fsmin, fsmax) : 0.0f;
    const float mn0 = lv.affine && dmin != 0.0f
                          ? RoundIn(s.m_target[u] / dmin, 0.0f, fmmax)
                          : 0.0f;
    float best_sc = sc0, best_mn = mn0;
    float best = Run(unit, level, d * sc0, dmin * mn0, nullptr).err;
    const int rm = lv.affine ? s.rm : 0;
    const int cm = lv.affine ? s.cm : 0;
    for (int a = s.cs - s.rs; a <= s.cs + s.rs; ++a) {
      for (int c = cm - rm; c <= cm + rm; ++c) {
        if (a == 0 && c == 0) continue;
        const float t = sc0 + static_cast<float>(a);
        const float v = mn0 + static_cast<float>(c);
        if (t < fsmin || t > fsmax || v < 0.0f || v > fmmax) continue;
        const float e = ScaledErr(unit, level, d * t, dmin * v);
        if (e < best) {
          best = e;
          best_sc = t;
          best_mn = v;
        }
      }
    }
    sc[u] = static_cast<int32_t>(best_sc);
    mn[u] = static_cast<int32_t>(best_mn);
    err[u] = best;
  }
}

void EvalUnits(const UnitBatch& b, const UnitLevels& lv, const float* S,
               const float* M, float* err, uint8_t* codes,
               const UnitSums* sums) {
  const Level level(lv);
  for (size_t u = 0; u < b.units; ++u) {
    const Pass p = Run(UnitAt(b, u), level, S[u], M ? M[u] : 0.0f,
                       codes ? codes + u : nullptr);
    if (err) err[u] = p.err;
    if (sums) {
      if (sums->sl) sums->sl[u] = p.sl;
      if (sums->sll) sums->sll[u] = p.sll;
      if (sums->slx) sums->slx[u] = p.slx;
    }
  }
}

size_t TransposeUnits(const float* x, size_t units, int n, float* out) {
  const size_t padded = PaddedUnits(units);
  for (int i = 0; i < n; ++i) {
    float* row = out + static_cast<size_t>(i) * padded;
    for (size_t u = 0; u < units; ++u) row[u] = x[u * n + i];
    std::fill(row + units, row + padded, 0.0f);
  }
  return padded;
}

void UntransposeCodes(const uint8_t* codes, size_t units, int n, uint8_t* out) {
  const size_t padded = PaddedUnits(units);
  for (size_t u = 0; u < units; ++u) {
    for (int i = 0; i < n; ++i)
      out[u * n + i] = codes[static_cast<size_t>(i) * padded + u];
  }
}

}  // namespace reference

}  // namespace lowbit
