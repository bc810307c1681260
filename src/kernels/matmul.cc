// Highway kernels of kernels/matmul.h. Rows of W are taken 4 at a time and
// activation rows 4 at a time: 16 accumulators, each weight vector loaded once
// per 4 activation rows and each activation vector once per 4 weight rows.
//  - f32 activations: the 4 weight rows are decoded to f32 once per call (for
//    int4, low nibbles first then high ones, and the activations permuted the
//    same way: even columns, then odd ones), then fused multiply-adds.
//  - int8 activations: the unsigned codes multiply the signed activations
//    directly, exact in int32: AVX-512 VNNI's vpdpbusd (4 byte products per
//    32-bit lane) on the AVX3_DL target, 16-bit multiply-add pairs elsewhere.
// AVX3_DL (Ice Lake, Zen 4 and later) is compiled in this file only.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/matmul.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "kernels/x86_simd.h"
// clang-format off
#include "hwy/highway.h"
// clang-format on

#include <algorithm>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/matvec.h"
#include "kernels/ops-inl.h"
#include "kernels/vnni_target.h"

#ifndef LOWBIT_KERNELS_MATMUL_SHARED_
#define LOWBIT_KERNELS_MATMUL_SHARED_
namespace lowbit {
constexpr int64_t kTile = 4;  // weight rows and activation rows per tile

// Activations prepared once per call: `batch_pad` (a multiple of kTile) rows
// of `cols`, zero rows past the batch.
struct F32Acts {
  const float* x;  // permuted like the decoded weights
  int64_t batch, batch_pad;
};
struct Q8Acts {
  const int8_t* x8;    // for vpdpbusd
  const int16_t* x16;  // for 16-bit multiply-add pairs
  const float* sx;     // per activation row
  const int64_t* sum;  // sum of each row's quantized activations
  int64_t batch, batch_pad;
};
}  // namespace lowbit
#endif

HWY_BEFORE_NAMESPACE();
namespace lowbit {
namespace HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;

// Row r of W as f32 in the activations' column order: int8 as stored; int4
// with the low nibbles (even columns) first, then the high ones.
void DecodeRow(const QuantizedTensor& w, int64_t r, float* out) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<int32_t, decltype(df)> di;
  const hn::Rebind<uint8_t, decltype(df)> du8;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const uint8_t* c = w.codes.data() + r * w.code_row_bytes();
  if (w.scheme.bits == 8) {
    const int64_t srow = w.granularity == Granularity::kTensor ? 0 : r;
    const float s = w.scales[srow], z = IntZeroPoint(w, srow, 0);
    int64_t k = 0;
    for (; k + N <= w.cols; k += N) {
      const auto v =
          hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(du8, c + k)));
      hn::StoreU(hn::Mul(hn::Sub(v, hn::Set(df, z)), hn::Set(df, s)), df,
                 out + k);
    }
    for (; k < w.cols; ++k) out[k] = (static_cast<float>(c[k]) - z) * s;
    return;
  }
  const int64_t half = w.cols / 2, hg = w.group_size / 2;
  const int64_t groups = w.groups_per_row();
  if (w.scheme.kind != SchemeKind::kInt) {  // 4-bit levels through a table
    const bool km = w.scheme.kind == SchemeKind::kKmeans;
    const int64_t srow = w.granularity == Granularity::kTensor ? 0 : r;
    const float* t =
        km ? w.codebook.data() + srow * 16 : w.scheme.Levels().data();
    const auto mask = hn::Set(di, 15);
#if HWY_TARGET <= HWY_AVX3
    const auto tv = hn::LoadU(df, t);  // 16 lanes: the whole table
    auto level = [&](decltype(mask) k) {
      return hn::TableLookupLanes(tv, hn::IndicesFromVec(df, k));
    };
#else
    auto level = [&](decltype(mask) k) { return hn::GatherIndex(df, t, k); };
#endif
    for (int64_t g = 0; g < groups; ++g) {
      const float s = km ? 1.0f : w.scales[srow * groups + g];
      const auto vs = hn::Set(df, s);
      int64_t j = g * hg;
      const int64_t end = std::min((g + 1) * hg, half);
      for (; j + N <= end; j += N) {
        const auto v = hn::PromoteTo(di, hn::LoadU(du8, c + j));
        hn::StoreU(hn::Mul(vs, level(hn::And(v, mask))), df, out + j);
        hn::StoreU(hn::Mul(vs, level(hn::ShiftRight<4>(v))), df,
                   out + half + j);
      }
      for (; j < end; ++j) {
        out[j] = s * t[c[j] & 15];
        out[half + j] = s * t[c[j] >> 4];
      }
    }
    return;
  }
  const float* sc = w.scales.data() + r * groups;
  const auto mask = hn::Set(di, 15);
  for (int64_t g = 0; g < groups; ++g) {
    const float z = IntZeroPoint(w, r, g);
    const auto vz = hn::Set(df, z), vs = hn::Set(df, sc[g]);
    int64_t j = g * hg;
    const int64_t end = (g + 1) * hg;
    for (; j + N <= end; j += N) {
      const auto v = hn::PromoteTo(di, hn::LoadU(du8, c + j));
      const auto lo = hn::ConvertTo(df, hn::And(v, mask));
      const auto hi = hn::ConvertTo(df, hn::ShiftRight<4>(v));
      hn::StoreU(hn::Mul(hn::Sub(lo, vz), vs), df, out + j);
      hn::StoreU(hn::Mul(hn::Sub(hi, vz), vs), df, out + half + j);
    }
    for (; j < end; ++j) {
      out[j] = (static_cast<float>(c[j] & 15) - z) * sc[g];
      out[half + j] = (static_cast<float>(c[j] >> 4) - z) * sc[g];
    }
  }
}

// out[i][b] = dot(wt row i, x row b) over `cols` for a 4 x 4 tile.
void TileF32(const float* wt, const float* x, int64_t cols,
             float out[kTile][kTile]) {
  const hn::ScalableTag<float> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  using V = hn::Vec<decltype(df)>;
  V a[kTile][kTile];
  for (auto& row : a)
    for (V& v : row) v = hn::Zero(df);
  int64_t k = 0;
  for (; k + N <= cols; k += N) {
    V wv[kTile];
    for (int i = 0; i < kTile; ++i) wv[i] = hn::LoadU(df, wt + i * cols + k);
    for (int b = 0; b < kTile; ++b) {
      const V xv = hn::LoadU(df, x + b * cols + k);
      for (int i = 0; i < kTile; ++i) a[i][b] = hn::MulAdd(wv[i], xv, a[i][b]);
    }
  }
  for (int i = 0; i < kTile; ++i) {
    for (int b = 0; b < kTile; ++b) {
      float s = LaneTotal(df, a[i][b]);
      for (int64_t t = k; t < cols; ++t)
        s += wt[i * cols + t] * x[b * cols + t];
      out[i][b] = s;
    }
  }
}

#if HWY_TARGET == HWY_AVX3_DL
// The vpdpbusd part of TileQ8 over the first multiple of 64 columns; returns
// how many columns it covered. (Highway's AVX3_DL flags lack avx512vnni, so
// this function carries LOWBIT_TARGET_VNNI; the target is only chosen on CPUs
// that have it.)
LOWBIT_TARGET_VNNI __attribute__((noinline)) int64_t VnniTile(
    const uint8_t* const* c, const int8_t* x8, int64_t cols,
    int64_t dots[kTile][kTile]) {
  __m512i acc[kTile][kTile];
  for (int i = 0; i < kTile; ++i)
    for (int b = 0; b < kTile; ++b) acc[i][b] = _mm512_setzero_si512();
  int64_t k = 0;
  for (; k + 64 <= cols; k += 64) {
    __m512i wv[kTile];
    for (int i = 0; i < kTile; ++i) wv[i] = _mm512_loadu_si512(c[i] + k);
    for (int b = 0; b < kTile; ++b) {
      const __m512i xv = _mm512_loadu_si512(x8 + b * cols + k);
      for (int i = 0; i < kTile; ++i)
        acc[i][b] = _mm512_dpbusd_epi32(acc[i][b], wv[i], xv);
    }
  }
  for (int i = 0; i < kTile; ++i)
    for (int b = 0; b < kTile; ++b)
      dots[i][b] = _mm512_reduce_add_epi32(acc[i][b]);
  return k;
}
#endif

// Exact dots[i][b] = sum_k codes_i[k] * xq_b[k] for a 4 x 4 tile.
void TileQ8(const uint8_t* const* c, const Q8Acts& a, int64_t b0, int64_t cols,
            int64_t dots[kTile][kTile]) {
  int64_t k = 0;
  for (int i = 0; i < kTile; ++i)
    for (int b = 0; b < kTile; ++b) dots[i][b] = 0;
#if HWY_TARGET == HWY_AVX3_DL
  k = VnniTile(c, a.x8 + b0 * cols, cols, dots);
#elif LOWBIT_X86_SIMD_TARGET
  {
    // pmaddwd: each 32-bit lane gets the sum of two 16-bit products (the
    // second accumulator of ReorderWidenMulAccumulate stays unused on x86).
    const hn::ScalableTag<int16_t> d16;
    const hn::Repartition<int32_t, decltype(d16)> d32;
    const hn::RebindToUnsigned<decltype(d16)> du16;
    const hn::Rebind<uint8_t, decltype(d16)> du8;
    const int64_t n = static_cast<int64_t>(hn::Lanes(d16));
    using V32 = hn::Vec<decltype(d32)>;
    V32 acc[kTile][kTile];
    for (auto& row : acc)
      for (V32& v : row) v = hn::Zero(d32);
    V32 unused = hn::Zero(d32);
    for (; k + n <= cols; k += n) {
      hn::Vec<decltype(d16)> wv[kTile];
      for (int i = 0; i < kTile; ++i)
        wv[i] = hn::BitCast(d16, hn::PromoteTo(du16, hn::LoadU(du8, c[i] + k)));
      for (int b = 0; b < kTile; ++b) {
        const auto xv = hn::LoadU(d16, a.x16 + (b0 + b) * cols + k);
        for (int i = 0; i < kTile; ++i) {
          acc[i][b] =
              hn::ReorderWidenMulAccumulate(d32, wv[i], xv, acc[i][b], unused);
        }
      }
    }
    for (int i = 0; i < kTile; ++i)
      for (int b = 0; b < kTile; ++b) dots[i][b] = LaneTotal(d32, acc[i][b]);
  }
#endif
  for (int i = 0; i < kTile; ++i) {
    for (int b = 0; b < kTile; ++b) {
      const int16_t* xb = a.x16 + (b0 + b) * cols;
      for (int64_t t = k; t < cols; ++t) dots[i][b] += int64_t{c[i][t]} * xb[t];
    }
  }
}

}  // namespace

// wt: kTile * w.cols floats of scratch.
void MatMulRowsImpl(const QuantizedTensor& w, const F32Acts& a, int64_t r0,
                    int64_t r1, float* wt, float* y) {
  const int64_t cols = w.cols;
  float out[kTile][kTile];
  for (int64_t r = r0; r < r1; r += kTile) {
    const int64_t nr = std::min(kTile, r1 - r);
    for (int64_t i = 0; i < kTile; ++i) {
      if (i < nr) {
        DecodeRow(w, r + i, wt + i * cols);
      } else {
        std::fill(wt + i * cols, wt + (i + 1) * cols, 0.0f);
      }
    }
    for (int64_t b0 = 0; b0 < a.batch_pad; b0 += kTile) {
      TileF32(wt, a.x + b0 * cols, cols, out);
      for (int64_t b = b0; b < std::min(a.batch, b0 + kTile); ++b)
        for (int64_t i = 0; i < nr; ++i) y[b * w.rows + r + i] = out[i][b - b0];
    }
  }
}

void MatMulQ8RowsImpl(const QuantizedTensor& w, const Q8Acts& a, int64_t r0,
                      int64_t r1, float* y) {
  int64_t dots[kTile][kTile];
  for (int64_t r = r0; r < r1; r += kTile) {
    const int64_t nr = std::min(kTile, r1 - r);
    const uint8_t* c[kTile];
    for (int64_t i = 0; i < kTile; ++i) {
      c[i] = w.codes.data() + (r + std::min(i, nr - 1)) * w.code_row_bytes();
    }
    for (int64_t b0 = 0; b0 < a.batch_pad; b0 += kTile) {
      TileQ8(c, a, b0, w.cols, dots);
      for (int64_t b = b0; b < std::min(a.batch, b0 + kTile); ++b) {
        for (int64_t i = 0; i < nr; ++i) {
          const int64_t srow =
              w.granularity == Granularity::kTensor ? 0 : r + i;
          y[b * w.rows + r + i] =
              w.scales[srow] *
              (a.sx[b] * static_cast<float>(dots[i][b - b0] - 128 * a.sum[b]));
        }
      }
    }
  }
}

const char* TargetNameImpl() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace lowbit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit {

HWY_EXPORT(MatMulRowsImpl);
HWY_EXPORT(MatMulQ8RowsImpl);
HWY_EXPORT(TargetNameImpl);

namespace {

// Rows per task: whole tiles, about 8 tasks per thread.
int64_t RowGrain(int64_t rows, const ThreadPool& pool) {
  const int64_t per = (rows + 8 * pool.num_threads() - 1) /
                      (8 * static_cast<int64_t>(pool.num_threads()));
  return std::max(kTile, (per + kTile - 1) / kTile * kTile);
}

int64_t PadBatch(int64_t batch) { return (batch + kTile - 1) / kTile * kTile; }

}  // namespace

const char* MatMulTarget() { return HWY_DYNAMIC_DISPATCH(TargetNameImpl)(); }

bool MatMulSupports(const QuantizedTensor& w) {
  const SchemeKind k = w.scheme.kind;
  if (k == SchemeKind::kNf4 || k == SchemeKind::kFp4E2M1 ||
      k == SchemeKind::kMxfp4 || k == SchemeKind::kKmeans) {
    return w.scheme.bits == 4 && w.cols % 2 == 0 && w.group_size % 2 == 0;
  }
  if (k != SchemeKind::kInt || !HasCodeZeros(w)) return false;
  if (w.scheme.bits == 8) return w.granularity != Granularity::kGroup;
  return w.scheme.bits == 4 && w.granularity == Granularity::kGroup &&
         w.group_size % 2 == 0 && w.cols % w.group_size == 0;
}

Status MatMul(const QuantizedTensor& w, const float* x, int64_t batch, float* y,
              ThreadPool& pool, Workspace& ws) {
  if (!MatMulSupports(w)) {
    return InvalidArgument(
        "MatMul: no kernel for " + w.scheme.Name() +
        (w.granularity == Granularity::kGroup
             ? " in groups of " + std::to_string(w.group_size)
             : std::string()));
  }
  if (batch < 1) return InvalidArgument("MatMul: batch must be at least 1");
  if (batch == 1 && MatVecSupports(w)) return MatVec(w, x, y, pool, ws);
  Workspace::Scope scope(ws);
  const int64_t cols = w.cols, pad = PadBatch(batch);
  float* xp = ws.TakeZeroed<float>(pad * cols);
  for (int64_t b = 0; b < batch; ++b) {
    const float* src = x + b * cols;
    float* dst = xp + b * cols;
    if (w.scheme.bits == 4) {  // even columns, then odd ones
      const int64_t half = cols / 2;
      for (int64_t j = 0; j < half; ++j) {
        dst[j] = src[2 * j];
        dst[half + j] = src[2 * j + 1];
      }
    } else {
      std::copy(src, src + cols, dst);
    }
  }
  const F32Acts acts{xp, batch, pad};
  float* wt = ws.Take<float>(kTile * cols * pool.num_threads());
  pool.ParallelForSlots(w.rows, RowGrain(w.rows, pool),
                        [&](int64_t r0, int64_t r1, int t) {
                          HWY_DYNAMIC_DISPATCH(MatMulRowsImpl)
                          (w, acts, r0, r1, wt + t * kTile * cols, y);
                        });
  return Status::Ok();
}

bool MatMulQ8Supports(const QuantizedTensor& w) {
  return w.scheme.kind == SchemeKind::kInt && w.scheme.bits == 8 &&
         w.symmetric && w.granularity != Granularity::kGroup &&
         w.cols < (int64_t{1} << 16);
}

Status MatMulQ8(const QuantizedTensor& w, const float* x, int64_t batch,
                float* y, ThreadPool& pool, Workspace& ws) {
  if (!MatMulQ8Supports(w)) {
    return InvalidArgument(
        "MatMulQ8: int8 symmetric weights per channel or tensor, fewer than "
        "65536 columns");
  }
  if (batch < 1) return InvalidArgument("MatMulQ8: batch must be at least 1");
  Workspace::Scope scope(ws);
  const int64_t cols = w.cols, pad = PadBatch(batch);
  int16_t* x16 = ws.TakeZeroed<int16_t>(pad * cols);
  int8_t* x8 = ws.TakeZeroed<int8_t>(pad * cols);
  float* sx = ws.TakeZeroed<float>(pad);
  int64_t* sum = ws.TakeZeroed<int64_t>(pad);
  pool.ParallelFor(batch, 1, [&](int64_t b0, int64_t b1) {  // rows apart
    for (int64_t b = b0; b < b1; ++b) {
      int16_t* q = x16 + b * cols;
      sx[b] = QuantizeActivations(x + b * cols, cols, q);
      for (int64_t k = 0; k < cols; ++k) {
        x8[b * cols + k] = static_cast<int8_t>(q[k]);
        sum[b] += q[k];
      }
    }
  });
  const Q8Acts acts{x8, x16, sx, sum, batch, pad};
  pool.ParallelFor(w.rows, RowGrain(w.rows, pool), [&](int64_t r0, int64_t r1) {
    HWY_DYNAMIC_DISPATCH(MatMulQ8RowsImpl)(w, acts, r0, r1, y);
  });
  return Status::Ok();
}

}  // namespace lowbit
#endif  // HWY_ONCE
