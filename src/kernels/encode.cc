// Highway dispatch for kernels/encode.h. Every scheme maps a vector of x / s
// to codes and levels with the scalar codecs' float operations (no fused
// multiply-adds), so the codes are the reference's bit for bit:
//   int:  the same clamp, magic-number rounding and clamp as RoundClamp;
//   nf4:  the code is one past the last boundary j where x - l_j > l_{j+1} - x
//         (the reference's tie rule, the same subtractions);
//   minifloats: round to nearest even on the f32 bits (normals) or on
//         x * 2^(bias - 1 + mbits) (subnormals), saturating, which is the
//         reference's nearest-with-ties-to-even-code on the level table;
//   k-means (NearestLevels): NearestLevel's comparisons, in double lanes.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/encode.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format off
#include "hwy/highway.h"
// clang-format on

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/status.h"
#include "kernels/encode.h"
#include "kernels/ops-inl.h"

#ifndef LOWBIT_KERNELS_ENCODE_SHARED_
#define LOWBIT_KERNELS_ENCODE_SHARED_
namespace lowbit {
// A scheme's codec as plain numbers.
struct EncodeSpec {
  enum Kind { kInt, kTable, kMini, kTernary, kBinary } kind = kInt;
  float scale = 0.0f, inv = 0.0f;
  float lo = 0.0f, hi = 0.0f, zero = 0.0f, off = 0.0f;  // int
  float levels[16] = {};                                // table, ascending
  int n = 0;
  int mbits = 0, bias = 0, cmax = 0, sign_bit = 0;  // minifloat
  float vmax = 0.0f;  // the largest finite magnitude (code cmax)
  float sub_limit = 0.0f, sub_mul = 0.0f, sub_step = 0.0f;  // 2^(1 - bias),
  // 2^(bias - 1 + mbits), 2^(1 - bias - mbits)
  float t = 0.0f;  // ternary threshold
};
}  // namespace lowbit
#endif

HWY_BEFORE_NAMESPACE();
namespace lowbit {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The codes (int32 lanes) and levels of xs = x / s (binary: x).
template <class D>
HWY_INLINE void Map(D d, const EncodeSpec& e, hn::Vec<D> xs,
                    hn::Vec<hn::RebindToSigned<D>>* code, hn::Vec<D>* level) {
  const hn::RebindToSigned<D> di;
  using VF = hn::Vec<D>;
  using VI = hn::Vec<decltype(di)>;
  const VF magic = hn::Set(d, 12582912.0f);  // 1.5 * 2^23: round to even
  switch (e.kind) {
    case EncodeSpec::kInt: {
      VF v = hn::Min(
          hn::Max(hn::Add(xs, hn::Set(d, e.off)), hn::Set(d, e.lo - 1.0f)),
          hn::Set(d, e.hi + 1.0f));
      v = hn::Sub(hn::Add(v, magic), magic);
      v = hn::Min(hn::Max(v, hn::Set(d, e.lo)), hn::Set(d, e.hi));
      *level = hn::Sub(v, hn::Set(d, e.off));
      *code = hn::ConvertTo(di, hn::Add(v, hn::Set(d, e.zero)));
      return;
    }
    case EncodeSpec::kTable: {
      VI c = hn::Zero(di);
      VF lv = hn::Set(d, e.levels[0]);
      for (int j = 0; j + 1 < e.n; ++j) {
        const VF a = hn::Set(d, e.levels[j]), b = hn::Set(d, e.levels[j + 1]);
        const auto m = hn::Gt(hn::Sub(xs, a), hn::Sub(b, xs));
        c = hn::IfThenElse(hn::RebindMask(di, m), hn::Set(di, j + 1), c);
        lv = hn::IfThenElse(m, b, lv);
      }
      *code = c;
      *level = lv;
      return;
    }
    case EncodeSpec::kMini: {
      const VF a = hn::Abs(xs);
      const int sh = 23 - e.mbits;
      const VI bits = hn::BitCast(di, a);
      // Normals: round the f32 mantissa to mbits bits, ties to even.
      const VI up =
          hn::Add(hn::Set(di, (1 << (sh - 1)) - 1),
                  hn::And(hn::ShiftRightSame(bits, sh), hn::Set(di, 1)));
      const VI cn = hn::Sub(hn::ShiftRightSame(hn::Add(bits, up), sh),
                            hn::Set(di, (127 - e.bias) << e.mbits));
      // Subnormals: multiples of 2^(1 - bias - mbits).
      const VF sub = hn::Mul(a, hn::Set(d, e.sub_mul));
      const VI cs = hn::ConvertTo(di, hn::Sub(hn::Add(sub, magic), magic));
      const auto is_sub = hn::Lt(a, hn::Set(d, e.sub_limit));
      VI c = hn::IfThenElse(hn::RebindMask(di, is_sub), cs, cn);
      const auto top = hn::Not(hn::Lt(a, hn::Set(d, e.vmax)));  // and NaN
      c = hn::IfThenElse(hn::RebindMask(di, top), hn::Set(di, e.cmax), c);
      // The level of the magnitude code.
      const VI ex = hn::ShiftRightSame(c, e.mbits);
      const VI man = hn::And(c, hn::Set(di, (1 << e.mbits) - 1));
      const VF vn = hn::BitCast(
          d, hn::Or(hn::ShiftLeft<23>(hn::Add(ex, hn::Set(di, 127 - e.bias))),
                    hn::ShiftLeftSame(man, sh)));
      const VF vs = hn::Mul(hn::ConvertTo(d, man), hn::Set(d, e.sub_step));
      const VF v =
          hn::IfThenElse(hn::RebindMask(d, hn::Eq(ex, hn::Zero(di))), vs, vn);
      // The sign, except on the code of zero (always +0).
      const auto neg = hn::And(hn::Lt(hn::BitCast(di, xs), hn::Zero(di)),
                               hn::Ne(c, hn::Zero(di)));
      *code = hn::IfThenElse(neg, hn::Or(c, hn::Set(di, e.sign_bit)), c);
      *level = hn::IfThenElse(hn::RebindMask(d, neg), hn::Neg(v), v);
      return;
    }
    case EncodeSpec::kTernary: {
      const auto gt = hn::Gt(xs, hn::Set(d, e.t));
      const auto lt = hn::Lt(xs, hn::Set(d, -e.t));
      *code = hn::IfThenElse(
          hn::RebindMask(di, gt), hn::Set(di, 2),
          hn::IfThenElse(hn::RebindMask(di, lt), hn::Zero(di), hn::Set(di, 1)));
      *level =
          hn::IfThenElse(gt, hn::Set(d, 1.0f),
                         hn::IfThenElse(lt, hn::Set(d, -1.0f), hn::Zero(d)));
      return;
    }
    case EncodeSpec::kBinary: {
      const auto ge = hn::Ge(xs, hn::Zero(d));
      *code = hn::IfThenElseZero(hn::RebindMask(di, ge), hn::Set(di, 1));
      *level = hn::IfThenElse(ge, hn::Set(d, 1.0f), hn::Set(d, -1.0f));
      return;
    }
  }
}

void EncodeValuesImpl(const EncodeSpec& e, const float* x, int64_t n,
                      uint8_t* codes) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<uint8_t, decltype(d)> d8;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto inv = hn::Set(d, e.inv);
  const bool binary = e.kind == EncodeSpec::kBinary;
  auto one = [&](const float* xp, uint8_t* out) {
    const auto xv = hn::LoadU(d, xp);
    hn::Vec<hn::RebindToSigned<decltype(d)>> c;
    hn::Vec<decltype(d)> lv;
    Map(d, e, binary ? xv : hn::Mul(xv, inv), &c, &lv);
    hn::StoreU(hn::DemoteTo(d8, c), d8, out);
  };
  int64_t i = 0;
  for (; i + N <= n; i += N) one(x + i, codes + i);
  if (i < n) {  // the tail through padded copies
    alignas(64) float xt[HWY_MAX_BYTES / sizeof(float)] = {};
    alignas(64) uint8_t ct[HWY_MAX_BYTES / sizeof(float)];
    std::memcpy(xt, x + i, static_cast<size_t>(n - i) * sizeof(float));
    one(xt, ct);
    std::memcpy(codes + i, ct, static_cast<size_t>(n - i));
  }
}

// Floats at the width of the double vectors: each difference is promoted
// to double for the sum.
double EncodeErrorImpl(const EncodeSpec& e, const float* x, const float* w,
                       int64_t n) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto inv = hn::Set(d, e.inv), s = hn::Set(d, e.scale);
  const bool binary = e.kind == EncodeSpec::kBinary;
  auto acc0 = hn::Zero(dd), acc1 = hn::Zero(dd);
  auto term = [&](const float* xp, const float* wp) {
    const auto xv = hn::LoadU(d, xp);
    hn::Vec<hn::RebindToSigned<decltype(d)>> c;
    hn::Vec<decltype(d)> lv;
    Map(d, e, binary ? xv : hn::Mul(xv, inv), &c, &lv);
    const auto diff = hn::PromoteTo(dd, hn::Sub(xv, hn::Mul(s, lv)));
    const auto wd =
        wp ? hn::Mul(hn::PromoteTo(dd, hn::LoadU(d, wp)), diff) : diff;
    return hn::Mul(wd, diff);
  };
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    acc0 = hn::Add(acc0, term(x + i, w ? w + i : nullptr));
    acc1 = hn::Add(acc1, term(x + i + N, w ? w + i + N : nullptr));
  }
  for (; i < n; i += N) {  // the rest, through padded copies (weights 0)
    alignas(64) float xt[HWY_MAX_BYTES / sizeof(float)] = {};
    alignas(64) float wt[HWY_MAX_BYTES / sizeof(float)] = {};
    const int64_t k = std::min(N, n - i);
    std::memcpy(xt, x + i, static_cast<size_t>(k) * sizeof(float));
    for (int64_t j = 0; j < k; ++j) wt[j] = w ? w[i + j] : 1.0f;
    acc0 = hn::Add(acc0, term(xt, wt));
  }
  return LaneTotal(dd, hn::Add(acc0, acc1));
}

// Nearest of n <= 16 ascending levels, distances in double (exact for float
// operands): the code is one past the last boundary j, between two distinct
// levels, where x - l_j > l_{j+1} - x; equal neighbours never move it, so a
// run of equal levels keeps its lowest index.
void NearestLevelsImpl(const float* levels, int n, const float* x,
                       int64_t count, uint8_t* codes) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> d;
  const hn::Rebind<int32_t, decltype(dd)> di;
  const hn::Rebind<uint8_t, decltype(dd)> d8;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto one = [&](const float* xp, uint8_t* out) {
    const auto v = hn::PromoteTo(dd, hn::LoadU(d, xp));
    auto c = hn::Zero(dd);  // the code, as a double
    for (int j = 0; j + 1 < n; ++j) {
      if (levels[j + 1] == levels[j]) continue;
      const auto m = hn::Gt(hn::Sub(v, hn::Set(dd, levels[j])),
                            hn::Sub(hn::Set(dd, levels[j + 1]), v));
      c = hn::IfThenElse(m, hn::Set(dd, static_cast<double>(j + 1)), c);
    }
    hn::StoreU(hn::DemoteTo(d8, hn::DemoteTo(di, c)), d8, out);
  };
  int64_t i = 0;
  for (; i + N <= count; i += N) one(x + i, codes + i);
  if (i < count) {
    alignas(64) float xt[HWY_MAX_BYTES / sizeof(float)] = {};
    alignas(64) uint8_t ct[HWY_MAX_BYTES / sizeof(float)];
    std::memcpy(xt, x + i, static_cast<size_t>(count - i) * sizeof(float));
    one(xt, ct);
    std::memcpy(codes + i, ct, static_cast<size_t>(count - i));
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace lowbit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit {

HWY_EXPORT(EncodeValuesImpl);
HWY_EXPORT(EncodeErrorImpl);
HWY_EXPORT(NearestLevelsImpl);

namespace {

EncodeSpec MakeSpec(const Scheme& scheme, const CodeParams& p) {
  EncodeSpec e;
  e.scale = p.scale;
  e.inv = p.scale != 0.0f ? 1.0f / p.scale : 0.0f;
  switch (scheme.kind) {
    case SchemeKind::kInt: {
      e.kind = EncodeSpec::kInt;
      e.zero = static_cast<float>(p.zero);
      e.off = p.offset;
      e.lo = -e.zero;
      e.hi = static_cast<float>((1 << scheme.bits) - 1) - e.zero;
      break;
    }
    case SchemeKind::kNf4: {
      e.kind = EncodeSpec::kTable;
      e.n = 16;
      std::copy_n(scheme.Levels().data(), 16, e.levels);
      break;
    }
    case SchemeKind::kFp8E4M3:
    case SchemeKind::kFp8E5M2:
    case SchemeKind::kFp4E2M1:
    case SchemeKind::kMxfp4: {
      e.kind = EncodeSpec::kMini;
      const bool e4m3 = scheme.kind == SchemeKind::kFp8E4M3;
      const bool e5m2 = scheme.kind == SchemeKind::kFp8E5M2;
      e.mbits = e4m3 ? 3 : e5m2 ? 2 : 1;
      e.bias = e4m3 ? 7 : e5m2 ? 15 : 1;
      // The largest finite code: E4M3 S.1111.110 (448), E5M2 S.11110.11
      // (57344), E2M1 S.11.1 (6).
      e.cmax = e4m3 ? 0x7E : e5m2 ? 0x7B : 0x7;
      e.sign_bit = e4m3 || e5m2 ? 0x80 : 0x8;
      e.vmax = scheme.Levels()[e.cmax];
      e.sub_limit = std::ldexp(1.0f, 1 - e.bias);
      e.sub_mul = std::ldexp(1.0f, e.bias - 1 + e.mbits);
      e.sub_step = std::ldexp(1.0f, 1 - e.bias - e.mbits);
      break;
    }
    case SchemeKind::kTernary:
      e.kind = EncodeSpec::kTernary;
      e.t = p.threshold;
      break;
    case SchemeKind::kBinary:
    case SchemeKind::kKmeans:
      e.kind = EncodeSpec::kBinary;
      break;
  }
  return e;
}

}  // namespace

void NearestLevels(const float* levels, int n, const float* x, int64_t count,
                   uint8_t* codes) {
  LB_CHECK(n >= 1 && n <= 16 && "NearestLevels: 1 to 16 levels");
  HWY_DYNAMIC_DISPATCH(NearestLevelsImpl)(levels, n, x, count, codes);
}

bool EncodeSupports(const Scheme& scheme) {
  return scheme.kind != SchemeKind::kKmeans;
}

void EncodeValues(const Scheme& scheme, const CodeParams& p, const float* x,
                  int64_t n, uint8_t* codes) {
  HWY_DYNAMIC_DISPATCH(EncodeValuesImpl)(MakeSpec(scheme, p), x, n, codes);
}

double EncodeError(const Scheme& scheme, const CodeParams& p, const float* x,
                   const float* w, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(EncodeErrorImpl)(MakeSpec(scheme, p), x, w, n);
}

}  // namespace lowbit
#endif  // HWY_ONCE
