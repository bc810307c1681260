// Highway version of kernels/unit_fit.h: one unit per lane. Every lane runs
// the float operations of kernels/reference/unit_fit.cc in the same order, so
// the two agree bit for bit on every target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/unit_fit.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format off
#include "hwy/highway.h"
// clang-format on
#include <limits>

#include "kernels/unit_fit.h"

HWY_BEFORE_NAMESPACE();
namespace lowbit {
namespace HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23, as RoundEven

// Selects as the reference's MinF / MaxF (the second operand on ties, whatever
// the target's min/max instructions do with signed zeros).
HWY_INLINE VF MinF(VF a, VF b) { return hn::IfThenElse(hn::Lt(a, b), a, b); }
HWY_INLINE VF MaxF(VF a, VF b) { return hn::IfThenElse(hn::Gt(a, b), a, b); }

// clamp(round-to-even(v)) as the reference's RoundIn. The magic-number
// rounding never yields -0, so plain min/max are exact here.
HWY_INLINE VF RoundIn(DF df, VF v, float lo, float hi) {
  const VF m = hn::Set(df, kMagic);
  v = hn::Min(hn::Max(v, hn::Set(df, lo - 1.0f)), hn::Set(df, hi + 1.0f));
  v = hn::Sub(hn::Add(v, m), m);
  return hn::Min(hn::Max(v, hn::Set(df, lo)), hn::Set(df, hi));
}

struct Lv {
  explicit Lv(const UnitLevels& l)
      : table(l.table),
        qmin(static_cast<float>(l.qmin)),
        qmax(static_cast<float>(l.qmax)),
        nmid(l.qmax - l.qmin) {
    if (table) {
      for (int k = 0; k < nmid; ++k) mid[k] = 0.5f * (table[k] + table[k + 1]);
    }
  }
  float Lo() const { return table ? table[0] : qmin; }
  float Hi() const { return table ? table[nmid] : qmax; }
  const float* table;
  float qmin, qmax;
  int nmid;
  float mid[256] = {};
};

// The nearest level of v; with kCode also its index (code - qmin) as a float.
template <bool kTable, bool kCode>
HWY_INLINE VF LevelOf(DF df, const Lv& lv, VF v, VF* code) {
  if constexpr (!kTable) {
    // Round (ties to even, sign kept) then clamp: as the reference's Nearest.
    const VF q = hn::Min(hn::Max(hn::Round(v), hn::Set(df, lv.qmin)),
                         hn::Set(df, lv.qmax));
    if constexpr (kCode) *code = hn::Sub(q, hn::Set(df, lv.qmin));
    return q;
  } else {
    VF l = hn::Set(df, lv.table[0]);
    VF k = hn::Zero(df);
    const VF one = hn::Set(df, 1.0f);
    for (int j = 0; j < lv.nmid; ++j) {
      const auto above = hn::Gt(v, hn::Set(df, lv.mid[j]));
      l = hn::IfThenElse(above, hn::Set(df, lv.table[j + 1]), l);
      if constexpr (kCode) k = hn::Add(k, hn::IfThenElseZero(above, one));
    }
    if constexpr (kCode) *code = k;
    return l;
  }
}

struct PassV {
  VF err, sl, sll, slx;
};

// One pass over the lanes at unit u0 with the nearest codes at (S, M): the
// squared error with kErr, the least-squares sums with kSums (sum w L only
// when affine).
template <bool kTable, bool kW, bool kErr, bool kSums, bool kAffine>
HWY_INLINE PassV Run(DF df, const UnitBatch& b, size_t u0, const Lv& lv, VF S,
                     VF M) {
  const VF zero = hn::Zero(df);
  const VF inv =
      hn::IfThenElseZero(hn::Ne(S, zero), hn::Div(hn::Set(df, 1.0f), S));
  PassV p{zero, zero, zero, zero};
  for (int i = 0; i < b.n; ++i) {
    const size_t off = static_cast<size_t>(i) * b.units + u0;
    const VF x = hn::LoadU(df, b.x + off);
    VF code;
    const VF xm = kAffine ? hn::Add(x, M) : x;
    const VF l = LevelOf<kTable, false>(df, lv, hn::Mul(xm, inv), &code);
    const VF w = kW ? hn::LoadU(df, b.w + off) : zero;
    if constexpr (kErr) {
      const VF r = hn::Sub(xm, hn::Mul(S, l));
      p.err = hn::Add(p.err, kW ? hn::Mul(hn::Mul(w, r), r) : hn::Mul(r, r));
    }
    if constexpr (kSums) {
      const VF wl = kW ? hn::Mul(w, l) : l;
      if constexpr (kAffine) p.sl = hn::Add(p.sl, wl);
      p.sll = hn::Add(p.sll, hn::Mul(wl, l));
      p.slx = hn::Add(p.slx, hn::Mul(wl, x));
    }
  }
  return p;
}

// The codes (level index) at (S, M), as bytes in the batch layout.
template <bool kTable, bool kAffine>
HWY_INLINE void Codes(DF df, const UnitBatch& b, size_t u0, const Lv& lv, VF S,
                      VF M, uint8_t* codes) {
  const hn::Rebind<int32_t, DF> di;
  const hn::Rebind<uint8_t, DF> d8;
  const VF inv = hn::IfThenElseZero(hn::Ne(S, hn::Zero(df)),
                                    hn::Div(hn::Set(df, 1.0f), S));
  for (int i = 0; i < b.n; ++i) {
    const size_t off = static_cast<size_t>(i) * b.units + u0;
    const VF x = hn::LoadU(df, b.x + off);
    const VF xm = kAffine ? hn::Add(x, M) : x;
    VF code;
    LevelOf<kTable, true>(df, lv, hn::Mul(xm, inv), &code);
    hn::StoreU(hn::DemoteTo(d8, hn::ConvertTo(di, code)), d8, codes + off);
  }
}

struct BestV {
  VF S, M, err;
  HWY_INLINE void Consider(VF s, VF m, VF e) {
    const auto better = hn::Lt(e, err);
    S = hn::IfThenElse(better, s, S);
    M = hn::IfThenElse(better, m, M);
    err = hn::IfThenElse(better, e, err);
  }
};

HWY_INLINE void LsAffine(DF df, const PassV& p, VF s0, VF sw, VF sx, VF sxx,
                         BestV* best) {
  const VF zero = hn::Zero(df);
  const VF det = hn::Sub(hn::Mul(sw, p.sll), hn::Mul(p.sl, p.sl));
  VF a = hn::IfThenElse(
      hn::Gt(det, zero),
      hn::Div(hn::Sub(hn::Mul(sw, p.slx), hn::Mul(p.sl, sx)), det), s0);
  VF m = hn::Div(hn::Sub(hn::Mul(a, p.sl), sx), sw);
  const auto neg = hn::Not(hn::Ge(m, zero));
  m = hn::IfThenElse(neg, zero, m);
  a = hn::IfThenElse(
      neg,
      hn::IfThenElseZero(hn::Gt(p.sll, zero), hn::Div(p.slx, p.sll)), a);
  const VF two = hn::Set(df, 2.0f);
  const VF ta = hn::Mul(two, a), tm = hn::Mul(two, m);
  VF e = hn::Add(hn::Mul(hn::Mul(a, a), p.sll), hn::Mul(hn::Mul(m, m), sw));
  e = hn::Add(e, sxx);
  e = hn::Sub(e, hn::Mul(hn::Mul(ta, m), p.sl));
  e = hn::Sub(e, hn::Mul(ta, p.slx));
  e = hn::Add(e, hn::Mul(tm, sx));
  best->Consider(a, m, e);
}

HWY_INLINE void LsSymmetric(DF df, const PassV& p, VF sxx, BestV* best) {
  const VF zero = hn::Zero(df);
  const VF a =
      hn::IfThenElseZero(hn::Gt(p.sll, zero), hn::Div(p.slx, p.sll));
  best->Consider(a, zero, hn::Sub(sxx, hn::Mul(a, p.slx)));
}

float Factor(const UnitFitParams& p, int k) {
  return 1.0f -
         p.shrink * static_cast<float>(k) / static_cast<float>(p.candidates);
}

float PhaseOffset(const UnitFitParams& p, int ph) {
  return (static_cast<float>(ph) - 0.5f * static_cast<float>(p.phases - 1)) /
         static_cast<float>(p.phases);
}

template <bool kTable, bool kW, bool kAffine>
void FitT(const UnitBatch& b, const Lv& lv, const UnitFitParams& prm, float* S,
          float* M) {
  constexpr bool affine = kAffine;
  const DF df;
  const size_t N = hn::Lanes(df);
  const VF zero = hn::Zero(df);
  const VF inf = hn::Set(df, std::numeric_limits<float>::infinity());
  for (size_t u0 = 0; u0 < b.units; u0 += N) {
    VF sw = zero, sx = zero, sxx = zero, lo = zero, hi = hn::Neg(inf),
       ext = zero;
    for (int i = 0; i < b.n; ++i) {
      const size_t off = static_cast<size_t>(i) * b.units + u0;
      const VF x = hn::LoadU(df, b.x + off);
      const VF w = kW ? hn::LoadU(df, b.w + off) : hn::Set(df, 1.0f);
      const VF wx = kW ? hn::Mul(w, x) : x;
      sw = hn::Add(sw, w);
      sx = hn::Add(sx, wx);
      sxx = hn::Add(sxx, hn::Mul(wx, x));
      lo = MinF(x, lo);
      hi = MaxF(x, hi);
      ext = hn::IfThenElse(hn::Gt(hn::Abs(x), hn::Abs(ext)), x, ext);
    }
    BestV best{zero, zero, inf};
    if (affine) {
      const float fq = lv.Hi() - lv.Lo();
      const VF qmax = hn::Set(df, fq);
      const VF range = hn::Div(hn::Sub(hi, lo), qmax);
      for (int k = 0; k < prm.candidates; ++k) {
        const VF s0 = hn::Mul(range, hn::Set(df, Factor(prm, k)));
        const VF mc = hn::Mul(hn::Set(df, 0.5f),
                              hn::Sub(hn::Add(lo, hi), hn::Mul(s0, qmax)));
        for (int ph = 0; ph < prm.phases; ++ph) {
          const VF m0 = MaxF(
              hn::Neg(hn::Add(mc, hn::Mul(s0, hn::Set(df, PhaseOffset(prm, ph))))),
              zero);
          if (k == 0) {
            const PassV p =
                Run<kTable, kW, true, true, kAffine>(df, b, u0, lv, s0, m0);
            best.Consider(s0, m0, p.err);
            LsAffine(df, p, s0, sw, sx, sxx, &best);
            continue;
          }
          const PassV p =
              Run<kTable, kW, false, true, kAffine>(df, b, u0, lv, s0, m0);
          LsAffine(df, p, s0, sw, sx, sxx, &best);
        }
      }
      for (int it = 0; it < prm.lloyd; ++it) {
        const PassV p = Run<kTable, kW, false, true, kAffine>(df, b, u0, lv,
                                                              best.S, best.M);
        best.err = inf;  // least squares on the re-chosen codes never loses
        LsAffine(df, p, best.S, sw, sx, sxx, &best);
      }
      // Degenerate units (hi <= lo): S = 0, M = -lo.
      const auto flat = hn::Not(hn::Gt(hi, lo));
      best.S = hn::IfThenElse(flat, zero, best.S);
      best.M = hn::IfThenElse(flat, hn::Neg(lo), best.M);
    } else {
      const VF bases[2] = {hn::Div(ext, hn::Set(df, lv.Lo())),
                           hn::Div(ext, hn::Set(df, lv.Hi()))};
      for (const VF base : bases) {
        for (int k = 0; k < prm.candidates; ++k) {
          const VF s0 = hn::Mul(base, hn::Set(df, Factor(prm, k)));
          if (k == 0) {
            const PassV p =
                Run<kTable, kW, true, true, kAffine>(df, b, u0, lv, s0, zero);
            best.Consider(s0, zero, p.err);
            LsSymmetric(df, p, sxx, &best);
            continue;
          }
          const PassV p =
              Run<kTable, kW, false, true, kAffine>(df, b, u0, lv, s0, zero);
          LsSymmetric(df, p, sxx, &best);
        }
      }
      for (int it = 0; it < prm.lloyd; ++it) {
        const PassV p =
            Run<kTable, kW, false, true, kAffine>(df, b, u0, lv, best.S, zero);
        best.err = inf;
        LsSymmetric(df, p, sxx, &best);
      }
      best.S = hn::IfThenElseZero(hn::Ne(ext, zero), best.S);
      best.M = zero;
    }
    hn::StoreU(best.S, df, S + u0);
    hn::StoreU(best.M, df, M + u0);
  }
}

template <bool kTable, bool kW, bool kAffine>
void SearchT(const UnitBatch& b, const Lv& lv, const ScaleSearch& s,
             int32_t* sc, int32_t* mn, float* err) {
  constexpr bool affine = kAffine;
  const DF df;
  const hn::Rebind<int32_t, DF> di;
  const size_t N = hn::Lanes(df);
  const VF zero = hn::Zero(df);
  const float fsmin = static_cast<float>(s.smin),
              fsmax = static_cast<float>(s.smax),
              fmmax = static_cast<float>(s.mmax);
  const int rm = affine ? s.rm : 0;
  for (size_t u0 = 0; u0 < b.units; u0 += N) {
    const VF d = hn::LoadU(df, s.d + u0);
    const VF dmin = affine ? hn::LoadU(df, s.dmin + u0) : zero;
    const VF sc0 = hn::IfThenElseZero(
        hn::Ne(d, zero),
        RoundIn(df, hn::Div(hn::LoadU(df, s.s_target + u0), d), fsmin, fsmax));
    const VF mn0 =
        affine ? hn::IfThenElseZero(
                     hn::Ne(dmin, zero),
                     RoundIn(df, hn::Div(hn::LoadU(df, s.m_target + u0), dmin),
                             0.0f, fmmax))
               : zero;
    VF best_sc = sc0, best_mn = mn0;
    VF best = Run<kTable, kW, true, false, kAffine>(df, b, u0, lv, hn::Mul(d, sc0),
                                     hn::Mul(dmin, mn0))
                  .err;
    for (int a = -s.rs; a <= s.rs; ++a) {
      for (int c = -rm; c <= rm; ++c) {
        if (a == 0 && c == 0) continue;
        const VF t = hn::Add(sc0, hn::Set(df, static_cast<float>(a)));
        const VF v = hn::Add(mn0, hn::Set(df, static_cast<float>(c)));
        const auto in = hn::And(
            hn::And(hn::Ge(t, hn::Set(df, fsmin)), hn::Le(t, hn::Set(df, fsmax))),
            hn::And(hn::Ge(v, zero), hn::Le(v, hn::Set(df, fmmax))));
        if (hn::AllFalse(df, in)) continue;
        const VF e = Run<kTable, kW, true, false, kAffine>(df, b, u0, lv, hn::Mul(d, t),
                                            hn::Mul(dmin, v))
                         .err;
        const auto better = hn::And(in, hn::Lt(e, best));
        best = hn::IfThenElse(better, e, best);
        best_sc = hn::IfThenElse(better, t, best_sc);
        best_mn = hn::IfThenElse(better, v, best_mn);
      }
    }
    hn::StoreU(hn::ConvertTo(di, best_sc), di, sc + u0);
    hn::StoreU(hn::ConvertTo(di, best_mn), di, mn + u0);
    hn::StoreU(best, df, err + u0);
  }
}

template <bool kTable, bool kW, bool kAffine>
void EvalT(const UnitBatch& b, const Lv& lv, const float* S, const float* M,
           float* err, uint8_t* codes, const UnitSums* sums) {
  const DF df;
  const size_t N = hn::Lanes(df);
  for (size_t u0 = 0; u0 < b.units; u0 += N) {
    const VF m = M ? hn::LoadU(df, M + u0) : hn::Zero(df);
    const VF sv = hn::LoadU(df, S + u0);
    if (codes) Codes<kTable, kAffine>(df, b, u0, lv, sv, m, codes);
    if (!err && !sums) continue;
    const PassV p = Run<kTable, kW, true, true, kAffine>(df, b, u0, lv, sv, m);
    if (err) hn::StoreU(p.err, df, err + u0);
    if (sums) {
      if (sums->sl) hn::StoreU(p.sl, df, sums->sl + u0);
      if (sums->sll) hn::StoreU(p.sll, df, sums->sll + u0);
      if (sums->slx) hn::StoreU(p.slx, df, sums->slx + u0);
    }
  }
}

}  // namespace

// Calls F<kTable, kW, kAffine>::Run(args...) for the run-time flags.
template <template <bool, bool, bool> class F, typename... Args>
void Dispatch(bool table, bool weighted, bool affine, Args&&... args) {
  if (table) {
    if (weighted) {
      affine ? F<true, true, true>::Run(args...)
             : F<true, true, false>::Run(args...);
    } else {
      affine ? F<true, false, true>::Run(args...)
             : F<true, false, false>::Run(args...);
    }
  } else if (weighted) {
    affine ? F<false, true, true>::Run(args...)
           : F<false, true, false>::Run(args...);
  } else {
    affine ? F<false, false, true>::Run(args...)
           : F<false, false, false>::Run(args...);
  }
}

template <bool kTable, bool kW, bool kAffine>
struct FitF {
  template <typename... A>
  static void Run(A&&... a) {
    FitT<kTable, kW, kAffine>(a...);
  }
};
template <bool kTable, bool kW, bool kAffine>
struct SearchF {
  template <typename... A>
  static void Run(A&&... a) {
    SearchT<kTable, kW, kAffine>(a...);
  }
};
template <bool kTable, bool kW, bool kAffine>
struct EvalF {
  template <typename... A>
  static void Run(A&&... a) {
    EvalT<kTable, kW, kAffine>(a...);
  }
};

void FitUnitsImpl(const UnitBatch& b, const UnitLevels& l,
                  const UnitFitParams& p, float* S, float* M) {
  const Lv lv(l);
  Dispatch<FitF>(l.table != nullptr, b.w != nullptr, l.affine, b, lv, p, S, M);
}

void SearchUnitScalesImpl(const UnitBatch& b, const UnitLevels& l,
                          const ScaleSearch& s, int32_t* sc, int32_t* mn,
                          float* err) {
  const Lv lv(l);
  Dispatch<SearchF>(l.table != nullptr, b.w != nullptr, l.affine, b, lv, s, sc,
                    mn, err);
}

void EvalUnitsImpl(const UnitBatch& b, const UnitLevels& l, const float* S,
                   const float* M, float* err, uint8_t* codes,
                   const UnitSums* sums) {
  const Lv lv(l);
  Dispatch<EvalF>(l.table != nullptr, b.w != nullptr, l.affine, b, lv, S, M,
                  err, codes, sums);
}

}  // namespace HWY_NAMESPACE
}  // namespace lowbit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit {

HWY_EXPORT(FitUnitsImpl);
HWY_EXPORT(SearchUnitScalesImpl);
HWY_EXPORT(EvalUnitsImpl);

void FitUnits(const UnitBatch& b, const UnitLevels& lv, const UnitFitParams& p,
              float* S, float* M) {
  HWY_DYNAMIC_DISPATCH(FitUnitsImpl)(b, lv, p, S, M);
}

void SearchUnitScales(const UnitBatch& b, const UnitLevels& lv,
                      const ScaleSearch& s, int32_t* sc, int32_t* mn,
                      float* err) {
  HWY_DYNAMIC_DISPATCH(SearchUnitScalesImpl)(b, lv, s, sc, mn, err);
}

void EvalUnits(const UnitBatch& b, const UnitLevels& lv, const float* S,
               const float* M, float* err, uint8_t* codes,
               const UnitSums* sums) {
  HWY_DYNAMIC_DISPATCH(EvalUnitsImpl)(b, lv, S, M, err, codes, sums);
}

}  // namespace lowbit
#endif  // HWY_ONCE
