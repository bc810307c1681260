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
#include <type_traits>
#include <vector>

#include "core/half.h"
#include "kernels/matvec.h"
#include "kernels/ops-inl.h"
#include "kernels/packed.h"
#include "kernels/vnni_target.h"

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
// Groups per row are below 65536 / 16: at most this many stripes.
constexpr int64_t kMaxStripes = 256;

// A panel row's f16 scales (its header) as f32, 16 per stripe.
LOWBIT_TARGET_VNNI inline void HeaderScales(const uint8_t* row, int64_t stripes,
                                            float* sc) {
  for (int64_t st = 0; st < stripes; ++st) {
    _mm512_store_ps(sc + st * 16,
                    _mm512_cvtph_ps(_mm256_loadu_si256(
                        reinterpret_cast<const __m256i*>(row + st * 32))));
  }
}

// N int4 rows of one panel against B activation rows in one loop;
// y[b * rows + rr[i]] += each part. Per stripe: the exact group sums in 16
// int32 lanes, minus the zero point times the group's activation sum (or the
// float offsets), times the 16 scales. N = 2, B = 1: two rows far apart, two
// long sequential streams (more memory requests in flight than one); N = 1,
// B = 4: each weight chunk loaded once for four activation rows.
template <int N, int B>
LOWBIT_TARGET_VNNI __attribute__((noinline)) void VnniPanel(
    const PackedMatrix& w, const PackedPanel& q, const PackedActs* a,
    const int64_t* rr, float* y) {
  const int64_t chunks = w.group_size / 8;  // 64-byte chunks per stripe
  const int64_t header = q.row_bytes - q.units * w.stripe_bytes();
  const int64_t xoff = q.first * w.code_bytes();
  const uint8_t* row[N];
  for (int i = 0; i < N; ++i) {
    row[i] = w.data.data() + q.offset + rr[i] * q.row_bytes;
  }
  // One activation row: low and high nibbles in two short chains; several:
  // one chain per pair (there are N x B of them).
  constexpr bool kSplit = B == 1;
  const __m512i nib = _mm512_set1_epi8(0x0F);
  __m512 acc[N][B];
  for (int i = 0; i < N; ++i) {
    for (int b = 0; b < B; ++b) acc[i][b] = _mm512_setzero_ps();
  }
  // f16 scales: all of the panel row's header first, in order.
  alignas(64) float sc[N][kMaxStripes * 16];
  if (w.f16_scales) {
    for (int i = 0; i < N; ++i) HeaderScales(row[i], q.units, sc[i]);
  }
  for (int64_t st = 0; st < q.units; ++st) {
    const int64_t xa = xoff + st * w.code_bytes();
    const uint8_t* sp[N];
    const uint8_t* c[N];
    __m512i dl[N][B], dh[N][B];
    for (int i = 0; i < N; ++i) {
      sp[i] = row[i] + header + st * w.stripe_bytes();
      c[i] = sp[i] + w.header_bytes();
      for (int b = 0; b < B; ++b) dl[i][b] = dh[i][b] = _mm512_setzero_si512();
    }
    for (int64_t k = 0; k < chunks; ++k) {
      __m512i lo[N], hi[N];
      for (int i = 0; i < N; ++i) {
        const __m512i v = _mm512_loadu_si512(c[i] + k * 64);
        lo[i] = _mm512_and_si512(v, nib);
        hi[i] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
      }
      for (int b = 0; b < B; ++b) {
        const __m512i xe = _mm512_loadu_si512(a[b].x8e + xa + k * 64);
        const __m512i xo = _mm512_loadu_si512(a[b].x8o + xa + k * 64);
        for (int i = 0; i < N; ++i) {
          dl[i][b] = _mm512_dpbusd_epi32(dl[i][b], lo[i], xe);
          if constexpr (kSplit) {
            dh[i][b] = _mm512_dpbusd_epi32(dh[i][b], hi[i], xo);
          } else {
            dl[i][b] = _mm512_dpbusd_epi32(dl[i][b], hi[i], xo);
          }
        }
      }
    }
    for (int b = 0; b < B; ++b) {
      const __m512i gs = _mm512_loadu_si512(a[b].gcorr + (q.first + st) * 16);
      for (int i = 0; i < N; ++i) {
        __m512i d = kSplit ? _mm512_add_epi32(dl[i][b], dh[i][b]) : dl[i][b];
        if (w.offsets) {  // s (sum q x) - o (sum x)
          acc[i][b] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d),
                                      _mm512_loadu_ps(sp[i]), acc[i][b]);
          acc[i][b] = _mm512_fnmadd_ps(_mm512_loadu_ps(sp[i] + 64),
                                       _mm512_cvtepi32_ps(gs), acc[i][b]);
          continue;
        }
        if (w.symmetric) {
          d = _mm512_sub_epi32(d, _mm512_slli_epi32(gs, 3));  // zero 8
        } else {
          const __m512i z = _mm512_cvtepu8_epi32(
              _mm_loadu_si128(reinterpret_cast<const __m128i*>(
                  w.zeros.data() + (rr[i] * w.stripes + q.first + st) * 16)));
          d = _mm512_sub_epi32(d, _mm512_mullo_epi32(z, gs));
        }
        const __m512 sv = w.f16_scales ? _mm512_load_ps(sc[i] + st * 16)
                                       : _mm512_loadu_ps(sp[i]);
        acc[i][b] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), sv, acc[i][b]);
      }
    }
  }
  for (int i = 0; i < N; ++i) {
    for (int b = 0; b < B; ++b) {
      y[b * w.rows + rr[i]] += _mm512_reduce_add_ps(acc[i][b]);
    }
  }
}

// N rows of int8 stripes of one panel against B activation rows;
// y[b * rows + rr[i]] += each part: per stripe the exact group sums in 16
// lanes, minus zero8 times the groups' activation sums, times the 16 scales.
template <int N, int B>
LOWBIT_TARGET_VNNI __attribute__((noinline)) void VnniPanel8Stripes(
    const PackedMatrix& w, const PackedPanel& q, const PackedActs* a,
    const int64_t* rr, float* y) {
  const int64_t chunks = w.group_size / 4;  // 64-byte chunks per stripe
  const int64_t xoff = q.first * w.code_bytes();
  const uint8_t* row[N];
  for (int i = 0; i < N; ++i) {
    row[i] = w.data.data() + q.offset + rr[i] * q.row_bytes;
  }
  const __m512i z = _mm512_set1_epi32(w.zero8);
  __m512 acc[N][B];
  for (int i = 0; i < N; ++i) {
    for (int b = 0; b < B; ++b) acc[i][b] = _mm512_setzero_ps();
  }
  for (int64_t st = 0; st < q.units; ++st) {
    const int64_t xs = xoff + st * w.code_bytes();
    __m512i d0[N][B], d1[N][B];  // even and odd chunks: two chains
    for (int i = 0; i < N; ++i) {
      for (int b = 0; b < B; ++b) d0[i][b] = d1[i][b] = _mm512_setzero_si512();
    }
    const int64_t at = st * w.stripe_bytes() + 64;
    auto step = [&](int64_t k, __m512i(&d)[N][B]) LOWBIT_TARGET_VNNI {
      __m512i v[N];
      for (int i = 0; i < N; ++i) {
        v[i] = _mm512_loadu_si512(row[i] + at + k * 64);
      }
      for (int b = 0; b < B; ++b) {
        const __m512i x = _mm512_loadu_si512(a[b].x8e + xs + k * 64);
        for (int i = 0; i < N; ++i) {
          d[i][b] = _mm512_dpbusd_epi32(d[i][b], v[i], x);
        }
      }
    };
    int64_t k = 0;
    for (; k + 2 <= chunks; k += 2) {  // two chains for one activation row
      step(k, d0);
      step(k + 1, B == 1 ? d1 : d0);
    }
    if (k < chunks) step(k, d0);
    for (int b = 0; b < B; ++b) {
      const __m512i zg = _mm512_mullo_epi32(
          z, _mm512_loadu_si512(a[b].gcorr + (q.first + st) * 16));
      for (int i = 0; i < N; ++i) {
        const __m512i d =
            _mm512_sub_epi32(_mm512_add_epi32(d0[i][b], d1[i][b]), zg);
        acc[i][b] = _mm512_fmadd_ps(
            _mm512_cvtepi32_ps(d),
            _mm512_loadu_ps(row[i] + st * w.stripe_bytes()), acc[i][b]);
      }
    }
  }
  for (int i = 0; i < N; ++i) {
    for (int b = 0; b < B; ++b) {
      y[b * w.rows + rr[i]] += _mm512_reduce_add_ps(acc[i][b]);
    }
  }
}

// N int8 rows of one panel against B activation rows:
// dots[b * rows + rr[i]] += the exact dot products.
template <int N, int B>
LOWBIT_TARGET_VNNI __attribute__((noinline)) void VnniPanel8Rows(
    const PackedMatrix& w, const PackedPanel& q, const PackedActs* a,
    const int64_t* rr, int64_t* dots) {
  const int64_t n = q.row_bytes;
  const int64_t xoff = q.first * 64;
  const uint8_t* c[N];
  __m512i acc[N][B], acc2[N][B];  // two chains (even, odd chunks)
  for (int i = 0; i < N; ++i) {
    c[i] = w.data.data() + q.offset + rr[i] * n;
    for (int b = 0; b < B; ++b) acc[i][b] = acc2[i][b] = _mm512_setzero_si512();
  }
  auto step = [&](int64_t k, __m512i(&d)[N][B]) LOWBIT_TARGET_VNNI {
    __m512i v[N];
    for (int i = 0; i < N; ++i) v[i] = _mm512_loadu_si512(c[i] + k);
    for (int b = 0; b < B; ++b) {
      const __m512i x = _mm512_loadu_si512(a[b].x8e + xoff + k);
      for (int i = 0; i < N; ++i) {
        d[i][b] = _mm512_dpbusd_epi32(d[i][b], v[i], x);
      }
    }
  };
  int64_t k = 0;
  for (; k + 128 <= n; k += 128) {  // two chains for one activation row
    step(k, acc);
    step(k + 64, B == 1 ? acc2 : acc);
  }
  if (k < n) step(k, acc);
  for (int i = 0; i < N; ++i) {
    for (int b = 0; b < B; ++b) {
      dots[b * w.rows + rr[i]] +=
          _mm512_reduce_add_epi32(_mm512_add_epi32(acc[i][b], acc2[i][b]));
    }
  }
}

// Rows r0..r1 of panel q: on one thread the range's two halves side by side
// (two streams), else one row at a time.
template <class Kernel1, class Kernel2>
void EachRow(int64_t r0, int64_t r1, bool two_rows, Kernel1 one, Kernel2 two) {
  const int64_t h = two_rows ? (r1 - r0) / 2 : 0;
  for (int64_t r = r0; r < r0 + h; ++r) {
    const int64_t rr[2] = {r, r + h};
    two(rr);
  }
  for (int64_t r = r0 + 2 * h; r < r1; ++r) one(&r);
}
#endif

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

// Any target: one int4 row of panel q, exact integer sums per group.
float PortablePanel(const PackedMatrix& w, const PackedPanel& q,
                    const PackedActs& a, int64_t r) {
  const int64_t chunks = w.group_size / 8;
  const uint8_t* row = w.data.data() + q.offset + r * q.row_bytes;
  const int64_t header = q.row_bytes - q.units * w.stripe_bytes();
  float total = 0.0f;
  for (int64_t st = 0; st < q.units; ++st) {
    const uint8_t* sp = row + header + st * w.stripe_bytes();
    const uint8_t* c = sp + w.header_bytes();
    const int64_t xa = (q.first + st) * w.code_bytes();
    for (int64_t i = 0; i < 16; ++i) {
      int64_t d = 0;
      for (int64_t k = 0; k < chunks; ++k) {
        for (int64_t b = 0; b < 4; ++b) {
          const int64_t at = k * 64 + 4 * i + b;
          d += int64_t{c[at] & 15} * a.x8e[xa + at] +
               int64_t{c[at] >> 4} * a.x8o[xa + at];
        }
      }
      const int64_t g = (q.first + st) * 16 + i;
      if (w.offsets) {
        total += ScaleAt(sp, i) * static_cast<float>(d) -
                 ScaleAt(sp + 64, i) * static_cast<float>(a.gcorr[g]);
        continue;
      }
      const int64_t z = w.symmetric ? 8 : w.zeros[r * w.stripes * 16 + g];
      const float sc = w.f16_scales ? HalfAt(row, st * 16 + i) : ScaleAt(sp, i);
      total += sc * static_cast<float>(d - z * a.gcorr[g]);
    }
  }
  return total;
}

// Any target: one row of int8 stripes of panel q, exact sums per group.
float PortablePanel8Stripes(const PackedMatrix& w, const PackedPanel& q,
                            const PackedActs& a, int64_t r) {
  const int64_t chunks = w.group_size / 4;
  const uint8_t* row = w.data.data() + q.offset + r * q.row_bytes;
  float total = 0.0f;
  for (int64_t st = 0; st < q.units; ++st) {
    const uint8_t* sp = row + st * w.stripe_bytes();
    const uint8_t* c = sp + 64;
    const int8_t* x = a.x8e + (q.first + st) * w.code_bytes();
    for (int64_t i = 0; i < 16; ++i) {
      int64_t d = 0;
      for (int64_t k = 0; k < chunks; ++k) {
        for (int64_t b = 0; b < 4; ++b) {
          const int64_t at = k * 64 + 4 * i + b;
          d += int64_t{c[at]} * x[at];
        }
      }
      d -= int64_t{w.zero8} * a.gcorr[(q.first + st) * 16 + i];
      total += ScaleAt(sp, i) * static_cast<float>(d);
    }
  }
  return total;
}

// Any target: one int8 row of panel q, the exact dot product.
int64_t PortablePanel8Rows(const PackedMatrix& w, const PackedPanel& q,
                           const int8_t* x8, int64_t r) {
  const uint8_t* c = w.data.data() + q.offset + r * q.row_bytes;
  const int8_t* x = x8 + q.first * 64;
  int64_t d = 0;
  for (int64_t k = 0; k < q.row_bytes; ++k) d += int64_t{c[k]} * x[k];
  return d;
}

}  // namespace

// Rows r0..r1 against `batch` activation rows, panel after panel:
// y[b * rows + r] (int8 rows: dots) += each panel's part; the caller zeroes
// them first and scales after.
void PackedRowsImpl(const PackedMatrix& w, const PackedActs* a, int64_t batch,
                    int64_t r0, int64_t r1, float* y, int64_t* dots) {
  for (int64_t p = 0; p < w.panels(); ++p) {
    const PackedPanel q = w.Panel(p);
#if HWY_TARGET == HWY_AVX3_DL
    // One kernel over N weight rows and B activation rows.
    auto call = [&](auto n_rows, auto b_rows, const int64_t* rr, int64_t b0) {
      constexpr int N = decltype(n_rows)::value, B = decltype(b_rows)::value;
      if (w.int8_rows()) {
        VnniPanel8Rows<N, B>(w, q, a + b0, rr, dots + b0 * w.rows);
      } else if (w.bits == 8) {
        VnniPanel8Stripes<N, B>(w, q, a + b0, rr, y + b0 * w.rows);
      } else {
        VnniPanel<N, B>(w, q, a + b0, rr, y + b0 * w.rows);
      }
    };
    using One = std::integral_constant<int, 1>;
    using Two = std::integral_constant<int, 2>;
    using Four = std::integral_constant<int, 4>;
    if (batch == 1) {
      EachRow(
          r0, r1, a[0].two_rows,
          [&](const int64_t* rr) { call(One{}, One{}, rr, 0); },
          [&](const int64_t* rr) { call(Two{}, One{}, rr, 0); });
      continue;
    }
    // Two rows by four activation rows per call; the rows stay in L1 for
    // the whole batch.
    for (int64_t r = r0; r < r1;) {
      const int64_t rr[4] = {r, r + 1, r + 2, r + 3};
      int64_t b = 0;
      if (r + 4 <= r1) {
        for (; b + 4 <= batch; b += 4) call(Four{}, Four{}, rr, b);
        for (; b < batch; ++b) call(Four{}, One{}, rr, b);
        r += 4;
      } else {
        for (; b + 4 <= batch; b += 4) call(One{}, Four{}, rr, b);
        for (; b < batch; ++b) call(One{}, One{}, rr, b);
        r += 1;
      }
    }
#else
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t at = b * w.rows + r;
        if (w.int8_rows()) {
          dots[at] += PortablePanel8Rows(w, q, a[b].x8e, r);
        } else if (w.bits == 8) {
          y[at] += PortablePanel8Stripes(w, q, a[b], r);
        } else {
          y[at] += PortablePanel(w, q, a[b], r);
        }
      }
    }
#endif
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace lowbit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit {

HWY_EXPORT(PackedRowsImpl);

namespace {

// One activation row quantized to int8 (QuantizeActivations) in the packed
// order: int8 rows as is; stripes like the codes (int4: even and odd columns
// apart), with each group's sum. The arrays live in the caller's Workspace.
struct ActRow {
  int8_t* xe = nullptr;
  int8_t* xo = nullptr;
  int32_t* gsum = nullptr;
  int16_t* xq = nullptr;  // scratch: the row quantized, in column order
  int64_t sum = 0;
  float sx = 0.0f;
};

// Takes row a's arrays from ws (zeroed where the packed order has padding).
void TakeRow(const PackedMatrix& w, Workspace& ws, ActRow& a) {
  a.xq = ws.Take<int16_t>(w.cols);
  if (w.int8_rows()) {
    a.xe = ws.TakeZeroed<int8_t>(w.units() * 64);
    return;
  }
  const int64_t n = w.stripes * w.code_bytes();
  a.xe = ws.TakeZeroed<int8_t>(n);
  if (w.bits == 4) a.xo = ws.TakeZeroed<int8_t>(n);
  a.gsum = ws.TakeZeroed<int32_t>(w.stripes * 16);
}

void PrepareRow(const PackedMatrix& w, const float* x, ActRow& a) {
  int16_t* xq = a.xq;
  a.sx = QuantizeActivations(x, w.cols, xq);
  a.sum = 0;
  if (w.int8_rows()) {
    for (int64_t k = 0; k < w.cols; ++k) {
      a.xe[k] = static_cast<int8_t>(xq[k]);
      a.sum += xq[k];
    }
    return;
  }
  const bool int4 = w.bits == 4;
  const int64_t g = w.group_size, groups = w.cols / g;
  const int64_t per = int4 ? g / 2 : g;  // activation bytes per group and set
  for (int64_t k = 0; k < groups; ++k) {
    for (int64_t b = 0; b < per; ++b) {
      const int64_t at = PackedOffset(k, b, per);
      if (int4) {
        const int64_t col = k * g + 2 * b;
        a.xe[at] = static_cast<int8_t>(xq[col]);
        a.xo[at] = static_cast<int8_t>(xq[col + 1]);
        a.gsum[k] += xq[col] + xq[col + 1];
      } else {
        a.xe[at] = static_cast<int8_t>(xq[k * g + b]);
        a.gsum[k] += xq[k * g + b];
      }
    }
  }
}

}  // namespace

Status MatMulQ8(const PackedMatrix& w, const float* x, int64_t batch, float* y,
                ThreadPool& pool, Workspace& ws) {
  if (batch < 1) return InvalidArgument("MatMulQ8: batch must be at least 1");
  Workspace::Scope scope(ws);
  const int64_t grain = std::max<int64_t>(
      16, (w.rows + pool.num_threads() - 1) / pool.num_threads());
  // Two rows side by side raise one core's streaming rate; with more threads
  // the extra streams only compete (measured: no gain at two threads).
  const bool two_rows = batch == 1 && pool.num_threads() == 1;
  ActRow* rows = ws.Take<ActRow>(batch);
  PackedActs* acts = ws.Take<PackedActs>(batch);
  for (int64_t b = 0; b < batch; ++b) {
    rows[b] = ActRow{};
    TakeRow(w, ws, rows[b]);
  }
  auto prepare = [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      PrepareRow(w, x + b * w.cols, rows[b]);
      acts[b] = PackedActs{rows[b].xe,  rows[b].xo, rows[b].gsum,
                           rows[b].sum, rows[b].sx, two_rows};
    }
  };
  if (batch > 1) {
    pool.ParallelFor(batch, 1, prepare);
  } else {
    prepare(0, 1);
  }
  int64_t* dots =
      w.int8_rows() ? ws.TakeZeroed<int64_t>(batch * w.rows) : nullptr;
  // Each thread zeroes, computes and scales its own rows.
  pool.ParallelFor(w.rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t b = 0; b < batch; ++b) {
      std::fill(y + b * w.rows + r0, y + b * w.rows + r1, 0.0f);
    }
    HWY_DYNAMIC_DISPATCH(PackedRowsImpl)
    (w, acts, batch, r0, r1, y, dots);
    for (int64_t b = 0; b < batch; ++b) {
      const ActRow& a = rows[b];
      float* yb = y + b * w.rows;
      if (w.int8_rows()) {  // as reference::MatVecQ8: s (sx (dot - 128 sum))
        const int64_t* d = dots + b * w.rows;
        for (int64_t r = r0; r < r1; ++r) {
          yb[r] =
              w.row_scales[r] * (a.sx * static_cast<float>(d[r] - 128 * a.sum));
        }
      } else {
        for (int64_t r = r0; r < r1; ++r) yb[r] *= a.sx;
      }
    }
  });
  return Status::Ok();
}

Status MatVecQ8(const PackedMatrix& w, const float* x, float* y,
                ThreadPool& pool, Workspace& ws) {
  return MatMulQ8(w, x, 1, y, pool, ws);
}

}  // namespace lowbit
#endif  // HWY_ONCE
