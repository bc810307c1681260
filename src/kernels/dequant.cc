// Highway kernels of kernels/dequant.h: 4-bit codes are split into bytes with
// 128-bit interleaves (every target has them), other widths below 8 bits by
// formats/bitpack.h's UnpackBits, then each group is decoded as
// s * (level - z): integer levels by conversion, 16-level tables by a 16-lane
// permute on AVX-512 and a gather elsewhere, 256-level tables by a gather.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/dequant.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format off
#include "hwy/highway.h"
// clang-format on

#include <algorithm>
#include <vector>

#include "formats/bitpack.h"
#include "kernels/dequant.h"

HWY_BEFORE_NAMESPACE();
namespace lowbit {
namespace HWY_NAMESPACE {
namespace {

namespace hn = hwy::HWY_NAMESPACE;

// n 4-bit codes (LSB first) into bytes.
void Unpack4(const uint8_t* in, int64_t n, uint8_t* out) {
  int64_t j = 0;
#if HWY_TARGET != HWY_SCALAR
  const hn::FixedTag<uint8_t, 16> d;
  const auto mask = hn::Set(d, 15);
  for (; 2 * j + 32 <= n; j += 16) {
    const auto v = hn::LoadU(d, in + j);
    const auto lo = hn::And(v, mask), hi = hn::ShiftRight<4>(v);
    hn::StoreU(hn::InterleaveLower(d, lo, hi), d, out + 2 * j);
    hn::StoreU(hn::InterleaveUpper(d, lo, hi), d, out + 2 * j + 16);
  }
#endif
  for (int64_t k = 2 * j; k < n; ++k) {
    out[k] = static_cast<uint8_t>((in[k / 2] >> (4 * (k % 2))) & 15);
  }
}

}  // namespace

void DequantizeRowsImpl(const QuantizedTensor& q, int64_t r0, int64_t r1,
                        float* out) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<int32_t, decltype(df)> di;
  const hn::Rebind<uint8_t, decltype(df)> du8;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int bits = q.scheme.bits;
  const int64_t cols = q.cols, gpr = q.groups_per_row();
  const bool km = q.scheme.kind == SchemeKind::kKmeans;
  const bool is_int = q.scheme.kind == SchemeKind::kInt;
  uint8_t codes[kCodeChunk];
  const float* table_fixed = q.scheme.Levels().data();
  for (int64_t r = r0; r < r1; ++r) {
    float* o = out + (r - r0) * cols;
    const int64_t srow = q.granularity == Granularity::kTensor ? 0 : r;
    const uint8_t* row = q.codes.data() + r * q.code_row_bytes();
    const float* table =
        km ? q.codebook.data() + srow * q.levels() : table_fixed;
#if HWY_TARGET <= HWY_AVX3
    const bool permute = bits == 4;  // 16 levels in 16 lanes
    const auto tv = permute ? hn::LoadU(df, table) : hn::Zero(df);
#endif
    auto level = [&](hn::Vec<decltype(di)> k) {
      if (is_int) return hn::ConvertTo(df, k);
#if HWY_TARGET <= HWY_AVX3
      if (permute) return hn::TableLookupLanes(tv, hn::IndicesFromVec(df, k));
#endif
      return hn::GatherIndex(df, table, k);
    };
    // Codes a chunk at a time into a buffer on the stack (8-bit codes are
    // read in place), each chunk cut at group ends.
    for (int64_t c0 = 0; c0 < cols; c0 += kCodeChunk) {
      const int64_t c1 = std::min(cols, c0 + kCodeChunk);
      const uint8_t* c = row + c0;
      if (bits == 4) {
        Unpack4(row + c0 / 2, c1 - c0, codes);
        c = codes;
      } else if (bits != 8) {  // 1, 2, 3, 5, 6, 7 bits: unpacked to bytes
        UnpackBits(row + c0 * bits / 8, c1 - c0, bits, codes);
        c = codes;
      }
      // c[i - c0] is code i of the row for i in [c0, c1).
      for (int64_t i = c0; i < c1;) {
        const int64_t g = i / q.group_size;
        const int64_t end = std::min(c1, (g + 1) * q.group_size);
        const float s = km ? 1.0f : q.scales[srow * gpr + g];
        const float z = ZeroPointAt(q, srow, g);  // 0 but for integers
        const auto vs = hn::Set(df, s), vz = hn::Set(df, z);
        for (; i + N <= end; i += N) {
          const auto k = hn::PromoteTo(di, hn::LoadU(du8, c + (i - c0)));
          hn::StoreU(hn::Mul(vs, hn::Sub(level(k), vz)), df, o + i);
        }
        for (; i < end; ++i) o[i] = s * (table[c[i - c0]] - z);
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace lowbit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit {

HWY_EXPORT(DequantizeRowsImpl);

bool DequantizeRowsSimd(const QuantizedTensor& q) {
  return q.scheme.bits >= 1 && q.scheme.bits <= 8;
}

void DequantizeRows(const QuantizedTensor& q, int64_t r0, int64_t r1,
                    float* out) {
  if (!DequantizeRowsSimd(q)) {
    for (int64_t r = r0; r < r1; ++r)
      DequantizeRow(q, r, out + (r - r0) * q.cols);
    return;
  }
  HWY_DYNAMIC_DISPATCH(DequantizeRowsImpl)(q, r0, r1, out);
}

std::vector<float> DequantizeFast(const QuantizedTensor& q, ThreadPool& pool) {
  std::vector<float> out(static_cast<size_t>(q.rows * q.cols));
  pool.ParallelFor(q.rows, 0, [&](int64_t r0, int64_t r1) {
    DequantizeRows(q, r0, r1, out.data() + r0 * q.cols);
  });
  return out;
}

std::vector<float> DequantizeFast(const QuantizedTensor& q) {
  std::vector<float> out(static_cast<size_t>(q.rows * q.cols));
  DequantizeRows(q, 0, q.rows, out.data());
  return out;
}

}  // namespace lowbit
#endif  // HWY_ONCE
