// Highway dispatch for kernels/packed.h. The AVX3_DL target (AVX-512 VNNI) has
// the striped kernel; every other target walks the same layout with exact
// integer sums per group (correct everywhere, fast where VNNI is).
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/packed.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format off
#include "hwy/highway.h"
// clang-format on

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/half.h"
#include "formats/bitpack.h"
#include "kernels/matvec.h"
#include "kernels/ops-inl.h"
#include "kernels/packed.h"

#ifndef LOWBIT_KERNELS_PACKED_SHARED_
#define LOWBIT_KERNELS_PACKED_SHARED_
namespace lowbit {
// Activations in the packed order, once per call.
struct PackedActs {
  const int8_t* x8e;     // int4: even columns, striped like the codes; int8: x
  const int8_t* x8o;     // int4: odd columns
  const int32_t* gcorr;  // int4: per group, the sum of its activations
  int64_t sum;           // int8: the sum of the activations
  float sx;              // int8: their scale
  bool two_rows;         // read two rows side by side (one thread only)
};
}  // namespace lowbit
#endif

HWY_BEFORE_NAMESPACE();
namespace lowbit {
namespace HWY_NAMESPACE {
namespace {

#if HWY_TARGET == HWY_AVX3_DL
constexpr int64_t kAhead = 2048;  // bytes of codes prefetched ahead

// Groups per row are below 65536 / 16: at most this many stripes.
constexpr int64_t kMaxStripes = 256;

// A row's f16 scales (the row header) as f32, 16 per stripe.
__attribute__((target("avx512vnni"))) inline void HeaderScales(
    const PackedMatrix& w, const uint8_t* row, float* sc) {
  for (int64_t st = 0; st < w.stripes; ++st) {
    _mm512_store_ps(sc + st * 16,
                    _mm512_cvtph_ps(_mm256_loadu_si256(
                        reinterpret_cast<const __m256i*>(row + st * 32))));
  }
}

// One row: per stripe, the exact group sums in 16 int32 lanes, minus the
// zero point times the group's activation sum, then times the 16 scales.
__attribute__((target("avx512vnni"), noinline)) float VnniRow(
    const PackedMatrix& w, const PackedActs& a, int64_t r) {
  const int64_t chunks = w.group_size / 8;  // 64-byte chunks per stripe
  const uint8_t* row = w.data.data() + r * w.row_bytes();
  const __m512i nib = _mm512_set1_epi8(0x0F);
  const __m512i eight = _mm512_set1_epi32(8);
  __m512 acc = _mm512_setzero_ps();
  // f16 scales: all of the row's header first, in order (reading it piece by
  // piece behind the codes halved the streaming rate of wide rows).
  alignas(64) float sc[kMaxStripes * 16];
  if (w.f16_scales) HeaderScales(w, row, sc);
  for (int64_t st = 0; st < w.stripes; ++st) {
    const uint8_t* sp = row + w.row_header_bytes() + st * w.stripe_bytes();
    const uint8_t* c = sp + w.header_bytes();
    const int64_t xa = st * w.code_bytes();
    _mm_prefetch(reinterpret_cast<const char*>(sp + kAhead), _MM_HINT_T0);
    // Low and high nibbles in separate sums: two short dependency chains.
    __m512i dl = _mm512_setzero_si512(), dh = dl;
    for (int64_t k = 0; k < chunks; ++k) {
      _mm_prefetch(reinterpret_cast<const char*>(c + k * 64 + kAhead),
                   _MM_HINT_T0);
      const __m512i v = _mm512_loadu_si512(c + k * 64);
      dl = _mm512_dpbusd_epi32(dl, _mm512_and_si512(v, nib),
                               _mm512_loadu_si512(a.x8e + xa + k * 64));
      dh = _mm512_dpbusd_epi32(dh,
                               _mm512_and_si512(_mm512_srli_epi16(v, 4), nib),
                               _mm512_loadu_si512(a.x8o + xa + k * 64));
    }
    __m512i d = _mm512_add_epi32(dl, dh);
    const __m512i gs = _mm512_loadu_si512(a.gcorr + st * 16);
    if (w.offsets) {  // s (sum q x) - o (sum x)
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_loadu_ps(sp), acc);
      acc = _mm512_fnmadd_ps(_mm512_loadu_ps(sp + 64), _mm512_cvtepi32_ps(gs),
                             acc);
      continue;
    }
    const __m512i z =
        w.symmetric ? eight
                    : _mm512_cvtepu8_epi32(
                          _mm_loadu_si128(reinterpret_cast<const __m128i*>(
                              w.zeros.data() + (r * w.stripes + st) * 16)));
    d = _mm512_sub_epi32(d, _mm512_mullo_epi32(z, gs));
    const __m512 sv =
        w.f16_scales ? _mm512_load_ps(sc + st * 16) : _mm512_loadu_ps(sp);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), sv, acc);
  }
  return _mm512_reduce_add_ps(acc);
}
#endif

#if HWY_TARGET == HWY_AVX3_DL
// Two rows far apart (two long sequential streams) in one loop: twice the
// independent work in flight per stripe, for more memory requests in flight.
__attribute__((target("avx512vnni"), noinline)) void VnniRow2(
    const PackedMatrix& w, const PackedActs& a, int64_t r0, int64_t r1,
    float* y0, float* y1) {
  const int64_t chunks = w.group_size / 8;
  const uint8_t* row[2] = {w.data.data() + r0 * w.row_bytes(),
                           w.data.data() + r1 * w.row_bytes()};
  const int64_t rr[2] = {r0, r1};
  const __m512i nib = _mm512_set1_epi8(0x0F);
  const __m512i eight = _mm512_set1_epi32(8);
  __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  alignas(64) float sc[2][kMaxStripes * 16];
  if (w.f16_scales) {
    HeaderScales(w, row[0], sc[0]);
    HeaderScales(w, row[1], sc[1]);
  }
  for (int64_t st = 0; st < w.stripes; ++st) {
    const int64_t xa = st * w.code_bytes();
    const uint8_t* sp[2];
    const uint8_t* c[2];
    __m512i dl[2], dh[2];
    for (int i = 0; i < 2; ++i) {
      sp[i] = row[i] + w.row_header_bytes() + st * w.stripe_bytes();
      c[i] = sp[i] + w.header_bytes();
      dl[i] = dh[i] = _mm512_setzero_si512();
    }
    for (int64_t k = 0; k < chunks; ++k) {
      const __m512i xe = _mm512_loadu_si512(a.x8e + xa + k * 64);
      const __m512i xo = _mm512_loadu_si512(a.x8o + xa + k * 64);
      for (int i = 0; i < 2; ++i) {
        _mm_prefetch(reinterpret_cast<const char*>(c[i] + k * 64 + kAhead),
                     _MM_HINT_T0);
        const __m512i v = _mm512_loadu_si512(c[i] + k * 64);
        dl[i] = _mm512_dpbusd_epi32(dl[i], _mm512_and_si512(v, nib), xe);
        dh[i] = _mm512_dpbusd_epi32(
            dh[i], _mm512_and_si512(_mm512_srli_epi16(v, 4), nib), xo);
      }
    }
    const __m512i gs = _mm512_loadu_si512(a.gcorr + st * 16);
    for (int i = 0; i < 2; ++i) {
      __m512i d = _mm512_add_epi32(dl[i], dh[i]);
      if (w.offsets) {
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_loadu_ps(sp[i]),
                                 acc[i]);
        acc[i] = _mm512_fnmadd_ps(_mm512_loadu_ps(sp[i] + 64),
                                  _mm512_cvtepi32_ps(gs), acc[i]);
        continue;
      }
      const __m512i z =
          w.symmetric
              ? eight
              : _mm512_cvtepu8_epi32(
                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(
                        w.zeros.data() + (rr[i] * w.stripes + st) * 16)));
      d = _mm512_sub_epi32(d, _mm512_mullo_epi32(z, gs));
      const __m512 sv = w.f16_scales ? _mm512_load_ps(sc[i] + st * 16)
                                     : _mm512_loadu_ps(sp[i]);
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), sv, acc[i]);
    }
  }
  *y0 = _mm512_reduce_add_ps(acc[0]);
  *y1 = _mm512_reduce_add_ps(acc[1]);
}

// One int8 row (padded to 64 bytes): the exact dot product.
int64_t VnniRow8(const PackedMatrix& w, const int8_t* x8, int64_t r) {
  int64_t done;
  return VnniDotBytes(w.data.data() + r * w.row_bytes(), x8, w.row_bytes(),
                      &done);
}
#endif

#if HWY_TARGET == HWY_AVX3_DL
// One row of int8 stripes: per stripe the exact group sums in 16 lanes, minus
// zero8 times the groups' activation sums, times the 16 scales.
__attribute__((target("avx512vnni"), noinline)) float VnniRow8Stripes(
    const PackedMatrix& w, const PackedActs& a, int64_t r) {
  const int64_t chunks = w.group_size / 4;  // 64-byte chunks per stripe
  const uint8_t* row = w.data.data() + r * w.row_bytes();
  const __m512i z = _mm512_set1_epi32(w.zero8);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t st = 0; st < w.stripes; ++st) {
    const uint8_t* sp = row + st * w.stripe_bytes();
    const uint8_t* c = sp + 64;
    const int8_t* x = a.x8e + st * w.code_bytes();
    __m512i d0 = _mm512_setzero_si512(), d1 = d0;
    int64_t k = 0;
    for (; k + 2 <= chunks; k += 2) {
      d0 = _mm512_dpbusd_epi32(d0, _mm512_loadu_si512(c + k * 64),
                               _mm512_loadu_si512(x + k * 64));
      d1 = _mm512_dpbusd_epi32(d1, _mm512_loadu_si512(c + k * 64 + 64),
                               _mm512_loadu_si512(x + k * 64 + 64));
    }
    if (k < chunks) {
      d0 = _mm512_dpbusd_epi32(d0, _mm512_loadu_si512(c + k * 64),
                               _mm512_loadu_si512(x + k * 64));
    }
    __m512i d = _mm512_add_epi32(d0, d1);
    d = _mm512_sub_epi32(
        d, _mm512_mullo_epi32(z, _mm512_loadu_si512(a.gcorr + st * 16)));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_loadu_ps(sp), acc);
  }
  return _mm512_reduce_add_ps(acc);
}
#endif

#if HWY_TARGET == HWY_AVX3_DL
// Two int8 rows far apart in one loop (two sequential streams).
__attribute__((target("avx512vnni"), noinline)) void VnniRow8x2(
    const PackedMatrix& w, const int8_t* x8, int64_t r0, int64_t r1,
    int64_t* d0, int64_t* d1) {
  const int64_t n = w.row_bytes();
  const uint8_t* c0 = w.data.data() + r0 * n;
  const uint8_t* c1 = w.data.data() + r1 * n;
  __m512i a0 = _mm512_setzero_si512(), a1 = a0;
  for (int64_t k = 0; k < n; k += 64) {
    const __m512i x = _mm512_loadu_si512(x8 + k);
    a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(c0 + k), x);
    a1 = _mm512_dpbusd_epi32(a1, _mm512_loadu_si512(c1 + k), x);
  }
  *d0 = _mm512_reduce_add_epi32(a0);
  *d1 = _mm512_reduce_add_epi32(a1);
}
#endif

int64_t PortableRow8(const PackedMatrix& w, const int8_t* x8, int64_t r) {
  const int64_t n = w.row_bytes();
  const uint8_t* c = w.data.data() + r * n;
  int64_t d = 0;
  for (int64_t k = 0; k < n; ++k) d += int64_t{c[k]} * x8[k];
  return d;
}

float HalfAt(const uint8_t* p, int64_t i) {
  uint16_t h;
  std::memcpy(&h, p + 2 * i, 2);
  return F16ToF32(h);
}

float ScaleAt(const uint8_t* sp, int64_t i) {
  float s;
  std::memcpy(&s, sp + 4 * i, 4);
  return s;
}

// Any target: the same layout, exact integer sums per group.
float PortableRow(const PackedMatrix& w, const PackedActs& a, int64_t r) {
  const int64_t chunks = w.group_size / 8;
  const uint8_t* row = w.data.data() + r * w.row_bytes();
  float total = 0.0f;
  for (int64_t st = 0; st < w.stripes; ++st) {
    const uint8_t* sp = row + w.row_header_bytes() + st * w.stripe_bytes();
    const uint8_t* c = sp + w.header_bytes();
    const int64_t xa = st * w.code_bytes();
    for (int64_t i = 0; i < 16; ++i) {
      int64_t d = 0;
      for (int64_t k = 0; k < chunks; ++k) {
        for (int64_t b = 0; b < 4; ++b) {
          const int64_t at = k * 64 + 4 * i + b;
          d += int64_t{c[at] & 15} * a.x8e[xa + at] +
               int64_t{c[at] >> 4} * a.x8o[xa + at];
        }
      }
      const int64_t g = st * 16 + i;
      if (w.offsets) {
        total += ScaleAt(sp, i) * static_cast<float>(d) -
                 ScaleAt(sp + 64, i) * static_cast<float>(a.gcorr[g]);
        continue;
      }
      const int64_t z =
          w.symmetric ? 8 : w.zeros[(r * w.stripes + st) * 16 + i];
      const float sc = w.f16_scales ? HalfAt(row + st * 32, i) : ScaleAt(sp, i);
      total += sc * static_cast<float>(d - z * a.gcorr[g]);
    }
  }
  return total;
}

// Any target: int8 stripes, exact integer sums per group.
float PortableRow8Stripes(const PackedMatrix& w, const PackedActs& a,
                          int64_t r) {
  const int64_t chunks = w.group_size / 4;
  const uint8_t* row = w.data.data() + r * w.row_bytes();
  float total = 0.0f;
  for (int64_t st = 0; st < w.stripes; ++st) {
    const uint8_t* sp = row + st * w.stripe_bytes();
    const uint8_t* c = sp + 64;
    const int8_t* x = a.x8e + st * w.code_bytes();
    for (int64_t i = 0; i < 16; ++i) {
      int64_t d = 0;
      for (int64_t k = 0; k < chunks; ++k) {
        for (int64_t b = 0; b < 4; ++b) {
          const int64_t at = k * 64 + 4 * i + b;
          d += int64_t{c[at]} * x[at];
        }
      }
      d -= int64_t{w.zero8} * a.gcorr[st * 16 + i];
      total += ScaleAt(sp, i) * static_cast<float>(d);
    }
  }
  return total;
}

}  // namespace

void PackedRowsImpl(const PackedMatrix& w, const PackedActs& a, int64_t r0,
                    int64_t r1, float* y) {
  if (w.bits == 8 && !w.int8_rows()) {  // int8 stripes; the caller scales
    for (int64_t r = r0; r < r1; ++r) {
#if HWY_TARGET == HWY_AVX3_DL
      y[r] = VnniRow8Stripes(w, a, r);
#else
      y[r] = PortableRow8Stripes(w, a, r);
#endif
    }
    return;
  }
  if (w.bits == 8) {  // as reference::MatVecQ8: s (sx (dot - 128 sum xq))
    auto out = [&](int64_t r, int64_t d) {
      y[r] = w.row_scales[r] * (a.sx * static_cast<float>(d - 128 * a.sum));
    };
#if HWY_TARGET == HWY_AVX3_DL
    const int64_t h = a.two_rows ? (r1 - r0) / 2 : 0;
    for (int64_t r = r0; r < r0 + h; ++r) {
      int64_t d0, d1;
      VnniRow8x2(w, a.x8e, r, r + h, &d0, &d1);
      out(r, d0);
      out(r + h, d1);
    }
    for (int64_t r = r0 + 2 * h; r < r1; ++r) out(r, VnniRow8(w, a.x8e, r));
#else
    for (int64_t r = r0; r < r1; ++r) out(r, PortableRow8(w, a.x8e, r));
#endif
    return;
  }
#if HWY_TARGET == HWY_AVX3_DL
  // The range's two halves side by side.
  const int64_t h = a.two_rows ? (r1 - r0) / 2 : 0;
  for (int64_t r = r0; r < r0 + h; ++r) {
    VnniRow2(w, a, r, r + h, &y[r], &y[r + h]);
  }
  for (int64_t r = r0 + 2 * h; r < r1; ++r) y[r] = VnniRow(w, a, r);
#else
  for (int64_t r = r0; r < r1; ++r) y[r] = PortableRow(w, a, r);
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace lowbit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit {

HWY_EXPORT(PackedRowsImpl);

namespace {
// Offset, within a row (or the activations), of byte b of group g.
int64_t PackedOffset(int64_t g, int64_t b, int64_t hg) {
  const int64_t st = g / 16, i = g % 16;
  return st * 16 * hg + (b / 4) * 64 + 4 * i + (b % 4);
}

bool CanPackInt8(const QuantizedTensor& w) {
  return w.scheme.kind == SchemeKind::kInt && w.scheme.bits == 8 &&
         w.symmetric && w.granularity != Granularity::kGroup &&
         w.cols < (int64_t{1} << 16);
}

bool CanPackInt4(const QuantizedTensor& w) {
  return w.scheme.kind == SchemeKind::kInt && w.scheme.bits == 4 &&
         w.granularity == Granularity::kGroup && w.group_size >= 16 &&
         (w.group_size & (w.group_size - 1)) == 0 &&
         w.cols % w.group_size == 0 && w.cols < (int64_t{1} << 16);
}

PackedMatrix PackInt8(const QuantizedTensor& w) {
  PackedMatrix p;
  p.bits = 8;
  p.rows = w.rows;
  p.cols = w.cols;
  p.data.assign(static_cast<size_t>(w.rows * p.row_bytes()), 128);
  p.row_scales.resize(static_cast<size_t>(w.rows));
  for (int64_t r = 0; r < w.rows; ++r) {
    std::memcpy(p.data.data() + r * p.row_bytes(),
                w.codes.data() + r * w.code_row_bytes(),
                static_cast<size_t>(w.cols));
    p.row_scales[r] = w.scales[w.granularity == Granularity::kTensor ? 0 : r];
  }
  return p;
}

}  // namespace

bool CanPack(const QuantizedTensor& w) {
  return CanPackInt8(w) || CanPackInt4(w);
}

Result<PackedMatrix> PackInt4Groups(const Int4Groups& src) {
  const int64_t g = src.group_size;
  if (g < 16 || (g & (g - 1)) != 0 || src.cols % g != 0 || src.rows < 1 ||
      src.cols >= (int64_t{1} << 16) || !src.codes || !src.scales) {
    return InvalidArgument(
        "PackInt4Groups: groups of a power of two >= 16, whole groups per "
        "row, fewer than 65536 columns, codes and scales given");
  }
  PackedMatrix p;
  p.rows = src.rows;
  p.cols = src.cols;
  p.group_size = g;
  p.symmetric = src.zeros == nullptr;
  p.offsets = src.offsets != nullptr;
  const int64_t groups = src.cols / g, hg = g / 2;
  p.stripes = (groups + 15) / 16;
  // f16 scales in a row header when asked for and exact; not the default:
  // on rows of 8192 columns and more it streamed at half the rate of the
  // inline f32 scales (cause not found yet), at 4096 about 10% faster.
  p.f16_scales = src.f16_scales && !p.offsets;
  for (int64_t i = 0; p.f16_scales && i < src.rows * groups; ++i) {
    p.f16_scales = RoundToF16(src.scales[i]) == src.scales[i];
  }
  p.data.assign(static_cast<size_t>(p.rows * p.row_bytes()), 0);
  if (src.zeros && !p.offsets) {
    p.zeros.assign(static_cast<size_t>(p.rows * p.stripes * 16), 0);
  }
  for (int64_t r = 0; r < p.rows; ++r) {
    const uint8_t* in = src.codes + r * src.cols / 2;
    uint8_t* dst = p.data.data() + r * p.row_bytes();
    for (int64_t k = 0; k < groups; ++k) {
      uint8_t* sp = dst + p.row_header_bytes() + (k / 16) * p.stripe_bytes();
      for (int64_t b = 0; b < hg; ++b)
        sp[p.header_bytes() + PackedOffset(k % 16, b, hg)] = in[k * hg + b];
      const float s = src.scales[r * groups + k];
      if (p.f16_scales) {
        const uint16_t h = F32ToF16(s);
        std::memcpy(dst + 2 * k, &h, 2);
      } else {
        std::memcpy(sp + 4 * (k % 16), &s, 4);
      }
      if (p.offsets) {
        std::memcpy(sp + 64 + 4 * (k % 16), src.offsets + r * groups + k, 4);
      } else if (src.zeros) {
        p.zeros[r * p.stripes * 16 + k] = src.zeros[r * groups + k];
      }
    }
  }
  return p;
}

Result<PackedMatrix> PackInt8Groups(int64_t rows, int64_t cols,
                                    int64_t group_size, const uint8_t* codes,
                                    const float* scales, int zero8) {
  const int64_t g = group_size;
  if (g < 16 || g % 4 != 0 || cols % g != 0 || rows < 1 ||
      cols >= (int64_t{1} << 16)) {
    return InvalidArgument(
        "PackInt8Groups: groups of a multiple of 4 >= 16, whole groups per "
        "row, fewer than 65536 columns");
  }
  PackedMatrix p;
  p.bits = 8;
  p.rows = rows;
  p.cols = cols;
  p.group_size = g;
  p.zero8 = zero8;
  const int64_t groups = cols / g;
  p.stripes = (groups + 15) / 16;
  p.data.assign(static_cast<size_t>(rows * p.row_bytes()), 0);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* dst = p.data.data() + r * p.row_bytes();
    for (int64_t k = 0; k < groups; ++k) {
      uint8_t* sp = dst + (k / 16) * p.stripe_bytes();
      for (int64_t b = 0; b < g; ++b)
        sp[64 + PackedOffset(k % 16, b, g)] = codes[r * cols + k * g + b];
      std::memcpy(sp + 4 * (k % 16), scales + r * groups + k, 4);
    }
  }
  return p;
}

Result<PackedMatrix> Pack(const QuantizedTensor& w) {
  if (CanPackInt8(w)) return PackInt8(w);
  if (!CanPackInt4(w)) {
    return InvalidArgument(
        "Pack: int8 symmetric weights per channel or tensor, or int4 in "
        "groups of a power of two >= 16 with whole groups per row; fewer than "
        "65536 columns");
  }
  std::vector<uint8_t> zeros;
  if (!w.symmetric) {
    const int64_t groups = w.groups_per_row();
    zeros.resize(static_cast<size_t>(w.rows * groups));
    for (int64_t r = 0; r < w.rows; ++r) {
      UnpackBits(w.zeros.data() + r * w.zero_row_bytes(), groups, 4,
                 zeros.data() + r * groups);
    }
  }
  Int4Groups src;
  src.rows = w.rows;
  src.cols = w.cols;
  src.group_size = w.group_size;
  src.codes = w.codes.data();
  src.scales = w.scales.data();
  src.zeros = w.symmetric ? nullptr : zeros.data();
  return PackInt4Groups(src);
}

Status MatVecQ8(const PackedMatrix& w, const float* x, float* y,
                ThreadPool& pool) {
  const int64_t grain = std::max<int64_t>(
      16, (w.rows + pool.num_threads() - 1) / pool.num_threads());
  // Two rows side by side raise one core's streaming rate; with more threads
  // the extra streams only compete (measured: no gain at two threads).
  const bool two_rows = pool.num_threads() == 1;
  if (w.bits == 8 && !w.int8_rows()) {  // int8 stripes
    const int64_t g = w.group_size, groups = w.cols / g;
    std::vector<int16_t> xq(static_cast<size_t>(w.cols));
    const float sx = QuantizeActivations(x, w.cols, xq.data());
    std::vector<int8_t> xp(static_cast<size_t>(w.stripes * w.code_bytes()), 0);
    std::vector<int32_t> gsum(static_cast<size_t>(w.stripes * 16), 0);
    for (int64_t k = 0; k < groups; ++k) {
      for (int64_t b = 0; b < g; ++b) {
        xp[PackedOffset(k, b, g)] = static_cast<int8_t>(xq[k * g + b]);
        gsum[k] += xq[k * g + b];
      }
    }
    const PackedActs acts{xp.data(), nullptr, gsum.data(), 0, sx, false};
    pool.ParallelFor(w.rows, grain, [&](int64_t r0, int64_t r1) {
      HWY_DYNAMIC_DISPATCH(PackedRowsImpl)(w, acts, r0, r1, y);
    });
    for (int64_t r = 0; r < w.rows; ++r) y[r] *= sx;
    return Status::Ok();
  }
  if (w.bits == 8) {
    std::vector<int16_t> xq(static_cast<size_t>(w.cols));
    const float sx = QuantizeActivations(x, w.cols, xq.data());
    std::vector<int8_t> x8(static_cast<size_t>(w.row_bytes()), 0);
    int64_t sum = 0;
    for (int64_t k = 0; k < w.cols; ++k) {
      x8[k] = static_cast<int8_t>(xq[k]);
      sum += xq[k];
    }
    const PackedActs acts{x8.data(), nullptr, nullptr, sum, sx, two_rows};
    pool.ParallelFor(w.rows, grain, [&](int64_t r0, int64_t r1) {
      HWY_DYNAMIC_DISPATCH(PackedRowsImpl)(w, acts, r0, r1, y);
    });
    return Status::Ok();
  }
  const int64_t cols = w.cols, hg = w.group_size / 2;
  const int64_t groups = cols / w.group_size;
  std::vector<int16_t> xq(static_cast<size_t>(cols));
  const float sx = QuantizeActivations(x, cols, xq.data());
  std::vector<int8_t> xe(static_cast<size_t>(w.stripes * w.code_bytes()), 0),
      xo(xe.size(), 0);
  std::vector<int32_t> gsum(static_cast<size_t>(w.stripes * 16), 0);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < hg; ++b) {
      const int64_t col = g * w.group_size + 2 * b;
      const int64_t at = PackedOffset(g, b, hg);
      xe[at] = static_cast<int8_t>(xq[col]);
      xo[at] = static_cast<int8_t>(xq[col + 1]);
      gsum[g] += xq[col] + xq[col + 1];
    }
  }
  const PackedActs acts{xe.data(), xo.data(), gsum.data(), 0, sx, two_rows};
  pool.ParallelFor(w.rows, grain, [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(PackedRowsImpl)(w, acts, r0, r1, y);
  });
  for (int64_t r = 0; r < w.rows; ++r) y[r] *= sx;
  return Status::Ok();
}

}  // namespace lowbit
#endif  // HWY_ONCE
