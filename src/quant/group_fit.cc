#include "quant/group_fit.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/half.h"
#include "core/round.h"
#include "kernels/encode.h"
#include "kernels/reference/codecs.h"
#include "quant/hqq.h"

namespace lowbit {
namespace {

// Candidate clipping ratios for the mse search: 1.0 (the minmax candidate) down
// to kMinRatio in kSteps equal steps.
constexpr int kSteps = 48;
constexpr float kMinRatio = 0.4f;
constexpr int kRefineIters = 3;

inline float Ratio(int i) {
  return 1.0f - (1.0f - kMinRatio) * static_cast<float>(i) / kSteps;
}

// The scalar codecs (kernels/reference/codecs.h) serve the least-squares
// refinements, which need codes one at a time; errors and codes of whole
// groups come from the SIMD kernels (kernels/encode.h).
using IntCodec = codecs::Int;
using TableCodec = codecs::Table;
using Fp4Codec = codecs::Fp4;

// The weighted squared error of a group under scale s (and zero point or
// ternary threshold).
double GroupError(const Scheme& sc, const float* x, const float* w, int64_t n,
                  float s, int zero = 0, float threshold = 0.0f) {
  return EncodeError(sc, CodeParams{s, zero, threshold}, x, w, n);
}

// Least-squares scale for the codes that scale s gives: sum(w x l) / sum(w
// l^2).
template <class Codec>
float LeastSquaresScale(const float* x, const float* w, int64_t n, float s,
                        const Codec& codec) {
  const float inv = s != 0.0f ? 1.0f / s : 0.0f;
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double l = codec.Level(codec.Encode(x[i] * inv));
    const double wi = w ? w[i] : 1.0;
    num += wi * x[i] * l;
    den += wi * l * l;
  }
  return den > 0.0 ? static_cast<float>(num / den) : s;
}

// Value of x with the largest magnitude (the first such, keeping its sign).
float Extreme(const float* x, int64_t n) {
  float e = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > std::fabs(e)) e = x[i];
  }
  return e;
}

// p-th percentile (0..100] of v (modified), linear interpolation between order
// stats.
float Percentile(std::vector<float>& v, double p) {
  if (v.empty()) return 0.0f;
  const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  const size_t k = static_cast<size_t>(pos);
  std::nth_element(v.begin(), v.begin() + k, v.end());
  const float a = v[k];
  if (k + 1 >= v.size()) return a;
  const float b = *std::min_element(v.begin() + k + 1, v.end());
  return a + static_cast<float>(pos - k) * (b - a);
}

// Scale search shared by the symmetric schemes: candidates base * Ratio(i) for
// each base, then least-squares refinement of the best. `bases[0]` is the
// minmax scale.
template <class Codec>
GroupFit SearchScale(const float* x, const float* w, int64_t n,
                     const float* bases, int nbases, bool search, ScaleType st,
                     const Scheme& sc, int zero, const Codec& codec) {
  GroupFit best;
  best.scale = RoundScale(bases[0], st);
  best.err = GroupError(sc, x, w, n, best.scale, zero);
  if (!search) return best;
  // Coarse to fine: every kCoarse-th ratio, then the fine ratios around the
  // best one.
  constexpr int kCoarse = 4;
  for (int b = 0; b < nbases; ++b) {
    int best_i = -1;
    double best_b = std::numeric_limits<double>::infinity();
    auto try_ratio = [&](int i) {
      const float s = RoundScale(bases[b] * Ratio(i), st);
      const double e = GroupError(sc, x, w, n, s, zero);
      if (e < best_b) {
        best_b = e;
        best_i = i;
      }
      if (e < best.err) {
        best.err = e;
        best.scale = s;
      }
    };
    for (int i = 0; i <= kSteps; i += kCoarse) try_ratio(i);
    const int center = best_i;
    for (int i = std::max(0, center - kCoarse + 1);
         i <= std::min(kSteps, center + kCoarse - 1); ++i) {
      if (i != center) try_ratio(i);
    }
  }
  for (int it = 0; it < kRefineIters; ++it) {
    const float s =
        RoundScale(LeastSquaresScale(x, w, n, best.scale, codec), st);
    if (s == best.scale) break;
    const double e = GroupError(sc, x, w, n, s, zero);
    if (!(e < best.err)) break;
    best.err = e;
    best.scale = s;
  }
  return best;
}

GroupFit FitSymmetricInt(const float* x, const float* w, int64_t n, int bits,
                         const MethodSpec& m, ScaleType st) {
  const float half = static_cast<float>(1 << (bits - 1));
  const IntCodec codec{static_cast<float>((1 << bits) - 1), half};
  float ext = Extreme(x, n);
  if (m.method == Method::kPercentile) {
    std::vector<float> a(x, x + n);
    for (float& v : a) v = std::fabs(v);
    ext = std::copysign(Percentile(a, m.percentile), ext);
  }
  // The extreme value maps to the level -2^(b-1), the one with the largest
  // magnitude; the second base maps it to +(2^(b-1) - 1) instead.
  const float bases[2] = {ext / -half, ext / (half - 1.0f)};
  GroupFit f = SearchScale(x, w, n, bases, 2, m.method == Method::kMse, st,
                           Scheme{SchemeKind::kInt, bits},
                           static_cast<int>(half), codec);
  f.zero = static_cast<int>(half);
  return f;
}

// x ~ a c + b by weighted least squares on the codes c that `codec` gives
// at 1/inv; false when the codes do not vary.
bool AffineFit(const float* x, const float* w, int64_t n, const IntCodec& codec,
               float inv, double* a, double* b) {
  double sw = 0, sc = 0, sx = 0, scc = 0, scx = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double wi = w ? w[i] : 1.0;
    const double c = codec.Encode(x[i] * inv);
    sw += wi;
    sc += wi * c;
    sx += wi * x[i];
    scc += wi * c * c;
    scx += wi * c * x[i];
  }
  const double var = sw * scc - sc * sc;
  if (!(var > 0.0)) return false;
  *a = (sw * scx - sc * sx) / var;
  *b = (sx - *a * sc) / sw;
  return true;
}

// From the fit `best` (code zero point): x ~ a c + b by weighted least squares
// on the codes c, then the codes again, kFloatZeroIters times; the scale
// rounded to its type, the zero point -b / a to f16. Keeps the best.
constexpr int kFloatZeroIters = 6;

void RefitFloatZero(const float* x, const float* w, int64_t n, int bits,
                    ScaleType st, GroupFit* best) {
  if (!(best->scale > 0.0f)) return;  // an all-zero group
  const float qmax = static_cast<float>((1 << bits) - 1);
  const Scheme sc{SchemeKind::kInt, bits};
  GroupFit cur = *best;
  for (int it = 0; it < kFloatZeroIters; ++it) {
    const IntCodec codec{qmax, static_cast<float>(cur.zero), cur.offset};
    double a, b;
    if (!AffineFit(x, w, n, codec, 1.0f / cur.scale, &a, &b)) break;
    const float s = RoundScale(static_cast<float>(a), st);
    if (!(s > 0.0f) || !std::isfinite(s)) break;
    const double z = -b / s;
    if (!std::isfinite(z)) break;
    GroupFit next;
    next.scale = s;
    SetFitZero(StoredZeroPoint(z, bits, ZeroType::kF16), &next);
    next.err = EncodeError(sc, next.params(), x, w, n);
    if (!(next.err < cur.err) && it > 0) break;
    cur = next;
    if (cur.err < best->err) *best = cur;
  }
}

// Asymmetric int with an f16 zero point (kMse): a clipping search with a
// free zero point, then RefitFloatZero. The range [lo ra, hi rb] for
// kF16Steps x kF16Steps ratios ra, rb in [kF16MinRatio, 1], each end clipped
// alone, the zero point -lo ra / s rounded to f16. Integer zero points are
// not among the candidates: they leave each group a mean error, which the
// inputs' mean turns into an output bias (measured on the recognizer with
// equalization: 54 errors with them among the candidates, 12 without). No code
// zero point's search first: it clips deeper (ratios down to kMinRatio) for a
// lower squared error that the recognizer's accuracy does not follow (measured,
// int4 g32 data-free, with equalization: 37 character errors in 943 from the
// code zero point's fit, 8 from this one).
constexpr int kF16Steps = 11;
constexpr float kF16MinRatio = 0.5f;

GroupFit FitFloatZeroInt(const float* x, const float* w, int64_t n, int bits,
                         ScaleType st) {
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  const Scheme sc{SchemeKind::kInt, bits};
  GroupFit best;  // an all-zero group: scale 0, zero point 0
  best.err = EncodeError(sc, best.params(), x, w, n);
  if (!(hi > lo)) return best;
  const float qmax = static_cast<float>((1 << bits) - 1);
  auto ratio = [](int i) {
    return 1.0f - (1.0f - kF16MinRatio) * static_cast<float>(i) /
                      static_cast<float>(kF16Steps - 1);
  };
  bool first = true;
  for (int a = 0; a < kF16Steps; ++a) {
    const float l = lo * ratio(a);
    for (int b = 0; b < kF16Steps; ++b) {
      const float s = RoundScale((hi * ratio(b) - l) / qmax, st);
      if (!(s > 0.0f) || !std::isfinite(s)) continue;
      GroupFit f;
      f.scale = s;
      SetFitZero(StoredZeroPoint(-l / s, bits, ZeroType::kF16), &f);
      f.err = EncodeError(sc, f.params(), x, w, n);
      if (first || f.err < best.err) best = f;
      first = false;
    }
  }
  RefitFloatZero(x, w, n, bits, st, &best);
  return best;
}

GroupFit FitAsymmetricInt(const float* x, const float* w, int64_t n, int bits,
                          const MethodSpec& m, ScaleType st) {
  const int qmax = (1 << bits) - 1;
  float lo = 0.0f, hi = 0.0f;
  if (m.method == Method::kPercentile) {
    std::vector<float> a(x, x + n);
    hi = Percentile(a, m.percentile);
    lo = Percentile(a, 100.0 - m.percentile);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
  }
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  auto zero_for = [&](float s, float anchor_lo) {
    if (s == 0.0f) return 0;
    return static_cast<int>(std::clamp(std::nearbyint(-anchor_lo / s), 0.0f,
                                       static_cast<float>(qmax)));
  };
  auto eval = [&](float s, int z) {
    return GroupError(Scheme{SchemeKind::kInt, bits}, x, w, n, s, z);
  };
  GroupFit best;
  best.scale = RoundScale((hi - lo) / static_cast<float>(qmax), st);
  best.zero = zero_for(best.scale, lo);
  best.err = eval(best.scale, best.zero);
  if (m.method != Method::kMse || best.scale == 0.0f) return best;
  auto consider = [&](float s, int z) {
    z = std::clamp(z, 0, qmax);
    const double e = eval(s, z);
    if (e < best.err) best = GroupFit{s, z, 0.0f, e};
  };
  for (int i = 0; i <= kSteps; ++i) {
    const float s =
        RoundScale((hi - lo) * Ratio(i) / static_cast<float>(qmax), st);
    if (s == 0.0f) continue;
    const int z_lo = zero_for(s, lo);
    const int z_hi = qmax - static_cast<int>(std::nearbyint(hi / s));
    const int z_mid = static_cast<int>(
        std::nearbyint((static_cast<float>(qmax) - (hi + lo) / s) * 0.5f));
    consider(s, z_lo);
    if (z_hi != z_lo) consider(s, z_hi);
    if (z_mid != z_lo && z_mid != z_hi) consider(s, z_mid);
  }
  // Least-squares refinement: regress x on the codes, x ~ a * c + b.
  for (int it = 0; it < kRefineIters; ++it) {
    const IntCodec codec{static_cast<float>(qmax),
                         static_cast<float>(best.zero)};
    double a, b;
    if (!AffineFit(x, w, n, codec, 1.0f / best.scale, &a, &b)) break;
    const float s = RoundScale(static_cast<float>(a), st);
    if (!(s > 0.0f)) break;
    const int z = static_cast<int>(std::nearbyint(-b / s));
    const double before = best.err;
    consider(s, z);
    if (!(best.err < before)) break;
  }
  return best;
}

GroupFit FitBinary(const float* x, const float* w, int64_t n, ScaleType st) {
  // alpha = weighted mean |x|: the least-squares scale for sign codes
  // (XNOR-Net).
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double wi = w ? w[i] : 1.0;
    num += wi * std::fabs(x[i]);
    den += wi;
  }
  GroupFit f;
  f.scale = RoundScale(den > 0 ? static_cast<float>(num / den) : 0.0f, st);
  double err = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = x[i] - (x[i] >= 0.0f ? f.scale : -f.scale);
    err += (w ? w[i] : 1.0) * d * d;
  }
  f.err = err;
  return f;
}

GroupFit FitTernary(const float* x, const float* w, int64_t n,
                    const MethodSpec& m, ScaleType st) {
  GroupFit f;
  if (m.method != Method::kMse) {
    // TWN: threshold 0.7 * mean|x|; alpha = mean |x| over the values above it.
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += std::fabs(x[i]);
    const float delta = n > 0 ? static_cast<float>(0.7 * sum / n) : 0.0f;
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      if (std::fabs(x[i]) > delta) {
        const double wi = w ? w[i] : 1.0;
        num += wi * std::fabs(x[i]);
        den += wi;
      }
    }
    f.scale = RoundScale(den > 0 ? static_cast<float>(num / den) : 0.0f, st);
    f.threshold = f.scale != 0.0f ? delta / f.scale : 0.0f;
    f.err = GroupError(Scheme{SchemeKind::kTernary, 2}, x, w, n, f.scale, 0,
                       f.threshold);
    return f;
  }
  // Exact optimum over thresholds: keeping the k largest |x| with alpha = their
  // weighted mean removes (sum w|x|)^2 / sum w of error; scan k over the sorted
  // magnitudes.
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
    return std::fabs(x[a]) > std::fabs(x[b]);
  });
  double sa = 0.0, sw = 0.0, best_gain = -1.0, best_alpha = 0.0;
  for (int64_t k = 0; k < n; ++k) {
    const double wi = w ? w[idx[k]] : 1.0;
    sa += wi * std::fabs(x[idx[k]]);
    sw += wi;
    if (sw > 0.0 && sa * sa / sw > best_gain) {
      best_gain = sa * sa / sw;
      best_alpha = sa / sw;
    }
  }
  f.scale = RoundScale(static_cast<float>(best_alpha), st);
  f.threshold = 0.5f;  // nearest level
  f.err = GroupError(Scheme{SchemeKind::kTernary, 2}, x, w, n, f.scale, 0,
                     f.threshold);
  return f;
}

GroupFit FitMxfp4(const float* x, const float* w, int64_t n,
                  const MethodSpec& m) {
  const Scheme sc{SchemeKind::kMxfp4, 4};
  float amax = 0.0f;
  if (m.method == Method::kPercentile) {
    std::vector<float> a(x, x + n);
    for (float& v : a) v = std::fabs(v);
    amax = Percentile(a, m.percentile);
  } else {
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  }
  // OCP MX v1.0: shared exponent floor(log2(amax)) - emax(E2M1) with emax = 2.
  int e = amax > 0.0f ? std::ilogb(amax) - 2 : -127;
  e = std::clamp(e, -127, 127);
  GroupFit best;
  best.scale = std::ldexp(1.0f, e);
  best.err = GroupError(sc, x, w, n, best.scale);
  if (m.method == Method::kMse) {
    for (int d : {1, -1}) {
      const int e2 = std::clamp(e + d, -127, 127);
      const float s = std::ldexp(1.0f, e2);
      const double err = GroupError(sc, x, w, n, s);
      if (err < best.err) best = GroupFit{s, 0, 0.0f, err};
    }
  }
  return best;
}

template <class Codec>
GroupFit FitScaledTable(const float* x, const float* w, int64_t n, float lmax,
                        bool both_signs, const MethodSpec& m, ScaleType st,
                        const Scheme& sc, const Codec& codec) {
  float amax = 0.0f;
  if (m.method == Method::kPercentile) {
    std::vector<float> a(x, x + n);
    for (float& v : a) v = std::fabs(v);
    amax = Percentile(a, m.percentile);
  } else {
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  }
  const float bases[2] = {amax / lmax, -amax / lmax};
  return SearchScale(x, w, n, bases, both_signs ? 2 : 1,
                     m.method == Method::kMse, st, sc, 0, codec);
}

}  // namespace

float RoundScale(float s, ScaleType t) {
  return t == ScaleType::kF16 ? RoundToF16(s) : s;
}

float StoredZeroPoint(double z, int bits, ZeroType t) {
  const double qmax = (1 << bits) - 1;
  if (t == ZeroType::kCode) {
    return static_cast<float>(std::clamp(std::nearbyint(z), 0.0, qmax));
  }
  return RoundToF16(static_cast<float>(std::clamp(z, -qmax, 2.0 * qmax)));
}

void SetFitZero(float z, GroupFit* fit) {
  const float zi = std::nearbyint(z);
  fit->zero = static_cast<int>(zi);
  fit->offset = z - zi;
}

namespace {

GroupFit FitGroupOnce(const float* x, const float* w, int64_t n,
                      const Scheme& scheme, bool symmetric,
                      const MethodSpec& method, ScaleType st,
                      ZeroType zero_type) {
  const float* lv = scheme.Levels().data();
  switch (scheme.kind) {
    case SchemeKind::kInt:
      if (method.method == Method::kHqq) {
        return FitHqq(x, n, scheme.bits, symmetric, st, zero_type);
      }
      if (symmetric) return FitSymmetricInt(x, w, n, scheme.bits, method, st);
      if (zero_type == ZeroType::kF16 && method.method == Method::kMse) {
        return FitFloatZeroInt(x, w, n, scheme.bits, st);
      }
      return FitAsymmetricInt(x, w, n, scheme.bits, method, st);
    case SchemeKind::kBinary:
      return FitBinary(x, w, n, st);
    case SchemeKind::kTernary:
      return FitTernary(x, w, n, method, st);
    case SchemeKind::kNf4:
      return FitScaledTable(x, w, n, 1.0f, true, method, st, scheme,
                            TableCodec{lv, 16});
    case SchemeKind::kFp8E4M3:
      return FitScaledTable(x, w, n, 448.0f, false, method, st, scheme,
                            codecs::Fp8E4M3{lv});
    case SchemeKind::kFp8E5M2:
      return FitScaledTable(x, w, n, 57344.0f, false, method, st, scheme,
                            codecs::Fp8E5M2{lv});
    case SchemeKind::kFp4E2M1:
      return FitScaledTable(x, w, n, 6.0f, false, method, st, scheme,
                            Fp4Codec{lv});
    case SchemeKind::kMxfp4:
      return FitMxfp4(x, w, n, method);
    case SchemeKind::kKmeans:
      break;
  }
  LB_CHECK(false && "FitGroup: k-means has no fixed level table");
  return {};
}

}  // namespace

GroupFit FitGroup(const float* x, const float* w, int64_t n,
                  const Scheme& scheme, bool symmetric,
                  const MethodSpec& method, ScaleType st, ZeroType zero_type) {
  GroupFit f = FitGroupOnce(x, w, n, scheme, symmetric, method, st, zero_type);
  const bool guard = w != nullptr && method.unweighted_guard;
  // Weighted: never worse, under the weighted error, than the unweighted
  // fit (the searches are heuristic; the guard makes the relation hold).
  auto keep_better = [&](const GroupFit& u) {
    const double e = EncodeError(scheme, u.params(), x, w, n);
    if (e < f.err) {
      f = u;
      f.err = e;
    }
  };
  GroupFit u;  // the unweighted fit, its own error
  if (guard) {
    u = FitGroupOnce(x, nullptr, n, scheme, symmetric, method, st, zero_type);
    f.err = EncodeError(scheme, f.params(), x, w, n);
    keep_better(u);
  }
  return f;
}

void EncodeGroup(const float* x, int64_t n, const Scheme& scheme,
                 const GroupFit& fit, const MethodSpec& method,
                 uint8_t* codes) {
  (void)method;
  LB_CHECK(EncodeSupports(scheme) &&
           "EncodeGroup: k-means codes come from the codebook");
  EncodeValues(scheme, fit.params(), x, n, codes);
}

}  // namespace lowbit
