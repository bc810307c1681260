// Highway kernels of kernels/matvec.h. int8: y = s (sum c x - z sum x), the
// codes widened to float and multiplied into four vector accumulators. int4 in
// groups: the packed bytes are split into low and high nibbles, which multiply
// the even and odd entries of x (deinterleaved once per call), so that no
// shuffle of the codes is needed; each group's partial sum is scaled into the
// row's accumulator and the zero points come off at the end as
// sum_g s_g z_g (sum of x over the group).
// AVX3_DL (with VNNI) is compiled here for the integer-activation products.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matvec.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "kernels/x86_simd.h"
// clang-format off
#include "hwy/highway.h"
// clang-format on

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/round.h"
#include "formats/bitpack.h"
#include "kernels/matvec.h"
#include "kernels/ops-inl.h"
#include "kernels/vnni_target.h"

#ifndef LOWBIT_KERNELS_MATVEC_PREP_
#define LOWBIT_KERNELS_MATVEC_PREP_
namespace lowbit {
// Per-call data shared by all rows.
struct MatVecPrep {
  const float* x;
  const float* xe;   // x[2j]
  const float* xo;   // x[2j + 1]
  const float* sxg;  // sum of x per group
  float sx;          // sum of x
};
}  // namespace lowbit
#endif

HWY_BEFORE_NAMESPACE();
namespace lowbit {
namespace HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;

float RowInt8(const QuantizedTensor& w, const MatVecPrep& p, int64_t r) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<int32_t, decltype(df)> di;
  const hn::Rebind<uint8_t, decltype(df)> du8;
  const size_t N = hn::Lanes(df);
  const uint8_t* c = w.codes.data() + r * w.code_row_bytes();
  const int64_t cols = w.cols;
  auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df),
       a3 = hn::Zero(df);
  int64_t i = 0;
  auto load = [&](int64_t k) {
    return hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(du8, c + k)));
  };
  for (; i + 4 * static_cast<int64_t>(N) <= cols; i += 4 * N) {
    a0 = hn::MulAdd(load(i), hn::LoadU(df, p.x + i), a0);
    a1 = hn::MulAdd(load(i + N), hn::LoadU(df, p.x + i + N), a1);
    a2 = hn::MulAdd(load(i + 2 * N), hn::LoadU(df, p.x + i + 2 * N), a2);
    a3 = hn::MulAdd(load(i + 3 * N), hn::LoadU(df, p.x + i + 3 * N), a3);
  }
  for (; i + static_cast<int64_t>(N) <= cols; i += N) {
    a0 = hn::MulAdd(load(i), hn::LoadU(df, p.x + i), a0);
  }
  float s = LaneTotal(df, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)));
  for (; i < cols; ++i) s += static_cast<float>(c[i]) * p.x[i];
  const int64_t srow = w.granularity == Granularity::kTensor ? 0 : r;
  return w.scales[srow] * (s - IntZeroPoint(w, srow, 0) * p.sx);
}

float RowInt4(const QuantizedTensor& w, const MatVecPrep& p, int64_t r,
              float* zbuf) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<int32_t, decltype(df)> di;
  const hn::Rebind<uint8_t, decltype(df)> du8;
  const size_t N = hn::Lanes(df);
  const uint8_t* c = w.codes.data() + r * w.code_row_bytes();
  const int64_t half = w.group_size / 2, groups = w.groups_per_row();
  const float* s = w.scales.data() + r * groups;
  const auto mask = hn::Set(di, 15);
  auto acc0 = hn::Zero(df);
  // The codes times their group's scale go straight into the row's
  // accumulator, N bytes (2N codes) at a time.
  const int64_t per_group = half / static_cast<int64_t>(N);
  auto chunk = [&](int64_t j, decltype(acc0) sg, decltype(acc0) acc) {
    const auto v = hn::PromoteTo(di, hn::LoadU(du8, c + j));
    const auto t =
        hn::MulAdd(hn::ConvertTo(df, hn::And(v, mask)), hn::LoadU(df, p.xe + j),
                   hn::Mul(hn::ConvertTo(df, hn::ShiftRight<4>(v)),
                           hn::LoadU(df, p.xo + j)));
    return hn::MulAdd(t, sg, acc);
  };
  if (per_group == 1) {  // one vector of bytes per group: no inner loop
    for (int64_t g = 0; g < groups; ++g) {
      acc0 = chunk(g * half, hn::Set(df, s[g]), acc0);
    }
  } else {
    for (int64_t g = 0; g < groups; ++g) {
      const auto sg = hn::Set(df, s[g]);
      for (int64_t k = 0; k < per_group; ++k) {
        acc0 = chunk(g * half + k * static_cast<int64_t>(N), sg, acc0);
      }
    }
  }
  // The zero points: sum_g s_g z_g (sum of x over group g).
  float corr = 0.0f;
  if (w.symmetric) {
    auto cv = hn::Zero(df);
    int64_t g = 0;
    for (; g + static_cast<int64_t>(N) <= groups; g += N) {
      cv = hn::MulAdd(hn::LoadU(df, s + g), hn::LoadU(df, p.sxg + g), cv);
    }
    corr = LaneTotal(df, cv);
    for (; g < groups; ++g) corr += s[g] * p.sxg[g];
    corr *= 8.0f;
  } else {
    for (int64_t g = 0; g < groups; ++g) zbuf[g] = IntZeroPoint(w, r, g);
    for (int64_t g = 0; g < groups; ++g) corr += s[g] * zbuf[g] * p.sxg[g];
  }
  return LaneTotal(df, acc0) - corr;
}

// 4-bit codes through a table of 16 levels (nf4, fp4_e2m1, mxfp4: the
// scheme's levels times the group's scale; kmeans4: the row's codebook),
// with the even / odd activation split of RowInt4. The table lookup is a
// 16-lane permute on AVX-512, a gather elsewhere.
float RowLut4(const QuantizedTensor& w, const MatVecPrep& p, int64_t r) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<int32_t, decltype(df)> di;
  const hn::Rebind<uint8_t, decltype(df)> du8;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const uint8_t* c = w.codes.data() + r * w.code_row_bytes();
  const bool km = w.scheme.kind == SchemeKind::kKmeans;
  const int64_t srow = w.granularity == Granularity::kTensor ? 0 : r;
  const float* table =
      km ? w.codebook.data() + srow * 16 : w.scheme.Levels().data();
  const int64_t hg = w.group_size / 2, gpr = w.groups_per_row();
  const auto mask = hn::Set(di, 15);
#if HWY_TARGET <= HWY_AVX3
  const auto tv = hn::LoadU(df, table);  // 16 lanes: the whole table
  auto level = [&](decltype(mask) k) {
    return hn::TableLookupLanes(tv, hn::IndicesFromVec(df, k));
  };
#else
  auto level = [&](decltype(mask) k) { return hn::GatherIndex(df, table, k); };
#endif
  auto acc = hn::Zero(df);
  float tail = 0.0f;
  for (int64_t g = 0; g < gpr; ++g) {
    const float s = km ? 1.0f : w.scales[srow * gpr + g];
    auto ga = hn::Zero(df);
    int64_t j = g * hg;
    const int64_t end = std::min((g + 1) * hg, w.cols / 2);
    for (; j + N <= end; j += N) {
      const auto v = hn::PromoteTo(di, hn::LoadU(du8, c + j));
      ga = hn::MulAdd(level(hn::And(v, mask)), hn::LoadU(df, p.xe + j), ga);
      ga = hn::MulAdd(level(hn::ShiftRight<4>(v)), hn::LoadU(df, p.xo + j), ga);
    }
    float ts = 0.0f;
    for (; j < end; ++j) {
      ts += table[c[j] & 15] * p.xe[j] + table[c[j] >> 4] * p.xo[j];
    }
    acc = hn::MulAdd(ga, hn::Set(df, s), acc);
    tail += s * ts;
  }
  return LaneTotal(df, acc) + tail;
}

}  // namespace

#if HWY_TARGET == HWY_AVX3_DL
// VNNI (vpdpbusd: four u8 x s8 products added into each 32-bit lane). Highway's
// AVX3_DL flags lack avx512vnni, so these functions (and their lambdas) carry
// LOWBIT_TARGET_VNNI; the target is only chosen on CPUs that have it.

// Rows r0..r1 of int8 codes (exact int32 sums), one row at a time: the rows
// then form one sequential stream, which the prefetchers follow (four rows
// side by side, four 4 KiB streams, ran at half the speed).
void VnniDotQ8Rows(const QuantizedTensor& w, const int8_t* x8,
                   const int16_t* xq, int64_t r0, int64_t r1, int64_t* dots) {
  const int64_t cols = w.cols, stride = w.code_row_bytes();
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* c = w.codes.data() + r * stride;
    int64_t k = 0;
    int64_t t = VnniDotBytes(c, x8, cols, &k);
    for (; k < cols; ++k) t += int64_t{c[k]} * xq[k];
    dots[r] = t;
  }
}

constexpr int64_t kAhead = 1024;  // bytes of codes prefetched ahead

// int4 groups of `2 hg` codes (hg >= 8 bytes): per 64 bytes of codes, the low
// and high nibbles against the even and odd activations into one int32 vector
// (lane i covers bytes 4i..4i+3, inside one group), converted and scaled per
// group into a float accumulator. Returns sum_g s_g sum_(c in g) code xq per
// row; bytes past the last multiple of 64 are summed exactly per group.
LOWBIT_TARGET_VNNI __attribute__((noinline)) void VnniDotQ4Rows(
    const QuantizedTensor& w, const int8_t* x8e, const int8_t* x8o,
    const int16_t* xqe, const int16_t* xqo, const float* gcorr, int64_t r0,
    int64_t r1, float* out) {
  const int64_t nbytes = w.cols / 2, hg = w.group_size / 2;
  const int64_t groups = w.groups_per_row();
  const __m512i nib = _mm512_set1_epi8(0x0F);
  // Lane i's group within the chunk: (4 i) / hg.
  int32_t lane_group[16];
  for (int i = 0; i < 16; ++i) lane_group[i] = static_cast<int32_t>(4 * i / hg);
  const __m512i idx = _mm512_loadu_si512(lane_group);
  const __mmask16 need = static_cast<__mmask16>((1u << (64 / hg)) - 1);
  int shift = 0;  // hg = 2^shift (group sizes are powers of two)
  while ((int64_t{1} << shift) < hg) ++shift;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* c = w.codes.data() + r * w.code_row_bytes();
    const float* s = w.scales.data() + r * groups;
    // One chunk of 64 bytes: its exact group sums, scaled, into acc.
    auto chunk = [&](int64_t j, __m512 acc) LOWBIT_TARGET_VNNI {
      const __m512i v = _mm512_loadu_si512(c + j);
      const __m512i lo = _mm512_and_si512(v, nib);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
      __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo,
                                      _mm512_loadu_si512(x8e + j));
      d = _mm512_dpbusd_epi32(d, hi, _mm512_loadu_si512(x8o + j));
      // The scales of the (up to 16) groups this chunk touches, one per
      // lane; a masked load never reads past the row's last scale.
      const int64_t g0 = j >> shift;
      const __m512 sv =
          hg >= 64
              ? _mm512_set1_ps(s[g0])
              : _mm512_permutexvar_ps(idx, _mm512_maskz_loadu_ps(need, s + g0));
      return _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), sv, acc);
    };
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
    int64_t j = 0;
    for (; j + 128 <= nbytes; j += 128) {
      _mm_prefetch(reinterpret_cast<const char*>(c + j + kAhead), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + j + kAhead + 64),
                   _MM_HINT_T0);
      acc0 = chunk(j, acc0);
      acc1 = chunk(j + 64, acc1);
    }
    for (; j + 64 <= nbytes; j += 64) acc0 = chunk(j, acc0);
    float total = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    for (int64_t g = j >> shift; g < groups; ++g) {
      int64_t t = 0;
      for (int64_t b = std::max(j, g * hg); b < (g + 1) * hg; ++b) {
        t += int64_t{c[b] & 15} * xqe[b] + int64_t{c[b] >> 4} * xqo[b];
      }
      total += s[g] * static_cast<float>(t);
    }
    if (gcorr != nullptr) {  // sum_g s_g gcorr_g while the scales are cached
      __m512 cv = _mm512_setzero_ps();
      int64_t g = 0;
      for (; g + 16 <= groups; g += 16) {
        cv = _mm512_fmadd_ps(_mm512_loadu_ps(s + g), _mm512_loadu_ps(gcorr + g),
                             cv);
      }
      float corr = _mm512_reduce_add_ps(cv);
      for (; g < groups; ++g) corr += s[g] * gcorr[g];
      total -= corr;
    }
    out[r] = total;
  }
}
#endif

// Exact int32 dot products of rows of u8 codes with int16 activations:
// widen 16-bit, multiply, add pairs to 32 bits (pmaddwd on x86).
void DotQ8RowsImpl(const QuantizedTensor& w, const int16_t* xq,
                   const int8_t* x8, int64_t r0, int64_t r1, int64_t* dots) {
#if HWY_TARGET == HWY_AVX3_DL
  VnniDotQ8Rows(w, x8, xq, r0, r1, dots);
#elif HWY_TARGET == HWY_SCALAR
  (void)x8;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* c = w.codes.data() + r * w.code_row_bytes();
    int64_t d = 0;
    for (int64_t k = 0; k < w.cols; ++k) d += int64_t{c[k]} * xq[k];
    dots[r] = d;
  }
#else
  const hn::ScalableTag<int16_t> d16;
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const hn::Rebind<uint8_t, decltype(d16)> du8;
  const size_t N = hn::Lanes(d16);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* c = w.codes.data() + r * w.code_row_bytes();
    const hn::RebindToUnsigned<decltype(d16)> du16;
    auto a0 = hn::Zero(d32), a1 = hn::Zero(d32), a2 = hn::Zero(d32),
         a3 = hn::Zero(d32), u0 = hn::Zero(d32), u1 = hn::Zero(d32),
         u2 = hn::Zero(d32), u3 = hn::Zero(d32);
    auto codes = [&](int64_t at) {
      return hn::BitCast(d16, hn::PromoteTo(du16, hn::LoadU(du8, c + at)));
    };
    int64_t k = 0;
    const int64_t n = static_cast<int64_t>(N);
    for (; k + 4 * n <= w.cols; k += 4 * n) {
      a0 = hn::ReorderWidenMulAccumulate(d32, codes(k), hn::LoadU(d16, xq + k),
                                         a0, u0);
      a1 = hn::ReorderWidenMulAccumulate(d32, codes(k + n),
                                         hn::LoadU(d16, xq + k + n), a1, u1);
      a2 = hn::ReorderWidenMulAccumulate(
          d32, codes(k + 2 * n), hn::LoadU(d16, xq + k + 2 * n), a2, u2);
      a3 = hn::ReorderWidenMulAccumulate(
          d32, codes(k + 3 * n), hn::LoadU(d16, xq + k + 3 * n), a3, u3);
    }
    for (; k + n <= w.cols; k += n) {
      a0 = hn::ReorderWidenMulAccumulate(d32, codes(k), hn::LoadU(d16, xq + k),
                                         a0, u0);
    }
    int32_t lanes[HWY_MAX_BYTES / sizeof(int32_t)];
    const auto sum = hn::Add(hn::Add(hn::RearrangeToOddPlusEven(a0, u0),
                                     hn::RearrangeToOddPlusEven(a1, u1)),
                             hn::Add(hn::RearrangeToOddPlusEven(a2, u2),
                                     hn::RearrangeToOddPlusEven(a3, u3)));
    hn::StoreU(sum, d32, lanes);
    int64_t d = 0;
    for (size_t i = 0; i < hn::Lanes(d32); ++i) d += lanes[i];
    for (; k < w.cols; ++k) d += int64_t{c[k]} * xq[k];
    dots[r] = d;
  }
#endif
}

// int4 groups with integer activations: per 2 bytes (4 codes) an exact int32
// sum (low nibbles with the even activations, high with the odd ones, 16-bit
// multiply-add pairs), then into a float accumulator with the scale of its
// group (`es`: each group's scale repeated for its lanes). Returns per row
// sum_g s_g sum_(c in g) code xq.
namespace {
void DotQ4Raw(const QuantizedTensor& w, const int16_t* xqe, const int16_t* xqo,
              const int8_t* x8e, const int8_t* x8o, int64_t r0, int64_t r1,
              float* es, float* out) {
#if HWY_TARGET == HWY_AVX3_DL
  (void)x8e;
  (void)x8o;
#else
  (void)x8e;
  (void)x8o;
#endif
  const int64_t nbytes = w.cols / 2, quads = w.cols / 4;
  const int64_t per_group = w.group_size / 4;  // lanes (quads) per group
  (void)quads;  // es holds w.cols / 4 floats (the caller's scratch)
  const int64_t groups = w.groups_per_row();
#if !LOWBIT_X86_SIMD_TARGET
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* c = w.codes.data() + r * w.code_row_bytes();
    const float* s = w.scales.data() + r * groups;
    float acc = 0.0f;
    for (int64_t g = 0; g < groups; ++g) {
      int64_t d = 0;
      for (int64_t j = g * w.group_size / 2; j < (g + 1) * w.group_size / 2;
           ++j) {
        d += int64_t{c[j] & 15} * xqe[j] + int64_t{c[j] >> 4} * xqo[j];
      }
      acc += s[g] * static_cast<float>(d);
    }
    out[r] = acc;
  }
  (void)nbytes;
  (void)per_group;
#else
  // x86: pmaddwd sums adjacent 16-bit pairs, so 32-bit lane i covers bytes
  // 2i and 2i + 1 of the chunk, which lie in one group.
  const hn::ScalableTag<int16_t> d16;
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const hn::Rebind<float, decltype(d32)> df;
  const hn::RebindToUnsigned<decltype(d16)> du16;
  const hn::Rebind<uint8_t, decltype(d16)> du8;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d16));
  const auto mask = hn::Set(d16, 15);
  const int64_t lanes32 = static_cast<int64_t>(hn::Lanes(d32));
  // The vector of scales for the chunk at byte j: one group (per_group >=
  // lanes32), two halves (per_group == lanes32 / 2), or the expanded array.
  const int mode = per_group >= lanes32 ? 1 : per_group * 2 == lanes32 ? 2 : 0;
  int group_shift = 0;
  while ((int64_t{1} << group_shift) < per_group) ++group_shift;
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* c = w.codes.data() + r * w.code_row_bytes();
    const float* s = w.scales.data() + r * groups;
    if (mode == 0) {
      for (int64_t g = 0; g < groups; ++g) {
        std::fill(es + g * per_group, es + (g + 1) * per_group, s[g]);
      }
    }
    // Two chunks per step into two accumulators; the scale vector's form is
    // fixed per call, so each mode gets its own loop.
    auto run = [&](auto scale_at) {
      auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
      auto chunk = [&](int64_t j) {
        const auto v =
            hn::BitCast(d16, hn::PromoteTo(du16, hn::LoadU(du8, c + j)));
        auto u = hn::Zero(d32);
        auto isum = hn::ReorderWidenMulAccumulate(
            d32, hn::And(v, mask), hn::LoadU(d16, xqe + j), hn::Zero(d32), u);
        isum = hn::ReorderWidenMulAccumulate(d32, hn::ShiftRight<4>(v),
                                             hn::LoadU(d16, xqo + j), isum, u);
        return hn::Mul(hn::ConvertTo(df, isum), scale_at(j));
      };
      int64_t j = 0;
      for (; j + 2 * n <= nbytes; j += 2 * n) {
        acc0 = hn::Add(acc0, chunk(j));
        acc1 = hn::Add(acc1, chunk(j + n));
      }
      for (; j < nbytes; j += n) acc0 = hn::Add(acc0, chunk(j));
      return LaneTotal(df, hn::Add(acc0, acc1));
    };
    if (mode == 1) {
      out[r] = run(
          [&](int64_t j) { return hn::Set(df, s[(j >> 1) >> group_shift]); });
    } else if (mode == 2) {
      out[r] = run([&](int64_t j) {
        const int64_t g = (j >> 1) >> group_shift;
        return hn::ConcatLowerLower(df, hn::Set(df, s[g + 1]),
                                    hn::Set(df, s[g]));
      });
    } else {
      out[r] = run([&](int64_t j) { return hn::LoadU(df, es + j / 2); });
    }
  }
#endif
}
}  // namespace

// Per row sum_g s_g sum_(c in g) code xq, minus sum_g s_g gcorr[g] when
// gcorr is given (symmetric weights: gcorr[g] = 8 * the group's sum of xq).
void DotQ4RowsImpl(const QuantizedTensor& w, const int16_t* xqe,
                   const int16_t* xqo, const int8_t* x8e, const int8_t* x8o,
                   const float* gcorr, int64_t r0, int64_t r1, float* es,
                   float* out) {
#if HWY_TARGET == HWY_AVX3_DL
  if (w.group_size >= 16) {
    return VnniDotQ4Rows(w, x8e, x8o, xqe, xqo, gcorr, r0, r1, out);
  }
#endif
  DotQ4Raw(w, xqe, xqo, x8e, x8o, r0, r1, es, out);
  if (gcorr == nullptr) return;
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t groups = w.groups_per_row();
  for (int64_t r = r0; r < r1; ++r) {
    const float* s = w.scales.data() + r * groups;
    auto acc = hn::Zero(df);
    int64_t g = 0;
    for (; g + N <= groups; g += N) {
      acc = hn::MulAdd(hn::LoadU(df, s + g), hn::LoadU(df, gcorr + g), acc);
    }
    float c = LaneTotal(df, acc);
    for (; g < groups; ++g) c += s[g] * gcorr[g];
    out[r] -= c;
  }
}

size_t Int16Lanes() { return hn::Lanes(hn::ScalableTag<int16_t>()); }

// max |x| (order-independent, so equal to the scalar loop's).
float ActMaxImpl(const float* x, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  auto m0 = hn::Zero(d), m1 = hn::Zero(d);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    m0 = hn::Max(m0, hn::Abs(hn::LoadU(d, x + i)));
    m1 = hn::Max(m1, hn::Abs(hn::LoadU(d, x + i + N)));
  }
  float amax = hn::GetLane(hn::MaxOfLanes(d, hn::Max(m0, m1)));
  for (; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  return amax;
}

// RoundClamp(x * inv, -127, 127) with the same float operations.
void ActRoundImpl(const float* x, int64_t n, float inv, int16_t* xq) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::Rebind<int16_t, decltype(d)> d16;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto vinv = hn::Set(d, inv), magic = hn::Set(d, 12582912.0f);
  const auto lo1 = hn::Set(d, -128.0f), hi1 = hn::Set(d, 128.0f);
  const auto lo = hn::Set(d, -127.0f), hi = hn::Set(d, 127.0f);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    auto v = hn::Min(hn::Max(hn::Mul(hn::LoadU(d, x + i), vinv), lo1), hi1);
    v = hn::Min(hn::Max(hn::Sub(hn::Add(v, magic), magic), lo), hi);
    hn::StoreU(hn::DemoteTo(d16, hn::ConvertTo(di, v)), d16, xq + i);
  }
  for (; i < n; ++i) {
    xq[i] = static_cast<int16_t>(RoundClamp(x[i] * inv, -127.0f, 127.0f));
  }
}

size_t VectorLanes() { return hn::Lanes(hn::ScalableTag<float>()); }

void MatVecRowsImpl(const QuantizedTensor& w, const MatVecPrep& p, int64_t r0,
                    int64_t r1, float* zbuf, float* y) {
  if (w.scheme.bits == 8) {
    for (int64_t r = r0; r < r1; ++r) y[r] = RowInt8(w, p, r);
    return;
  }
  if (w.scheme.kind != SchemeKind::kInt) {
    for (int64_t r = r0; r < r1; ++r) y[r] = RowLut4(w, p, r);
    return;
  }
  for (int64_t r = r0; r < r1; ++r) y[r] = RowInt4(w, p, r, zbuf);
}

}  // namespace HWY_NAMESPACE
}  // namespace lowbit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit {

HWY_EXPORT(VectorLanes);
HWY_EXPORT(MatVecRowsImpl);
HWY_EXPORT(DotQ8RowsImpl);
HWY_EXPORT(DotQ4RowsImpl);
HWY_EXPORT(Int16Lanes);

HWY_EXPORT(ActMaxImpl);
HWY_EXPORT(ActRoundImpl);

float QuantizeActivations(const float* x, int64_t n, int16_t* xq) {
  const float sx = HWY_DYNAMIC_DISPATCH(ActMaxImpl)(x, n) / 127.0f;
  const float inv = sx > 0.0f ? 1.0f / sx : 0.0f;
  HWY_DYNAMIC_DISPATCH(ActRoundImpl)(x, n, inv, xq);
  return sx;
}

bool MatVecQ8Supports(const QuantizedTensor& w) {
  if (w.scheme.kind != SchemeKind::kInt || w.cols >= (int64_t{1} << 16) ||
      !HasCodeZeros(w)) {
    return false;  // (int32 sums cannot overflow below 2^16 columns)
  }
  if (w.scheme.bits == 8) {
    return w.symmetric && w.granularity != Granularity::kGroup;
  }
  const int64_t lanes =
      static_cast<int64_t>(HWY_DYNAMIC_DISPATCH(Int16Lanes)());
  return w.scheme.bits == 4 && w.granularity == Granularity::kGroup &&
         w.group_size % 4 == 0 && w.cols % w.group_size == 0 &&
         (w.cols / 2) % lanes == 0;
}

Status MatVecQ8(const QuantizedTensor& w, const float* x, float* y,
                ThreadPool& pool, Workspace& ws) {
  if (!MatVecQ8Supports(w)) {
    return InvalidArgument(
        "MatVecQ8: int8 symmetric weights per channel or tensor, or int4 in "
        "groups (whole groups, rows a multiple of the vector), fewer than "
        "65536 columns");
  }
  Workspace::Scope scope(ws);
  int16_t* xq = ws.Take<int16_t>(w.cols);
  const float sx = QuantizeActivations(x, w.cols, xq);
  const int64_t grain = std::max<int64_t>(
      16, (w.rows + pool.num_threads() - 1) / pool.num_threads());
  if (w.scheme.bits == 4) {
    const int64_t half = w.cols / 2, groups = w.groups_per_row();
    int16_t* xqe = ws.Take<int16_t>(half);
    int16_t* xqo = ws.Take<int16_t>(half);
    int8_t* x8e = ws.Take<int8_t>(half);
    int8_t* x8o = ws.Take<int8_t>(half);
    for (int64_t j = 0; j < half; ++j) {
      xqe[j] = xq[2 * j];
      xqo[j] = xq[2 * j + 1];
      x8e[j] = static_cast<int8_t>(xqe[j]);
      x8o[j] = static_cast<int8_t>(xqo[j]);
    }
    int64_t* sxq = ws.TakeZeroed<int64_t>(groups);
    for (int64_t k = 0; k < w.cols; ++k) sxq[k / w.group_size] += xq[k];
    float* gcorr = ws.Take<float>(groups);
    for (int64_t g = 0; g < groups; ++g)
      gcorr[g] = static_cast<float>(8 * sxq[g]);
    float* dots = ws.Take<float>(w.rows);
    const int64_t quads = w.cols / 4;
    float* es = ws.Take<float>(quads * pool.num_threads());
    pool.ParallelForSlots(w.rows, grain, [&](int64_t r0, int64_t r1, int t) {
      HWY_DYNAMIC_DISPATCH(DotQ4RowsImpl)
      (w, xqe, xqo, x8e, x8o, w.symmetric ? gcorr : nullptr, r0, r1,
       es + t * quads, dots);
    });
    if (w.symmetric) {  // the zero points came off in the kernel
      for (int64_t r = 0; r < w.rows; ++r) y[r] = sx * dots[r];
      return Status::Ok();
    }
    uint8_t* z = ws.Take<uint8_t>(groups);
    for (int64_t r = 0; r < w.rows; ++r) {
      UnpackBits(w.zeros.data() + r * w.zero_row_bytes(), groups, 4, z);
      const float* s = w.scales.data() + r * groups;
      float corr = 0.0f;
      for (int64_t g = 0; g < groups; ++g) {
        corr += s[g] * static_cast<float>(z[g] * sxq[g]);
      }
      y[r] = sx * (dots[r] - corr);
    }
    return Status::Ok();
  }
  int64_t sum_xq = 0;
  for (int64_t k = 0; k < w.cols; ++k) sum_xq += xq[k];
  int8_t* x8 = ws.Take<int8_t>(w.cols);
  for (int64_t k = 0; k < w.cols; ++k) x8[k] = static_cast<int8_t>(xq[k]);
  int64_t* dots = ws.Take<int64_t>(w.rows);
  pool.ParallelFor(w.rows, grain, [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(DotQ8RowsImpl)(w, xq, x8, r0, r1, dots);
  });
  for (int64_t r = 0; r < w.rows; ++r) {
    const int64_t srow = w.granularity == Granularity::kTensor ? 0 : r;
    y[r] = w.scales[srow] * (sx * static_cast<float>(dots[r] - 128 * sum_xq));
  }
  return Status::Ok();
}

bool MatVecSupports(const QuantizedTensor& w) {
  const SchemeKind k = w.scheme.kind;
  if (k == SchemeKind::kNf4 || k == SchemeKind::kFp4E2M1 ||
      k == SchemeKind::kMxfp4 || k == SchemeKind::kKmeans) {
    // 4-bit levels through a table; whole byte pairs per group.
    return w.scheme.bits == 4 && w.cols % 2 == 0 && w.group_size % 2 == 0;
  }
  if (k != SchemeKind::kInt || !HasCodeZeros(w)) return false;
  if (w.scheme.bits == 8) return w.granularity != Granularity::kGroup;
  if (w.scheme.bits != 4 || w.granularity != Granularity::kGroup) return false;
  const int64_t lanes =
      static_cast<int64_t>(HWY_DYNAMIC_DISPATCH(VectorLanes)());
  return w.cols % w.group_size == 0 && (w.group_size / 2) % lanes == 0;
}

Status MatVec(const QuantizedTensor& w, const float* x, float* y,
              ThreadPool& pool, Workspace& ws) {
  if (!MatVecSupports(w)) {
    return InvalidArgument(
        "MatVec: no kernel for " + w.scheme.Name() +
        (w.granularity == Granularity::kGroup
             ? " in groups of " + std::to_string(w.group_size)
             : std::string()));
  }
  Workspace::Scope scope(ws);
  const int64_t cols = w.cols, groups = w.groups_per_row();
  float* xe = nullptr;
  float* xo = nullptr;
  float* sxg = nullptr;
  float sx = 0.0f;
  for (int64_t c = 0; c < cols; ++c) sx += x[c];
  if (w.scheme.bits == 4) {
    xe = ws.Take<float>(cols / 2);
    xo = ws.Take<float>(cols / 2);
    for (int64_t j = 0; j < cols / 2; ++j) {
      xe[j] = x[2 * j];
      xo[j] = x[2 * j + 1];
    }
    sxg = ws.TakeZeroed<float>(groups);
    for (int64_t c = 0; c < cols; ++c) sxg[c / w.group_size] += x[c];
  }
  const MatVecPrep p{x, xe, xo, sxg, sx};
  float* zbuf = ws.Take<float>(groups * pool.num_threads());
  // One contiguous slice of rows per thread.
  const int64_t grain = std::max<int64_t>(
      16, (w.rows + pool.num_threads() - 1) / pool.num_threads() / 64);
  pool.ParallelForSlots(w.rows, grain, [&](int64_t r0, int64_t r1, int t) {
    HWY_DYNAMIC_DISPATCH(MatVecRowsImpl)(w, p, r0, r1, zbuf + t * groups, y);
  });
  return Status::Ok();
}

}  // namespace lowbit
#endif  // HWY_ONCE
