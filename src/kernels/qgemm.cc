// QGemm (kernels/qgemm.h): the weight layout, the scalar reference, the
// AVX-512 VNNI kernel and the AVX2 kernel.
#include "kernels/qgemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "formats/bitpack.h"
#include "kernels/vnni_target.h"

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 warns about its own AVX-512 headers (the undefined first operand of
// the masked intrinsics).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace lowbit {
namespace {

constexpr int kL = QGemmWeight::kLanes;
constexpr int64_t kChunkRows = 64;  // activation rows per task
// Inputs per activation scale when the weights have one scale per row.
constexpr int64_t kActGroup = 64;

int64_t RoundUp(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

// Byte offset, within a panel's codes, of input j (padded index) of lane l.
int64_t CodeOffset(const QGemmWeight& w, int64_t j, int l) {
  if (!w.nibbles) return (j / 4) * 128 + l * 4 + j % 4;
  return (j / 8) * 128 + l * 4 + j % 4;  // nibble (j / 4) % 2 of this byte
}

// The quantized activations of one row, per group: xq[kpad] (zero padding),
// the group sums xs[groups] and scales sx[groups]. Scalar; the SIMD version
// gives the same bits.
void QuantizeRowRef(const QGemmWeight& w, const float* x, int8_t* xq,
                    int32_t* xs, float* sx) {
  std::memset(xq, 0, static_cast<size_t>(w.kpad()));
  for (int64_t g = 0; g < w.groups; ++g) {
    const int64_t k0 = g * w.group, len = std::min(w.group, w.k - k0);
    float amax = 0.0f;
    for (int64_t j = 0; j < len; ++j) {
      amax = std::max(amax, std::fabs(x[k0 + j]));
    }
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    int32_t sum = 0;
    for (int64_t j = 0; j < len; ++j) {
      const float v = std::nearbyint(x[k0 + j] * inv);
      const int8_t q = static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f));
      xq[g * w.gp + j] = q;
      sum += q;
    }
    xs[g] = sum;
    sx[g] = amax / 127.0f;
  }
}

void ReferenceRows(const QGemmWeight& w, const int8_t* xq, const int32_t* xs,
                   const float* sx, int64_t rows, float* y, int64_t ldy) {
  const int64_t kpad = w.kpad();
  for (int64_t n = 0; n < w.n; ++n) {
    const int64_t p = n / kL;
    const int l = static_cast<int>(n % kL);
    const uint8_t* pc = w.codes.data() + p * w.panel_bytes();
    for (int64_t m = 0; m < rows; ++m) {
      float acc = 0.0f;
      for (int64_t g = 0; g < w.groups; ++g) {
        int32_t dot = 0;
        for (int64_t j = g * w.gp; j < (g + 1) * w.gp; ++j) {
          uint8_t c = pc[CodeOffset(w, j, l)];
          if (w.nibbles) c = (j / 4) % 2 ? c >> 4 : c & 15;
          dot += static_cast<int32_t>(c) * xq[m * kpad + j];
        }
        const size_t s = static_cast<size_t>((p * w.groups + g) * kL + l);
        dot -= w.ZeroAt(s) * xs[m * w.groups + g];
        acc = std::fma(static_cast<float>(dot),
                       w.scales[s] * sx[m * w.groups + g], acc);
      }
      y[m * ldy + n] = acc;
    }
  }
}

// ---- AVX-512 VNNI -------------------------------------------------------

LOWBIT_TARGET_VNNI void QuantizeRowVnni(const QGemmWeight& w, const float* x,
                                        int8_t* xq, int32_t* xs, float* sx) {
  std::memset(xq, 0, static_cast<size_t>(w.kpad()));
  const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
  for (int64_t g = 0; g < w.groups; ++g) {
    const int64_t k0 = g * w.group, len = std::min(w.group, w.k - k0);
    auto mask = [&](int64_t j) {
      return len - j >= 16 ? static_cast<__mmask16>(0xFFFF)
                           : static_cast<__mmask16>((1u << (len - j)) - 1);
    };
    __m512 vmax = _mm512_setzero_ps();
    for (int64_t j = 0; j < len; j += 16) {
      vmax = _mm512_max_ps(
          vmax, _mm512_abs_ps(_mm512_maskz_loadu_ps(mask(j), x + k0 + j)));
    }
    const float amax = _mm512_reduce_max_ps(vmax);
    const __m512 vinv = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
    __m512i sum = _mm512_setzero_si512();
    for (int64_t j = 0; j < len; j += 16) {
      const __mmask16 mk = mask(j);
      __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x + k0 + j), vinv);
      v = _mm512_roundscale_ps(v,
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
      const __m512i q = _mm512_maskz_cvtps_epi32(mk, v);
      sum = _mm512_add_epi32(sum, q);
      _mm_mask_storeu_epi8(xq + g * w.gp + j, mk, _mm512_cvtepi32_epi8(q));
    }
    xs[g] = _mm512_reduce_add_epi32(sum);
    sx[g] = amax / 127.0f;
  }
}

// Rows [0, MR) of one 32-row panel: y[r * ldy + lane] for lanes < valid.
template <int MR>
LOWBIT_TARGET_VNNI void TileVnni(const QGemmWeight& w, int64_t p,
                                 const int8_t* xq, const int32_t* xs,
                                 const float* sx, float* y, int64_t ldy,
                                 int valid) {
  const int64_t kpad = w.kpad();
  const uint8_t* pc = w.codes.data() + p * w.panel_bytes();
  __m512 f[MR][2];
  for (int r = 0; r < MR; ++r) f[r][0] = f[r][1] = _mm512_setzero_ps();
  const __m512i nib = _mm512_set1_epi8(15);
  for (int64_t g = 0; g < w.groups; ++g) {
    __m512i a[MR][2];
    for (int r = 0; r < MR; ++r) a[r][0] = a[r][1] = _mm512_setzero_si512();
    const int8_t* xg = xq + g * w.gp;
    if (w.nibbles) {
      const uint8_t* c = pc + g * w.gp * kL / 2;
      for (int64_t j = 0; j < w.gp; j += 8, c += 128) {
        const __m512i v0 = _mm512_loadu_si512(c),
                      v1 = _mm512_loadu_si512(c + 64);
        const __m512i l0 = _mm512_and_si512(v0, nib);
        const __m512i h0 = _mm512_and_si512(_mm512_srli_epi16(v0, 4), nib);
        const __m512i l1 = _mm512_and_si512(v1, nib);
        const __m512i h1 = _mm512_and_si512(_mm512_srli_epi16(v1, 4), nib);
        for (int r = 0; r < MR; ++r) {
          int32_t e, o;
          std::memcpy(&e, xg + r * kpad + j, 4);
          std::memcpy(&o, xg + r * kpad + j + 4, 4);
          const __m512i be = _mm512_set1_epi32(e), bo = _mm512_set1_epi32(o);
          a[r][0] = _mm512_dpbusd_epi32(a[r][0], l0, be);
          a[r][1] = _mm512_dpbusd_epi32(a[r][1], l1, be);
          a[r][0] = _mm512_dpbusd_epi32(a[r][0], h0, bo);
          a[r][1] = _mm512_dpbusd_epi32(a[r][1], h1, bo);
        }
      }
    } else {
      const uint8_t* c = pc + g * w.gp * kL;
      for (int64_t j = 0; j < w.gp; j += 4, c += 128) {
        const __m512i v0 = _mm512_loadu_si512(c),
                      v1 = _mm512_loadu_si512(c + 64);
        for (int r = 0; r < MR; ++r) {
          int32_t e;
          std::memcpy(&e, xg + r * kpad + j, 4);
          const __m512i b = _mm512_set1_epi32(e);
          a[r][0] = _mm512_dpbusd_epi32(a[r][0], v0, b);
          a[r][1] = _mm512_dpbusd_epi32(a[r][1], v1, b);
        }
      }
    }
    const size_t s = static_cast<size_t>((p * w.groups + g) * kL);
    const __m512 s0 = _mm512_loadu_ps(w.scales.data() + s);
    const __m512 s1 = _mm512_loadu_ps(w.scales.data() + s + 16);
    const __m512i z0 = w.zeros.empty() ? _mm512_set1_epi32(w.zero)
                                       : _mm512_loadu_si512(w.zeros.data() + s);
    const __m512i z1 = w.zeros.empty()
                           ? _mm512_set1_epi32(w.zero)
                           : _mm512_loadu_si512(w.zeros.data() + s + 16);
    const bool sym = w.zeros.empty();
    for (int r = 0; r < MR; ++r) {
      const int32_t xr = xs[r * w.groups + g];
      const __m512i xsum = _mm512_set1_epi32(xr);
      const __m512 sg = _mm512_set1_ps(sx[r * w.groups + g]);
      // Symmetric: one zero for every lane, the correction a scalar.
      const __m512i zx = _mm512_set1_epi32(w.zero * xr);
      const __m512i c0 =
          _mm512_sub_epi32(a[r][0], sym ? zx : _mm512_mullo_epi32(z0, xsum));
      const __m512i c1 =
          _mm512_sub_epi32(a[r][1], sym ? zx : _mm512_mullo_epi32(z1, xsum));
      f[r][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c0), _mm512_mul_ps(s0, sg),
                                f[r][0]);
      f[r][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c1), _mm512_mul_ps(s1, sg),
                                f[r][1]);
    }
  }
  const __mmask16 m0 =
      static_cast<__mmask16>(valid >= 16 ? 0xFFFF : (1u << valid) - 1);
  const __mmask16 m1 =
      static_cast<__mmask16>(valid >= 32   ? 0xFFFF
                             : valid <= 16 ? 0
                                           : (1u << (valid - 16)) - 1);
  for (int r = 0; r < MR; ++r) {
    _mm512_mask_storeu_ps(y + r * ldy, m0, f[r][0]);
    _mm512_mask_storeu_ps(y + r * ldy + 16, m1, f[r][1]);
  }
}

LOWBIT_TARGET_VNNI void RowsVnni(const QGemmWeight& w, const int8_t* xq,
                                 const int32_t* xs, const float* sx,
                                 int64_t rows, float* y, int64_t ldy) {
  const int64_t kpad = w.kpad();
  for (int64_t p = 0; p < w.panels(); ++p) {
    const int valid = static_cast<int>(std::min<int64_t>(kL, w.n - p * kL));
    float* yp = y + p * kL;
    int64_t m = 0;
    for (; m + 4 <= rows; m += 4) {
      TileVnni<4>(w, p, xq + m * kpad, xs + m * w.groups, sx + m * w.groups,
                  yp + m * ldy, ldy, valid);
    }
    const int64_t left = rows - m;
    const int8_t* xr = xq + m * kpad;
    const int32_t* sr = xs + m * w.groups;
    float* yr = yp + m * ldy;
    const float* fr = sx + m * w.groups;
    if (left == 3) TileVnni<3>(w, p, xr, sr, fr, yr, ldy, valid);
    if (left == 2) TileVnni<2>(w, p, xr, sr, fr, yr, ldy, valid);
    if (left == 1) TileVnni<1>(w, p, xr, sr, fr, yr, ldy, valid);
  }
}

// ---- AVX2 ---------------------------------------------------------------
// Without VNNI: vpmaddubsw multiplies the unsigned codes by the signed
// activations and adds neighbouring pairs into int16, vpmaddwd adds those
// pairs into int32 (each int32 lane then holds one output's quad of four
// products, as vpdpbusd's). vpmaddubsw saturates, so codes of up to 4 bits
// go in as the nibbles they are stored as: a pair of products is at most 2 * 15
// * 127 = 3,810, and two nibble sums added in int16 at most 7,620. Bytes (codes
// of 5 to 8 bits) go in as c - 128: |c - 128| (at most 128, unsigned) times x
// with the sign of c - 128 (vpsignb; x is within +-127), a pair at most 2 * 128
// * 127 = 32,512; the zero correction adds the 128 back (z - 128 in place of
// z). The integer sums are exact and the float epilogue is the reference's, so
// the result is the reference's bit for bit. A tile is MR rows by 16 of a
// panel's 32 lanes (a half): 8 accumulators and 8 partial sums in 16
// registers.

#define LOWBIT_TARGET_AVX2 __attribute__((target("avx2,fma,bmi,bmi2")))

// Lanes i < n (n clamped to 8) set. A function, not a lambda: a lambda does
// not inherit its enclosing function's target.
LOWBIT_TARGET_AVX2 inline __m256i FirstLanes(int64_t n) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(
      _mm256_set1_epi32(static_cast<int32_t>(std::min<int64_t>(n, 8))), iota);
}

// QuantizeRowRef's bits: the same maximum, product, rounding (to nearest
// even, as nearbyint in the default mode) and clamp.
LOWBIT_TARGET_AVX2 void QuantizeRowAvx2(const QGemmWeight& w, const float* x,
                                        int8_t* xq, int32_t* xs, float* sx) {
  std::memset(xq, 0, static_cast<size_t>(w.kpad()));
  const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t g = 0; g < w.groups; ++g) {
    const int64_t k0 = g * w.group, len = std::min(w.group, w.k - k0);
    __m256 vmax = _mm256_setzero_ps();
    for (int64_t j = 0; j < len; j += 8) {
      const __m256 v = _mm256_maskload_ps(x + k0 + j, FirstLanes(len - j));
      vmax = _mm256_max_ps(vmax, _mm256_andnot_ps(sign, v));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax),
                           _mm256_extractf128_ps(vmax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
    const float amax = _mm_cvtss_f32(m4);
    const __m256 vinv = _mm256_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
    __m256i sum = _mm256_setzero_si256();
    for (int64_t j = 0; j < len; j += 8) {
      const __m256i mk = FirstLanes(len - j);
      __m256 v = _mm256_mul_ps(_mm256_maskload_ps(x + k0 + j, mk), vinv);
      v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
      const __m256i q = _mm256_and_si256(_mm256_cvtps_epi32(v), mk);
      sum = _mm256_add_epi32(sum, q);
      alignas(32) int32_t t[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(t), q);
      const int64_t n = std::min<int64_t>(len - j, 8);
      for (int64_t i = 0; i < n; ++i) {
        xq[g * w.gp + j + i] = static_cast<int8_t>(t[i]);
      }
    }
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum),
                               _mm256_extracti128_si256(sum, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    xs[g] = _mm_cvtsi128_si32(s4);
    sx[g] = amax / 127.0f;
  }
}

template <int MR>
LOWBIT_TARGET_AVX2 void TileAvx2(const QGemmWeight& w, int64_t p, int half,
                                 const int8_t* xq, const int32_t* xs,
                                 const float* sx, float* y, int64_t ldy,
                                 int valid) {
  const int64_t kpad = w.kpad();
  // Lanes 16 * half .. + 15 of every 128-byte block: bytes 64 * half .. + 63.
  const uint8_t* pc = w.codes.data() + p * w.panel_bytes() + 64 * half;
  __m256 f[MR][2];
  for (int r = 0; r < MR; ++r) f[r][0] = f[r][1] = _mm256_setzero_ps();
  const __m256i nib = _mm256_set1_epi8(15);
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  // Bytes are summed as c - 128: the zero correction takes the 128 back.
  const int32_t off = w.nibbles ? 0 : 128;
  for (int64_t g = 0; g < w.groups; ++g) {
    __m256i a[MR][2];
    for (int r = 0; r < MR; ++r) a[r][0] = a[r][1] = _mm256_setzero_si256();
    const int8_t* xg = xq + g * w.gp;
    if (w.nibbles) {
      const uint8_t* c = pc + g * w.gp * kL / 2;
      for (int64_t j = 0; j < w.gp; j += 8, c += 128) {
        const __m256i v0 =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c));
        const __m256i v1 =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + 32));
        const __m256i l0 = _mm256_and_si256(v0, nib);
        const __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), nib);
        const __m256i l1 = _mm256_and_si256(v1, nib);
        const __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), nib);
        for (int r = 0; r < MR; ++r) {
          int32_t e, o;
          std::memcpy(&e, xg + r * kpad + j, 4);
          std::memcpy(&o, xg + r * kpad + j + 4, 4);
          const __m256i be = _mm256_set1_epi32(e), bo = _mm256_set1_epi32(o);
          const __m256i s0 = _mm256_add_epi16(_mm256_maddubs_epi16(l0, be),
                                              _mm256_maddubs_epi16(h0, bo));
          const __m256i s1 = _mm256_add_epi16(_mm256_maddubs_epi16(l1, be),
                                              _mm256_maddubs_epi16(h1, bo));
          a[r][0] = _mm256_add_epi32(a[r][0], _mm256_madd_epi16(s0, ones));
          a[r][1] = _mm256_add_epi32(a[r][1], _mm256_madd_epi16(s1, ones));
        }
      }
    } else {
      const uint8_t* c = pc + g * w.gp * kL;
      for (int64_t j = 0; j < w.gp; j += 4, c += 128) {
        // c' = c - 128, as |c'| (unsigned, at most 128) times x with c''s
        // sign (x is within +-127: its negation is exact).
        const __m256i c0 = _mm256_xor_si256(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c)), flip);
        const __m256i c1 = _mm256_xor_si256(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + 32)), flip);
        const __m256i u0 = _mm256_abs_epi8(c0), u1 = _mm256_abs_epi8(c1);
        for (int r = 0; r < MR; ++r) {
          int32_t e;
          std::memcpy(&e, xg + r * kpad + j, 4);
          const __m256i b = _mm256_set1_epi32(e);
          a[r][0] = _mm256_add_epi32(
              a[r][0],
              _mm256_madd_epi16(
                  _mm256_maddubs_epi16(u0, _mm256_sign_epi8(b, c0)), ones));
          a[r][1] = _mm256_add_epi32(
              a[r][1],
              _mm256_madd_epi16(
                  _mm256_maddubs_epi16(u1, _mm256_sign_epi8(b, c1)), ones));
        }
      }
    }
    const size_t s = static_cast<size_t>((p * w.groups + g) * kL + 16 * half);
    const __m256 s0 = _mm256_loadu_ps(w.scales.data() + s);
    const __m256 s1 = _mm256_loadu_ps(w.scales.data() + s + 8);
    const bool sym = w.zeros.empty();
    const __m256i offs = _mm256_set1_epi32(off);
    const __m256i z0 =
        sym ? offs
            : _mm256_sub_epi32(
                  _mm256_loadu_si256(
                      reinterpret_cast<const __m256i*>(w.zeros.data() + s)),
                  offs);
    const __m256i z1 =
        sym ? offs
            : _mm256_sub_epi32(
                  _mm256_loadu_si256(
                      reinterpret_cast<const __m256i*>(w.zeros.data() + s + 8)),
                  offs);
    for (int r = 0; r < MR; ++r) {
      const int32_t xr = xs[r * w.groups + g];
      const __m256i xsum = _mm256_set1_epi32(xr);
      const __m256 sg = _mm256_set1_ps(sx[r * w.groups + g]);
      const __m256i zx = _mm256_set1_epi32((w.zero - off) * xr);
      const __m256i c0 =
          _mm256_sub_epi32(a[r][0], sym ? zx : _mm256_mullo_epi32(z0, xsum));
      const __m256i c1 =
          _mm256_sub_epi32(a[r][1], sym ? zx : _mm256_mullo_epi32(z1, xsum));
      f[r][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(c0), _mm256_mul_ps(s0, sg),
                                f[r][0]);
      f[r][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(c1), _mm256_mul_ps(s1, sg),
                                f[r][1]);
    }
  }
  const int lanes = std::clamp(valid - 16 * half, 0, 16);
  for (int r = 0; r < MR; ++r) {
    float* yr = y + r * ldy + 16 * half;
    if (lanes == 16) {
      _mm256_storeu_ps(yr, f[r][0]);
      _mm256_storeu_ps(yr + 8, f[r][1]);
    } else {
      alignas(32) float t[16];
      _mm256_store_ps(t, f[r][0]);
      _mm256_store_ps(t + 8, f[r][1]);
      std::memcpy(yr, t, sizeof(float) * static_cast<size_t>(lanes));
    }
  }
}

LOWBIT_TARGET_AVX2 void RowsAvx2(const QGemmWeight& w, const int8_t* xq,
                                 const int32_t* xs, const float* sx,
                                 int64_t rows, float* y, int64_t ldy) {
  const int64_t kpad = w.kpad();
  for (int64_t p = 0; p < w.panels(); ++p) {
    const int valid = static_cast<int>(std::min<int64_t>(kL, w.n - p * kL));
    float* yp = y + p * kL;
    for (int half = 0; half < 2 && 16 * half < valid; ++half) {
      int64_t m = 0;
      for (; m + 4 <= rows; m += 4) {
        TileAvx2<4>(w, p, half, xq + m * kpad, xs + m * w.groups,
                    sx + m * w.groups, yp + m * ldy, ldy, valid);
      }
      const int64_t left = rows - m;
      const int8_t* xr = xq + m * kpad;
      const int32_t* sr = xs + m * w.groups;
      float* yr = yp + m * ldy;
      const float* fr = sx + m * w.groups;
      if (left == 3) TileAvx2<3>(w, p, half, xr, sr, fr, yr, ldy, valid);
      if (left == 2) TileAvx2<2>(w, p, half, xr, sr, fr, yr, ldy, valid);
      if (left == 1) TileAvx2<1>(w, p, half, xr, sr, fr, yr, ldy, valid);
    }
  }
}

bool DetectAvx2() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("bmi2");
#else
  return false;
#endif
}

bool DetectVnni() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vnni") &&
         __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
#else
  return false;
#endif
}

void Run(const QGemmWeight& w, const float* x, int64_t rows, int64_t ldx,
         float* y, int64_t ldy, ThreadPool* pool, Workspace* ws,
         QGemmKernel kernel) {
  const bool vnni = kernel == QGemmKernel::kVnni;
  const int64_t kpad = w.kpad();
  const int64_t per_slot = kChunkRows * (kpad + 8 * w.groups) + 128;
  auto body = [&](int64_t c0, int64_t c1, uint8_t* scratch) {
    int8_t* xq = reinterpret_cast<int8_t*>(scratch);
    int32_t* xs =
        reinterpret_cast<int32_t*>(scratch + RoundUp(kChunkRows * kpad, 64));
    float* sx = reinterpret_cast<float*>(xs + kChunkRows * w.groups);
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t m0 = c * kChunkRows;
      const int64_t n = std::min(kChunkRows, rows - m0);
      for (int64_t r = 0; r < n; ++r) {
        const float* xr = x + (m0 + r) * ldx;
        if (vnni) {
          QuantizeRowVnni(w, xr, xq + r * kpad, xs + r * w.groups,
                          sx + r * w.groups);
        } else if (kernel == QGemmKernel::kAvx2) {
          QuantizeRowAvx2(w, xr, xq + r * kpad, xs + r * w.groups,
                          sx + r * w.groups);
        } else {
          QuantizeRowRef(w, xr, xq + r * kpad, xs + r * w.groups,
                         sx + r * w.groups);
        }
      }
      if (vnni) {
        RowsVnni(w, xq, xs, sx, n, y + m0 * ldy, ldy);
      } else if (kernel == QGemmKernel::kAvx2) {
        RowsAvx2(w, xq, xs, sx, n, y + m0 * ldy, ldy);
      } else {
        ReferenceRows(w, xq, xs, sx, n, y + m0 * ldy, ldy);
      }
    }
  };
  const int64_t chunks = (rows + kChunkRows - 1) / kChunkRows;
  if (pool == nullptr) {
    std::vector<uint8_t> scratch(static_cast<size_t>(per_slot + 64));
    body(0, chunks, scratch.data());
    return;
  }
  Workspace::Scope scope(*ws);
  const int slots = pool->num_threads();
  uint8_t* all = ws->Take<uint8_t>(RoundUp(per_slot, 64) * slots);
  pool->ParallelForSlots(chunks, 1, [&](int64_t c0, int64_t c1, int slot) {
    body(c0, c1, all + RoundUp(per_slot, 64) * slot);
  });
}

}  // namespace

bool QGemmCanRun(QGemmKernel k) {
  static const bool vnni = DetectVnni(), avx2 = DetectAvx2();
  switch (k) {
    case QGemmKernel::kReference:
      return true;
    case QGemmKernel::kAvx2:
      return avx2;
    case QGemmKernel::kVnni:
      return vnni;
  }
  return false;
}

QGemmKernel QGemmBestKernel() {
  if (QGemmCanRun(QGemmKernel::kVnni)) return QGemmKernel::kVnni;
  if (QGemmCanRun(QGemmKernel::kAvx2)) return QGemmKernel::kAvx2;
  return QGemmKernel::kReference;
}

const char* QGemmKernelName(QGemmKernel k) {
  switch (k) {
    case QGemmKernel::kReference:
      return "reference";
    case QGemmKernel::kAvx2:
      return "avx2";
    case QGemmKernel::kVnni:
      return "avx512-vnni";
  }
  return "?";
}

bool QGemmSupports(const QuantizedTensor& q) {
  if (q.scheme.kind != SchemeKind::kInt || q.scheme.bits < 2 ||
      q.scheme.bits > 8 || q.rows <= 0 || q.cols <= 0 || !HasCodeZeros(q)) {
    return false;
  }
  if (q.granularity == Granularity::kGroup && q.group_size % 4 != 0) {
    return false;
  }
  return true;
}

Result<QGemmWeight> PrepareQGemm(const QuantizedTensor& q) {
  if (!QGemmSupports(q)) {
    return InvalidArgument("QGemm: " + q.scheme.Name() +
                           " weights are not integer codes of 2 to 8 bits "
                           "in groups of a multiple of 4");
  }
  QGemmWeight w;
  w.n = q.rows;
  w.k = q.cols;
  w.nibbles = q.scheme.bits <= 4;
  // Per tensor or channel: one weight scale for the row, repeated over
  // activation groups of kActGroup.
  w.group = q.granularity == Granularity::kGroup
                ? q.group_size
                : std::min<int64_t>(q.cols, kActGroup);
  w.groups = (w.k + w.group - 1) / w.group;
  w.gp = RoundUp(w.group, w.nibbles ? 8 : 4);
  const int64_t panels = w.panels(), G = w.groups;
  w.codes.assign(static_cast<size_t>(panels * w.panel_bytes()), 0);
  w.scales.assign(static_cast<size_t>(panels * G * kL), 0.0f);
  w.zero = 1 << (q.scheme.bits - 1);
  if (!q.symmetric) w.zeros.assign(static_cast<size_t>(panels * G * kL), 0);
  const int bits = q.scheme.bits;
  std::vector<uint8_t> row(static_cast<size_t>(q.cols));
  for (int64_t n = 0; n < q.rows; ++n) {
    const int64_t p = n / kL;
    const int l = static_cast<int>(n % kL);
    UnpackBits(q.codes.data() + n * q.code_row_bytes(), q.cols, bits,
               row.data());
    uint8_t* pc = w.codes.data() + p * w.panel_bytes();
    for (int64_t k = 0; k < q.cols; ++k) {
      const int64_t g = k / w.group, j = g * w.gp + k % w.group;
      uint8_t& b = pc[CodeOffset(w, j, l)];
      if (w.nibbles && (j / 4) % 2) {
        b = static_cast<uint8_t>(b | row[k] << 4);
      } else {
        b = static_cast<uint8_t>(b | row[k]);
      }
    }
    const int64_t srow = q.granularity == Granularity::kTensor ? 0 : n;
    const int64_t qg =
        q.granularity == Granularity::kGroup ? q.groups_per_row() : 1;
    for (int64_t g = 0; g < G; ++g) {
      const size_t s = static_cast<size_t>((p * G + g) * kL + l);
      w.scales[s] = q.scales[static_cast<size_t>(srow * qg + (qg > 1 ? g : 0))];
      if (!q.symmetric) {
        w.zeros[s] = CodeAt(q.zeros.data() + srow * q.zero_row_bytes(),
                            qg > 1 ? g : 0, bits);
      }
    }
  }
  return w;
}

void QGemm(const QGemmWeight& w, const float* x, int64_t rows, int64_t ldx,
           float* y, int64_t ldy, ThreadPool& pool, Workspace& ws,
           QGemmKernel kernel) {
  if (rows <= 0 || w.n <= 0) return;
  if (!QGemmCanRun(kernel)) kernel = QGemmKernel::kReference;
  Run(w, x, rows, ldx, y, ldy, &pool, &ws, kernel);
}

void QGemm(const QGemmWeight& w, const float* x, int64_t rows, int64_t ldx,
           float* y, int64_t ldy, ThreadPool& pool, Workspace& ws) {
  QGemm(w, x, rows, ldx, y, ldy, pool, ws, QGemmBestKernel());
}

namespace reference {
void QGemm(const QGemmWeight& w, const float* x, int64_t rows, int64_t ldx,
           float* y, int64_t ldy) {
  if (rows <= 0 || w.n <= 0) return;
  Run(w, x, rows, ldx, y, ldy, nullptr, nullptr, QGemmKernel::kReference);
}
}  // namespace reference

}  // namespace lowbit
