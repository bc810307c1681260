// QGemm (kernels/qgemm.h): the weight layout, the scalar reference and the
// AVX-512 VNNI kernel.
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
         float* y, int64_t ldy, ThreadPool* pool, Workspace* ws, bool simd) {
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
        if (simd) {
          QuantizeRowVnni(w, xr, xq + r * kpad, xs + r * w.groups,
                          sx + r * w.groups);
        } else {
          QuantizeRowRef(w, xr, xq + r * kpad, xs + r * w.groups,
                         sx + r * w.groups);
        }
      }
      if (simd) {
        RowsVnni(w, xq, xs, sx, n, y + m0 * ldy, ldy);
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

bool QGemmHasVnni() {
  static const bool has = DetectVnni();
  return has;
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
           float* y, int64_t ldy, ThreadPool& pool, Workspace& ws) {
  if (rows <= 0 || w.n <= 0) return;
  Run(w, x, rows, ldx, y, ldy, &pool, &ws, QGemmHasVnni());
}

namespace reference {
void QGemm(const QGemmWeight& w, const float* x, int64_t rows, int64_t ldx,
           float* y, int64_t ldy) {
  if (rows <= 0 || w.n <= 0) return;
  Run(w, x, rows, ldx, y, ldy, nullptr, nullptr, false);
}
}  // namespace reference

}  // namespace lowbit
