#include "quant/ggml_fit.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/half.h"
#include "core/round.h"

namespace lowbit {
namespace {

inline float W(const float* w, int i) { return w ? w[i] : 1.0f; }

// Codes and levels of a spec: uniform integers or a sorted table.
struct Levels {
  explicit Levels(const TwoLevelSpec& spec) : s(spec) {
    if (s.table != nullptr) {
      n_mid = s.qmax - s.qmin;
      for (int k = 0; k < n_mid; ++k)
        mid[k] = 0.5f * (s.table[k] + s.table[k + 1]);
    }
  }
  const TwoLevelSpec& s;
  float mid[16] = {};  // table: midpoints between neighbouring levels
  int n_mid = 0;
  float L(int q) const {
    return s.table ? s.table[q - s.qmin] : static_cast<float>(q);
  }
  // Index of the nearest table level: how many midpoints v is above (ties go
  // down).
  int TableIndex(float v) const {
    int k = 0;
    for (int j = 0; j < n_mid; ++j) k += v > mid[j];
    return k;
  }
  // Nearest code of v (in units of the scale).
  int Code(float v) const {
    if (s.table == nullptr) {
      return static_cast<int>(RoundClamp(v, static_cast<float>(s.qmin),
                                         static_cast<float>(s.qmax)));
    }
    return s.qmin + TableIndex(v);
  }
};

// For a step d, the offset m in [ma, mb] minimising sum w (x - (d c + m))^2
// with c = clamp(round((x - m) / d), 0, qmax), exactly. Within a window one
// step wide each value changes code at most once, so a window splits into at
// most n + 1 pieces with fixed codes, each solved in closed form; windows are
// scanned from ma to mb.
float BestOffset(const float* x, const float* w, int n, float d, int qmax,
                 float ma, float mb) {
  if (!(d > 0.0f) || !(mb >= ma)) return ma;
  const float inv = 1.0f / d;
  const float fq = static_cast<float>(qmax);
  struct Break {
    float t;
    double dr1, dr2, w;  // change of r and r^2 contributions
  };
  Break br[256];
  double best_e = std::numeric_limits<double>::infinity();
  float best_m = ma;
  for (float start = ma; start <= mb; start += d) {
    const float end = std::min(start + d, mb);
    int nb = 0;
    double sw = 0, s1 = 0, s2 = 0;  // sums of w, w r, w r^2 with r = x - d c
    for (int i = 0; i < n; ++i) {
      const float raw =
          RoundEven(std::clamp((x[i] - start) * inv, -1.0f, fq + 1.0f));
      const float c = std::clamp(raw, 0.0f, fq);
      const double wi = W(w, i), r = x[i] - d * c;
      sw += wi;
      s1 += wi * r;
      s2 += wi * r * r;
      if (raw >= 1.0f && raw <= fq) {
        // the code drops to raw - 1 once (x - m) / d falls below raw - 0.5
        const float t = x[i] - (raw - 0.5f) * d;
        if (t > start && t < end) {
          const double r1 = r + d;
          br[nb++] = {t, wi * (r1 - r), wi * (r1 * r1 - r * r), wi};
        }
      }
    }
    if (!(sw > 0)) return ma;
    std::sort(br, br + nb,
              [](const Break& a, const Break& b) { return a.t < b.t; });
    float lo = start;
    for (int k = 0; k <= nb; ++k) {
      const float hi = k < nb ? br[k].t : end;
      const double m =
          std::clamp(s1 / sw, static_cast<double>(lo), static_cast<double>(hi));
      const double e = s2 - 2 * m * s1 + m * m * sw;
      if (e < best_e) {
        best_e = e;
        best_m = static_cast<float>(m);
      }
      if (k < nb) {
        s1 += br[k].dr1;
        s2 += br[k].dr2;
        lo = hi;
      }
    }
  }
  return best_m;
}

// Error of one sub-block decoded as S * L(q) - M, with codes re-chosen; writes
// codes.
double SubError(const float* x, const float* w, int n, float S, float M,
                const Levels& lv, int* q) {
  const float inv = S != 0.0f ? 1.0f / S : 0.0f;
  if (lv.s.table == nullptr && q == nullptr) {
    // Uniform levels, error only: the rounding of Code() in straight-line float
    // code.
    const float lo = static_cast<float>(lv.s.qmin),
                hi = static_cast<float>(lv.s.qmax);
    return LaneSum<float>(n, w, [=](int i) {
      const float d = x[i] - (S * RoundClamp((x[i] + M) * inv, lo, hi) - M);
      return d * d;
    });
  }
  if (lv.s.table != nullptr && q == nullptr) {
    return LaneSum<float>(n, w, [=](int i) {
      const float d =
          x[i] - (S * lv.s.table[lv.TableIndex((x[i] + M) * inv)] - M);
      return d * d;
    });
  }
  double err = 0.0;
  for (int i = 0; i < n; ++i) {
    const int c = lv.Code((x[i] + M) * inv);
    if (q) q[i] = c;
    const float d = x[i] - (S * lv.L(c) - M);
    err += static_cast<double>(W(w, i)) * d * d;
  }
  return err;
}

struct SubFit {
  float S = 0.0f;
  float M = 0.0f;
  double err = std::numeric_limits<double>::infinity();
};

// Continuous (unquantized) best scale and minimum of one sub-block.
SubFit FitSub(const float* x, const float* w, int n, const Levels& lv) {
  const TwoLevelSpec& s = lv.s;
  SubFit best;
  auto consider = [&](float S, float M) {
    const double e = SubError(x, w, n, S, M, lv, nullptr);
    if (e < best.err) best = SubFit{S, M, e};
  };
  constexpr int kSteps = 20;
  int q[256];
  if (!s.has_min) {
    float ext = 0.0f;
    for (int i = 0; i < n; ++i) {
      if (std::fabs(x[i]) > std::fabs(ext)) ext = x[i];
    }
    if (ext == 0.0f) return SubFit{0.0f, 0.0f, 0.0};
    const float lmin = lv.L(s.qmin), lmax = lv.L(s.qmax);
    for (float base : {ext / lmin, ext / lmax}) {
      // 1.1 down to 0.6 in steps of 0.05, through exactly 1.0; the
      // least-squares steps below refine between them.
      for (int k = 0; k <= kSteps; k += 2) {
        consider(base * (1.1f - 0.025f * static_cast<float>(k)), 0.0f);
      }
    }
    for (int it = 0; it < 3; ++it) {  // least squares on S with the codes fixed
      SubError(x, w, n, best.S, 0.0f, lv, q);
      double num = 0, den = 0;
      for (int i = 0; i < n; ++i) {
        const double l = lv.L(q[i]);
        num += W(w, i) * x[i] * l;
        den += W(w, i) * l * l;
      }
      if (den <= 0) break;
      const double before = best.err;
      consider(static_cast<float>(num / den), 0.0f);
      if (!(best.err < before)) break;
    }
    return best;
  }
  float lo = 0.0f, hi = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (hi <= lo)
    return SubFit{0.0f, -lo, SubError(x, w, n, 0.0f, -lo, lv, nullptr)};
  const float qmax = static_cast<float>(s.qmax);
  consider((hi - lo) / qmax, -lo);  // the range
  constexpr int kMinSteps = 12;
  for (int k = 1; k <= kMinSteps; ++k) {
    const float S =
        (hi - lo) / qmax * (1.0f - 0.45f * static_cast<float>(k) / kMinSteps);
    // x ~ S q + m with m = -M <= 0
    // offsets within one step of the centred grid (clipping both ends equally)
    const float mc = 0.5f * (lo + hi - S * qmax);
    const float ma = mc - S;
    const float mb = std::min(0.0f, mc + S);
    consider(S, -BestOffset(x, w, n, S, s.qmax, std::min(ma, mb), mb));
  }
  for (int it = 0; it < 4;
       ++it) {  // least squares on (S, M) with the codes fixed
    SubError(x, w, n, best.S, best.M, lv, q);
    double sw = 0, sq = 0, sx = 0, sqq = 0, sqx = 0;
    for (int i = 0; i < n; ++i) {
      const double wi = W(w, i), l = q[i];
      sw += wi;
      sq += wi * l;
      sx += wi * x[i];
      sqq += wi * l * l;
      sqx += wi * l * x[i];
    }
    const double det = sw * sqq - sq * sq;
    if (!(det > 0)) break;
    double S = (sw * sqx - sq * sx) / det;
    double M = (S * sq - sx) / sw;  // x ~ S q - M
    if (M < 0) {
      M = 0;
      S = sqq > 0 ? sqx / sqq : 0;
    }
    const double before = best.err;
    consider(static_cast<float>(S), static_cast<float>(M));
    if (!(best.err < before)) break;
  }
  return best;
}

// Quantizes every sub-block with super-scales (d, dmin): integer sub-scales by
// rounding, then a joint local search within +-radius (0: none). Returns the
// total error.
double QuantizeSubs(const float* x, const float* w, const Levels& lv,
                    const SubFit* fits, float d, float dmin, int radius,
                    TwoLevelBlock* b) {
  const TwoLevelSpec& s = lv.s;
  double total = 0.0;
  int q[256];
  for (int j = 0; j < s.nsub; ++j) {
    const float* xs = x + j * s.sub;
    const float* ws = w ? w + j * s.sub : nullptr;
    const int sc0 =
        d != 0.0f ? static_cast<int>(std::clamp(std::nearbyint(fits[j].S / d),
                                                static_cast<float>(s.smin),
                                                static_cast<float>(s.smax)))
                  : 0;
    const int m0 =
        s.has_min && dmin != 0.0f
            ? static_cast<int>(std::clamp(std::nearbyint(fits[j].M / dmin),
                                          0.0f, static_cast<float>(s.mmax)))
            : 0;
    auto err = [&](int sc, int mn) {
      return SubError(xs, ws, s.sub, d * static_cast<float>(sc),
                      dmin * static_cast<float>(mn), lv, nullptr);
    };
    int sc = sc0, mn = m0;
    double best = err(sc, mn);
    // Joint search of the integer sub-scale and sub-minimum within +-kRadius:
    // the two are coupled (a larger scale wants a different minimum), so both
    // move together.
    if (radius > 0) {
      const int rm = s.has_min ? radius : 0;
      for (int a = -radius; a <= radius; ++a) {
        const int t = sc0 + a;
        if (t < s.smin || t > s.smax) continue;
        for (int c = -rm; c <= rm; ++c) {
          const int u = m0 + c;
          if ((a == 0 && c == 0) || u < 0 || u > s.mmax) continue;
          const double e = err(t, u);
          if (e < best) {
            best = e;
            sc = t;
            mn = u;
          }
        }
      }
    }
    b->sc[j] = sc;
    b->mn[j] = mn;
    SubError(xs, ws, s.sub, d * static_cast<float>(sc),
             dmin * static_cast<float>(mn), lv, q);
    std::copy(q, q + s.sub, b->q + j * s.sub);
    total += best;
  }
  return total;
}

}  // namespace

void FitAffineBlock(const float* x, const float* w, int n, int qmax,
                    AffineBlock* out) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  const float fq = static_cast<float>(qmax);
  double best = std::numeric_limits<double>::infinity();
  auto consider = [&](float d, float m) {
    d = RoundToF16(d);
    m = RoundToF16(m);
    const float inv = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t q[32];
    double e = 0.0;
    for (int i = 0; i < n; ++i) {
      const float c = RoundClamp((x[i] - m) * inv, 0.0f, fq);
      q[i] = static_cast<uint8_t>(c);
      const float diff = x[i] - (d * c + m);
      e += static_cast<double>(W(w, i)) * diff * diff;
    }
    if (e < best) {
      best = e;
      out->d = d;
      out->m = m;
      std::copy(q, q + n, out->q);
    }
  };
  consider((hi - lo) / fq, lo);  // the minmax candidate
  // Step sizes from the full range down to 0.55 of it; for each, the exactly
  // best offset.
  constexpr int kSteps = 24;
  for (int k = 1; k <= kSteps; ++k) {
    const float d =
        (hi - lo) / fq * (1.0f - 0.45f * static_cast<float>(k) / kSteps);
    // offsets within one step of the centred grid (clipping both ends equally)
    const float mc = 0.5f * (lo + hi - d * fq);
    consider(d, BestOffset(x, w, n, d, qmax, mc - d, mc + d));
  }
  for (int it = 0; it < 4;
       ++it) {  // least squares on (d, m) with the codes fixed
    double sw = 0, sq = 0, sx = 0, sqq = 0, sqx = 0;
    for (int i = 0; i < n; ++i) {
      const double wi = W(w, i), l = out->q[i];
      sw += wi;
      sq += wi * l;
      sx += wi * x[i];
      sqq += wi * l * l;
      sqx += wi * l * x[i];
    }
    const double det = sw * sqq - sq * sq;
    if (!(det > 0)) break;
    const double d = (sw * sqx - sq * sx) / det;
    const double m = (sx - d * sq) / sw;
    const double before = best;
    consider(static_cast<float>(d), static_cast<float>(m));
    if (!(best < before)) break;
  }
}

double TwoLevelError(const float* x, const float* w, const TwoLevelSpec& spec,
                     const TwoLevelBlock& b) {
  const Levels lv(spec);
  double e = 0.0;
  for (int j = 0; j < spec.nsub; ++j) {
    const float S = b.d * static_cast<float>(b.sc[j]);
    const float M = b.dmin * static_cast<float>(b.mn[j]);
    for (int i = 0; i < spec.sub; ++i) {
      const int k = j * spec.sub + i;
      const float diff = x[k] - (S * lv.L(b.q[k]) - M);
      e += static_cast<double>(W(w, k)) * diff * diff;
    }
  }
  return e;
}

void FitTwoLevel(const float* x, const float* w, const TwoLevelSpec& spec,
                 TwoLevelBlock* out) {
  const Levels lv(spec);
  SubFit fits[16];
  for (int j = 0; j < spec.nsub; ++j) {
    fits[j] =
        FitSub(x + j * spec.sub, w ? w + j * spec.sub : nullptr, spec.sub, lv);
  }
  // Super-scale bases: the extreme sub-scale onto the integer range.
  float sext = 0.0f, mmax = 0.0f;
  for (int j = 0; j < spec.nsub; ++j) {
    if (std::fabs(fits[j].S) > std::fabs(sext)) sext = fits[j].S;
    mmax = std::max(mmax, fits[j].M);
  }
  const float dmin0 = spec.has_min && spec.mmax > 0 ? mmax / spec.mmax : 0.0f;
  float bases[2];
  int nb = 0;
  if (spec.smin < 0) {
    bases[nb++] = sext / static_cast<float>(spec.smin);
    bases[nb++] = sext / static_cast<float>(spec.smax);
  } else {
    bases[nb++] = std::fabs(sext) / static_cast<float>(spec.smax);
  }
  float kFactors[40];
  int nf = 0;
  // Super-scale factors 1.02 down to 0.85: every 0.01 with minimums (their
  // offsets make the error more sensitive to it), every 0.02 without.
  const int kstep = spec.has_min ? 1 : 2;
  for (int k = -2; k <= 15; k += kstep) {
    kFactors[nf++] = 1.0f - 0.01f * static_cast<float>(k);
  }
  TwoLevelBlock trial;
  // Coarse pass: every candidate with rounded integer sub-scales; keep the kTop
  // best.
  constexpr int kTop = 3;
  struct Cand {
    double e;
    float d, dmin;
  };
  Cand top[kTop];
  for (Cand& c : top) c = {std::numeric_limits<double>::infinity(), 0.0f, 0.0f};
  for (int b = 0; b < nb; ++b) {
    for (int fi = 0; fi < nf; ++fi) {
      const float f = kFactors[fi];
      for (float fm : {1.0f, 0.98f, 0.95f}) {
        if (!spec.has_min && fm != 1.0f) continue;
        const float d = RoundToF16(bases[b] * f);
        const float dmin = RoundToF16(dmin0 * fm);
        const double e = QuantizeSubs(x, w, lv, fits, d, dmin, 0, &trial);
        if (e < top[kTop - 1].e) {
          int k = kTop - 1;
          while (k > 0 && e < top[k - 1].e) {
            top[k] = top[k - 1];
            --k;
          }
          top[k] = {e, d, dmin};
        }
      }
    }
  }
  // Fine pass: the local integer search for each of the best candidates.
  double best = std::numeric_limits<double>::infinity();
  float best_d = top[0].d, best_dmin = top[0].dmin;
  for (const Cand& c : top) {
    if (!std::isfinite(c.e)) continue;
    const double e = QuantizeSubs(x, w, lv, fits, c.d, c.dmin, 4, &trial);
    if (e < best) {
      best = e;
      best_d = c.d;
      best_dmin = c.dmin;
      *out = trial;
    }
  }
  out->d = best_d;
  out->dmin = best_dmin;
  // Least squares on (d, dmin) with the integer sub-scales and codes fixed,
  // then the sub-scales and codes re-chosen for the new super-scales.
  for (int it = 0; it < 2; ++it) {
    double a11 = 0, a12 = 0, a22 = 0, b1 = 0, b2 = 0;
    for (int j = 0; j < spec.nsub; ++j) {
      for (int i = 0; i < spec.sub; ++i) {
        const int k = j * spec.sub + i;
        const double wi = W(w, k);
        const double u = static_cast<double>(out->sc[j]) * lv.L(out->q[k]);
        const double v = -static_cast<double>(out->mn[j]);
        a11 += wi * u * u;
        a12 += wi * u * v;
        a22 += wi * v * v;
        b1 += wi * u * x[k];
        b2 += wi * v * x[k];
      }
    }
    double d, dmin;
    if (spec.has_min && a22 > 0) {
      const double det = a11 * a22 - a12 * a12;
      if (!(det > 0)) break;
      d = (b1 * a22 - b2 * a12) / det;
      dmin = (a11 * b2 - a12 * b1) / det;
    } else {
      if (!(a11 > 0)) break;
      d = b1 / a11;
      dmin = out->dmin;
    }
    if (spec.has_min && dmin < 0) dmin = 0;
    // Keep the integer sub-scales: re-derive the continuous fits' targets from
    // them.
    SubFit moved[16];
    for (int j = 0; j < spec.nsub; ++j) {
      moved[j].S = static_cast<float>(d) * static_cast<float>(out->sc[j]);
      moved[j].M = static_cast<float>(dmin) * static_cast<float>(out->mn[j]);
    }
    const float nd = RoundToF16(static_cast<float>(d));
    const float ndmin = RoundToF16(static_cast<float>(dmin));
    const double e = QuantizeSubs(x, w, lv, moved, nd, ndmin, 4, &trial);
    if (!(e < best)) break;
    best = e;
    trial.d = nd;
    trial.dmin = ndmin;
    *out = trial;
  }
}

}  // namespace lowbit
