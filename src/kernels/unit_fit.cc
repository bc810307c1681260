// Highway version of kernels/unit_fit.h: one unit per lane. Every lane runs
// the float operations of kernels/reference/unit_fit.cc in the same order, so
// the two agree bit for bit on every target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/unit_fit.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "kernels/x86_simd.h"
// clang-format off
#include "hwy/highway.h"
#include "hwy/cache_control.h"
// clang-format on
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "core/status.h"
#include "kernels/unit_fit.h"

HWY_BEFORE_NAMESPACE();
namespace lowbit {
namespace HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

constexpr float kMagic = 12582912.0f;
constexpr int kMaxCand = kMaxCandidates;  // 1.5 * 2^23, as RoundEven

// Selects as the reference's MinF / MaxF (the second operand on ties, whatever
// the target's min/max instructions do with signed zeros).
HWY_INLINE VF MinF(VF a, VF b) { return hn::IfThenElse(hn::Lt(a, b), a, b); }
HWY_INLINE VF MaxF(VF a, VF b) { return hn::IfThenElse(hn::Gt(a, b), a, b); }

// The same selections without a mask: x86's min/max instructions return the
// second operand on ties and NaN, exactly as MinF / MaxF (and with no
// dependency through a mask register, which matters in running extremes).
#if LOWBIT_X86_SIMD_TARGET
HWY_INLINE VF MinSel(VF a, VF b) { return hn::Min(a, b); }
HWY_INLINE VF MaxSel(VF a, VF b) { return hn::Max(a, b); }
#else
HWY_INLINE VF MinSel(VF a, VF b) { return MinF(a, b); }
HWY_INLINE VF MaxSel(VF a, VF b) { return MaxF(a, b); }
#endif

// clamp(round-to-even(v)) as the reference's RoundIn. The magic-number
// rounding never yields -0, so plain min/max are exact here.
HWY_INLINE VF RoundIn(DF df, VF v, float lo, float hi) {
  const VF m = hn::Set(df, kMagic);
  v = hn::Min(hn::Max(v, hn::Set(df, lo - 1.0f)), hn::Set(df, hi + 1.0f));
  v = hn::Sub(hn::Add(v, m), m);
  return hn::Min(hn::Max(v, hn::Set(df, lo)), hn::Set(df, hi));
}

// Binned table lookup needs 16-lane permutes (AVX-512 and up on x86).
#undef LOWBIT_BINNED_TABLE
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
#define LOWBIT_BINNED_TABLE 1
#else
#define LOWBIT_BINNED_TABLE 0
#endif

struct Lv {
  explicit Lv(const UnitLevels& l)
      : table(l.table),
        qmin(static_cast<float>(l.qmin)),
        qmax(static_cast<float>(l.qmax)),
        nmid(l.qmax - l.qmin) {
    if (table) {
      for (int k = 0; k < nmid; ++k) mid[k] = 0.5f * (table[k] + table[k + 1]);
      Bin();
    }
  }
  float Lo() const { return table ? table[0] : qmin; }
  float Hi() const { return table ? table[nmid] : qmax; }
  // 16 equal bins over the table's span, each holding at most two midpoints:
  // the index of the nearest level is then base[bin] + (v > m1[bin]) +
  // (v > m2[bin]), the same count of midpoints below v as the reference's.
  void Bin() {
    if (nmid + 1 != 16) return;
    const float lo = std::floor(table[0]) - 1.0f;
    const float hi = std::ceil(table[15]) + 1.0f;
    bin_scale = 16.0f / (hi - lo);
    bin_offset = -lo * bin_scale;
    for (int b = 0; b < 16; ++b) {
      // v is in bin b when floor(v * bin_scale + bin_offset) == b (clamped),
      // so the edges are the values where that expression crosses integers;
      // classify each midpoint by the same expression.
      int nb = 0, below = 0;
      m1[b] = m2[b] = std::numeric_limits<float>::infinity();
      for (int k = 0; k < nmid; ++k) {
        const float f = std::floor(mid[k] * bin_scale + bin_offset);
        const int mb = static_cast<int>(std::min(15.0f, std::max(0.0f, f)));
        if (mb < b) {
          ++below;
        } else if (mb == b) {
          if (nb == 0) m1[b] = mid[k];
          if (nb == 1) m2[b] = mid[k];
          ++nb;
        }
      }
      if (nb > 2) return;  // too crowded: use the compare chain
      base[b] = static_cast<float>(below);
    }
    binned = true;
  }
  const float* table;
  float qmin, qmax;
  int nmid;
  float mid[256] = {};
  bool binned = false;
  float bin_scale = 0.0f, bin_offset = 0.0f;
  HWY_ALIGN float base[16] = {};
  HWY_ALIGN float m1[16] = {};
  HWY_ALIGN float m2[16] = {};
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
#if LOWBIT_BINNED_TABLE
    if (lv.binned) {
      // Indices without a float-to-int conversion: adding 2^23 to a small
      // integer-valued float puts the integer in the low mantissa bits; the
      // And keeps only those (the permute reads no others, but Highway's
      // contract, checked in debug and sanitizer builds, wants 0..15).
      const hn::RebindToSigned<DF> di;
      const auto low4 = hn::Set(di, 15);
      const VF magic = hn::Set(df, 8388608.0f);
      const VF f = hn::Floor(hn::Add(hn::Mul(v, hn::Set(df, lv.bin_scale)),
                                     hn::Set(df, lv.bin_offset)));
      const VF b = hn::Min(hn::Max(f, hn::Zero(df)), hn::Set(df, 15.0f));
      const auto bi = hn::IndicesFromVec(
          df, hn::And(hn::BitCast(di, hn::Add(b, magic)), low4));
      const VF one = hn::Set(df, 1.0f);
      VF k = hn::TableLookupLanes(hn::LoadU(df, lv.base), bi);
      k = hn::Add(
          k,
          hn::IfThenElseZero(
              hn::Gt(v, hn::TableLookupLanes(hn::LoadU(df, lv.m1), bi)), one));
      k = hn::Add(
          k,
          hn::IfThenElseZero(
              hn::Gt(v, hn::TableLookupLanes(hn::LoadU(df, lv.m2), bi)), one));
      if constexpr (kCode) *code = k;
      return hn::TableLookupLanes(
          hn::LoadU(df, lv.table),
          hn::IndicesFromVec(
              df, hn::And(hn::BitCast(di, hn::Add(k, magic)), low4)));
    }
#endif
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

// The least-squares sums of two candidates in one pass: as Run with kSums,
// twice.
template <bool kTable, bool kW, bool kAffine>
HWY_INLINE void Sums2(DF df, const UnitBatch& b, size_t u0, const Lv& lv, VF S1,
                      VF M1, VF S2, VF M2, PassV* p1, PassV* p2) {
  const VF zero = hn::Zero(df);
  const VF one = hn::Set(df, 1.0f);
  const VF inv1 = hn::IfThenElseZero(hn::Ne(S1, zero), hn::Div(one, S1));
  const VF inv2 = hn::IfThenElseZero(hn::Ne(S2, zero), hn::Div(one, S2));
  VF sl1 = zero, sll1 = zero, slx1 = zero, sl2 = zero, sll2 = zero, slx2 = zero,
     code;
  for (int i = 0; i < b.n; ++i) {
    const size_t off = static_cast<size_t>(i) * b.units + u0;
    const VF x = hn::LoadU(df, b.x + off);
    const VF l1 = LevelOf<kTable, false>(
        df, lv, hn::Mul(kAffine ? hn::Add(x, M1) : x, inv1), &code);
    const VF l2 = LevelOf<kTable, false>(
        df, lv, hn::Mul(kAffine ? hn::Add(x, M2) : x, inv2), &code);
    VF wl1 = l1, wl2 = l2;
    if constexpr (kW) {
      const VF w = hn::LoadU(df, b.w + off);
      wl1 = hn::Mul(w, l1);
      wl2 = hn::Mul(w, l2);
    }
    if constexpr (kAffine) {
      sl1 = hn::Add(sl1, wl1);
      sl2 = hn::Add(sl2, wl2);
    }
    sll1 = hn::Add(sll1, hn::Mul(wl1, l1));
    sll2 = hn::Add(sll2, hn::Mul(wl2, l2));
    slx1 = hn::Add(slx1, hn::Mul(wl1, x));
    slx2 = hn::Add(slx2, hn::Mul(wl2, x));
  }
  *p1 = {zero, sl1, sll1, slx1};
  *p2 = {zero, sl2, sll2, slx2};
}

// a * b + c rounded once (the reference's std::fma): the FMA instruction
// where the target has one, else std::fma per lane.
HWY_INLINE VF Fma(VF a, VF b, VF c) {
#if HWY_NATIVE_FMA
  return hn::MulAdd(a, b, c);
#else
  const DF df;
  constexpr size_t kMax = HWY_MAX_BYTES / sizeof(float);
  HWY_ALIGN float pa[kMax], pb[kMax], pc[kMax];
  hn::Store(a, df, pa);
  hn::Store(b, df, pb);
  hn::Store(c, df, pc);
  for (size_t i = 0; i < hn::Lanes(df); ++i)
    pa[i] = std::fma(pa[i], pb[i], pc[i]);
  return hn::Load(df, pa);
#endif
}

// The code-domain errors (reference ScaledErr) of K candidates in one pass:
// scales inv[k] = 1 / S[k], offsets minv[k] = M[k] inv[k]; S^2 is applied by
// the caller. kNonNeg: integer levels with qmin = 0.
template <int K, bool kNonNeg, bool kTable, bool kW, bool kAffine>
HWY_INLINE void ErrK(DF df, const UnitBatch& b, size_t u0, const Lv& lv,
                     const VF* inv, const VF* minv, VF* acc) {
  const hn::RebindToSigned<DF> di;
  const VF zero = hn::Zero(df);
  VF a[K];
  for (int k = 0; k < K; ++k) a[k] = zero;
  VF code;
  for (int i = 0; i < b.n; ++i) {
    const size_t off = static_cast<size_t>(i) * b.units + u0;
    const VF x = hn::LoadU(df, b.x + off);
    const VF w = kW ? hn::LoadU(df, b.w + off) : zero;
    for (int k = 0; k < K; ++k) {
      const VF t = kAffine ? Fma(x, inv[k], minv[k]) : hn::Mul(x, inv[k]);
      VF l;
      if constexpr (kNonNeg) {
        // clamp(round(t)) as round(clamp(t)), the clamp on the bits: for
        // floats >= 0 integer order is float order, and every negative float
        // is a negative integer. Integer min / max leave the float adders
        // free for the rest.
        const auto tb = hn::Min(hn::Max(hn::BitCast(di, t), hn::Zero(di)),
                                hn::BitCast(di, hn::Set(df, lv.qmax)));
        l = hn::Round(hn::BitCast(df, tb));
      } else {
        l = LevelOf<kTable, false>(df, lv, t, &code);
      }
      const VF r = hn::Sub(t, l);
      a[k] = Fma(kW ? hn::Mul(w, r) : r, r, a[k]);
    }
  }
  for (int k = 0; k < K; ++k) acc[k] = a[k];
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
    // code + 2^23 carries the code in its low bits (no float-to-int fix-ups).
    const auto bits =
        hn::And(hn::BitCast(di, hn::Add(code, hn::Set(df, 8388608.0f))),
                hn::Set(di, 0xFF));
    hn::StoreU(hn::DemoteTo(d8, bits), d8, codes + off);
  }
}

// The best candidate so far; a new one must be better by `slack` (a
// millionth of the unit's energy), so that the rounding of the closed-form
// errors cannot pick between equally exact fits (constant units).
struct BestV {
  VF S, M, err, slack;
  HWY_INLINE void Consider(VF s, VF m, VF e) {
    const auto better = hn::Lt(e, hn::Sub(err, slack));
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
      neg, hn::IfThenElseZero(hn::Gt(p.sll, zero), hn::Div(p.slx, p.sll)), a);
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
  const VF a = hn::IfThenElseZero(hn::Gt(p.sll, zero), hn::Div(p.slx, p.sll));
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
    VF sw = zero, sx = zero, sxx = zero, lo = zero, hi = hn::Neg(inf);
    for (int i = 0; i < b.n; ++i) {
      // One cache line of the next batch per value and lane group.
      const size_t line = (u0 / N * b.n + i) * 16;
      if (line < b.next_floats) {
        for (const float* p : b.next)
          if (p) hwy::Prefetch(p + line);
      }
      const size_t off = static_cast<size_t>(i) * b.units + u0;
      const VF x = hn::LoadU(df, b.x + off);
      const VF w = kW ? hn::LoadU(df, b.w + off) : hn::Set(df, 1.0f);
      const VF wx = kW ? hn::Mul(w, x) : x;
      sw = hn::Add(sw, w);
      sx = hn::Add(sx, wx);
      sxx = hn::Add(sxx, hn::Mul(wx, x));
      lo = MinSel(x, lo);
      hi = MaxSel(x, hi);
    }
    // The value of largest magnitude (the positive one on a tie).
    const VF ext = hn::IfThenElse(hn::Ge(hi, hn::Neg(lo)), hi, lo);
    BestV best{zero, zero, inf, hn::Mul(sxx, hn::Set(df, 1e-6f))};
    VF cs[kMaxCand], ms[kMaxCand];
    if (affine) {
      const float fq = lv.Hi() - lv.Lo();
      const VF qmax = hn::Set(df, fq);
      const VF range = hn::Div(hn::Sub(hi, lo), qmax);
      int nc = 0;
      for (int k = 0; k < prm.candidates; ++k) {
        const VF s0 = hn::Mul(range, hn::Set(df, Factor(prm, k)));
        const VF mc = hn::Mul(hn::Set(df, 0.5f),
                              hn::Sub(hn::Add(lo, hi), hn::Mul(s0, qmax)));
        for (int ph = 0; ph < prm.phases && nc < kMaxCand; ++ph) {
          cs[nc] = s0;
          ms[nc++] =
              MaxF(hn::Neg(hn::Add(
                       mc, hn::Mul(s0, hn::Set(df, PhaseOffset(prm, ph))))),
                   zero);
        }
      }
      // Two candidates per pass over the values, considered in order.
      for (int k = 0; k < nc; k += 2) {
        if (k + 1 == nc) {
          LsAffine(df,
                   Run<kTable, kW, false, true, kAffine>(df, b, u0, lv, cs[k],
                                                         ms[k]),
                   cs[k], sw, sx, sxx, &best);
          break;
        }
        PassV p1, p2;
        Sums2<kTable, kW, kAffine>(df, b, u0, lv, cs[k], ms[k], cs[k + 1],
                                   ms[k + 1], &p1, &p2);
        LsAffine(df, p1, cs[k], sw, sx, sxx, &best);
        LsAffine(df, p2, cs[k + 1], sw, sx, sxx, &best);
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
      int nc = 0;
      for (int bi = 0; bi < 2; ++bi) {
        // The second orientation tries only its first factor when asked.
        const int nk = bi == 1 && prm.lean_second ? 1 : prm.candidates;
        for (int k = 0; k < nk && nc < kMaxCand; ++k) {
          cs[nc++] = hn::Mul(bases[bi], hn::Set(df, Factor(prm, k)));
        }
      }
      // Two candidates per pass over the values, considered in order.
      for (int k = 0; k < nc; k += 2) {
        if (k + 1 == nc) {
          LsSymmetric(
              df,
              Run<kTable, kW, false, true, kAffine>(df, b, u0, lv, cs[k], zero),
              sxx, &best);
          break;
        }
        PassV p1, p2;
        Sums2<kTable, kW, kAffine>(df, b, u0, lv, cs[k], zero, cs[k + 1], zero,
                                   &p1, &p2);
        LsSymmetric(df, p1, sxx, &best);
        LsSymmetric(df, p2, sxx, &best);
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

template <bool kNonNeg, bool kTable, bool kW, bool kAffine>
void ErrGroup(size_t kn, DF df, const UnitBatch& b, size_t u0, const Lv& lv,
              const VF* inv, const VF* minv, VF* acc) {
  switch (kn) {
    case 4:
      return ErrK<4, kNonNeg, kTable, kW, kAffine>(df, b, u0, lv, inv, minv,
                                                   acc);
    case 3:
      return ErrK<3, kNonNeg, kTable, kW, kAffine>(df, b, u0, lv, inv, minv,
                                                   acc);
    case 2:
      return ErrK<2, kNonNeg, kTable, kW, kAffine>(df, b, u0, lv, inv, minv,
                                                   acc);
    default:
      return ErrK<1, kNonNeg, kTable, kW, kAffine>(df, b, u0, lv, inv, minv,
                                                   acc);
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
  const int cm = affine ? s.cm : 0;
  std::vector<std::array<float, 2>> pairs;  // (sub-scale, sub-minimum) offsets
  for (int a = s.cs - s.rs; a <= s.cs + s.rs; ++a) {
    for (int c = cm - rm; c <= cm + rm; ++c) {
      if (a != 0 || c != 0)
        pairs.push_back({static_cast<float>(a), static_cast<float>(c)});
    }
  }
  auto in_range = [&](VF t, VF v) {
    return hn::And(
        hn::And(hn::Ge(t, hn::Set(df, fsmin)), hn::Le(t, hn::Set(df, fsmax))),
        hn::And(hn::Ge(v, zero), hn::Le(v, hn::Set(df, fmmax))));
  };
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
    VF best = Run<kTable, kW, true, false, kAffine>(
                  df, b, u0, lv, hn::Mul(d, sc0), hn::Mul(dmin, mn0))
                  .err;
    // The other pairs in order, up to four per pass over the values (when
    // affine, four sub-minimums of one sub-scale).
    for (size_t k0 = 0; k0 < pairs.size();) {
      size_t kn = 1;
      while (kn < 4 && k0 + kn < pairs.size() &&
             (!affine || pairs[k0 + kn][0] == pairs[k0][0])) {
        ++kn;
      }
      VF t[4], v[4], S[4], inv[4], minv[4], acc[4];
      decltype(hn::Eq(zero, zero)) in[4];
      auto any = hn::Lt(zero, zero);  // no lane
      for (size_t k = 0; k < kn; ++k) {
        t[k] = hn::Add(sc0, hn::Set(df, pairs[k0 + k][0]));
        v[k] = hn::Add(mn0, hn::Set(df, pairs[k0 + k][1]));
        S[k] = hn::Mul(d, t[k]);
        inv[k] = hn::IfThenElseZero(hn::Ne(S[k], zero),
                                    hn::Div(hn::Set(df, 1.0f), S[k]));
        minv[k] = hn::Mul(hn::Mul(dmin, v[k]), inv[k]);
        // Zero scales are only ever the start (their error is not in the
        // code domain).
        in[k] = hn::AndNot(hn::Eq(S[k], zero), in_range(t[k], v[k]));
        any = hn::Or(any, in[k]);
      }
      if (!hn::AllFalse(df, any)) {
        if (!kTable && lv.qmin == 0.0f) {
          ErrGroup<true, kTable, kW, kAffine>(kn, df, b, u0, lv, inv, minv,
                                              acc);
        } else {
          ErrGroup<false, kTable, kW, kAffine>(kn, df, b, u0, lv, inv, minv,
                                               acc);
        }
        for (size_t k = 0; k < kn; ++k) {
          const VF e = hn::Mul(hn::Mul(S[k], S[k]), acc[k]);
          const auto better = hn::And(in[k], hn::Lt(e, best));
          best = hn::IfThenElse(better, e, best);
          best_sc = hn::IfThenElse(better, t[k], best_sc);
          best_mn = hn::IfThenElse(better, v[k], best_mn);
        }
      }
      k0 += kn;
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
  LB_CHECK(p.candidates * std::max(p.phases, 2) <= kMaxCandidates);
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
