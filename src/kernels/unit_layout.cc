// The batch layout of kernels/unit_fit.h: units transposed into SIMD lanes
// and their codes back, through registers (Highway, every target; the scalar
// references are in reference/unit_fit.cc).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/unit_layout.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format off
#include "hwy/highway.h"
// clang-format on
#include "kernels/unit_fit.h"

HWY_BEFORE_NAMESPACE();
namespace lowbit {
namespace HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;

// 4 x 4 blocks through 128-bit registers (every target has them): units u..u+3
// (rows of x) become values i..i+3 of the batch (rows of out).
void TransposeImpl(const float* x, size_t units, int n, size_t padded,
                   float* out) {
  size_t u = 0;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  // 8 x 8 blocks through 256-bit registers.
  const hn::FixedTag<float, 8> d8;
  const hn::Repartition<uint64_t, decltype(d8)> d64;
  if (n % 8 == 0) {
    for (; u + 8 <= units; u += 8) {
      const float* src = x + u * n;
      for (int i = 0; i < n; i += 8) {
        using V = hn::Vec<decltype(d8)>;
        V r[8], t[8], q[8];
        for (int k = 0; k < 8; ++k) r[k] = hn::LoadU(d8, src + k * n + i);
        for (int k = 0; k < 4; ++k) {  // per 128-bit block: pairs of rows
          t[2 * k] = hn::InterleaveLower(d8, r[2 * k], r[2 * k + 1]);
          t[2 * k + 1] = hn::InterleaveUpper(d8, r[2 * k], r[2 * k + 1]);
        }
        for (int k = 0; k < 2; ++k) {  // quads of rows, as 64-bit pairs
          const auto a = hn::BitCast(d64, t[4 * k]),
                     b = hn::BitCast(d64, t[4 * k + 2]);
          const auto c = hn::BitCast(d64, t[4 * k + 1]),
                     e = hn::BitCast(d64, t[4 * k + 3]);
          q[4 * k] =
              hn::BitCast(d8, hn::InterleaveLower(d64, a, b));  // values 0, 4
          q[4 * k + 1] =
              hn::BitCast(d8, hn::InterleaveUpper(d64, a, b));  // 1, 5
          q[4 * k + 2] =
              hn::BitCast(d8, hn::InterleaveLower(d64, c, e));  // 2, 6
          q[4 * k + 3] =
              hn::BitCast(d8, hn::InterleaveUpper(d64, c, e));  // 3, 7
        }
        float* dst = out + static_cast<size_t>(i) * padded + u;
        for (int k = 0; k < 4;
             ++k) {  // rows 0-3 from q[k], rows 4-7 from q[4 + k]
          hn::StoreU(hn::ConcatLowerLower(d8, q[4 + k], q[k]), d8,
                     dst + k * padded);
          hn::StoreU(hn::ConcatUpperUpper(d8, q[4 + k], q[k]), d8,
                     dst + (k + 4) * padded);
        }
      }
    }
  }
#endif
#if HWY_TARGET != HWY_SCALAR
  const hn::FixedTag<float, 4> d4;
  if (n % 4 == 0) {
    for (; u + 4 <= units; u += 4) {
      const float* src = x + u * n;
      for (int i = 0; i < n; i += 4) {
        const auto r0 = hn::LoadU(d4, src + i);
        const auto r1 = hn::LoadU(d4, src + n + i);
        const auto r2 = hn::LoadU(d4, src + 2 * n + i);
        const auto r3 = hn::LoadU(d4, src + 3 * n + i);
        const auto t0 =
            hn::InterleaveLower(d4, r0, r1);  // r0[0] r1[0] r0[1] r1[1]
        const auto t1 = hn::InterleaveLower(d4, r2, r3);
        const auto t2 =
            hn::InterleaveUpper(d4, r0, r1);  // r0[2] r1[2] r0[3] r1[3]
        const auto t3 = hn::InterleaveUpper(d4, r2, r3);
        float* dst = out + static_cast<size_t>(i) * padded + u;
        hn::StoreU(hn::ConcatLowerLower(d4, t1, t0), d4, dst);
        hn::StoreU(hn::ConcatUpperUpper(d4, t1, t0), d4, dst + padded);
        hn::StoreU(hn::ConcatLowerLower(d4, t3, t2), d4, dst + 2 * padded);
        hn::StoreU(hn::ConcatUpperUpper(d4, t3, t2), d4, dst + 3 * padded);
      }
    }
  }
#endif
  for (; u < units; ++u) {
    for (int i = 0; i < n; ++i)
      out[static_cast<size_t>(i) * padded + u] = x[u * n + i];
  }
  for (int i = 0; i < n; ++i) {
    float* row = out + static_cast<size_t>(i) * padded;
    for (size_t k = units; k < padded; ++k) row[k] = 0.0f;
  }
}

// Codes back to unit order: out[u * n + i] = codes[i * padded + u], by 16 x 16
// byte blocks through 128-bit registers: four rounds of interleaving rows
// (2k, 2k+1) into (k, k + 8) at 1, 2, 4 and 8 bytes leave unit j in row
// bitreverse4(j).
void UntransposeImpl(const uint8_t* codes, size_t units, int n, size_t padded,
                     uint8_t* out) {
  size_t u = 0;
#if HWY_TARGET != HWY_SCALAR
  const hn::FixedTag<uint8_t, 16> d8;
  const hn::Repartition<uint16_t, decltype(d8)> d16;
  const hn::Repartition<uint32_t, decltype(d8)> d32;
  const hn::Repartition<uint64_t, decltype(d8)> d64;
  using V = hn::Vec<decltype(d8)>;
  if (n % 16 == 0) {
    for (; u + 16 <= units; u += 16) {
      for (int i0 = 0; i0 < n; i0 += 16) {
        V r[16], t[16];
        for (int k = 0; k < 16; ++k) {
          r[k] =
              hn::LoadU(d8, codes + static_cast<size_t>(i0 + k) * padded + u);
        }
        for (int k = 0; k < 8; ++k) {
          t[k] = hn::InterleaveLower(d8, r[2 * k], r[2 * k + 1]);
          t[k + 8] = hn::InterleaveUpper(d8, r[2 * k], r[2 * k + 1]);
        }
        for (int k = 0; k < 8; ++k) {
          const auto a = hn::BitCast(d16, t[2 * k]),
                     b = hn::BitCast(d16, t[2 * k + 1]);
          r[k] = hn::BitCast(d8, hn::InterleaveLower(d16, a, b));
          r[k + 8] = hn::BitCast(d8, hn::InterleaveUpper(d16, a, b));
        }
        for (int k = 0; k < 8; ++k) {
          const auto a = hn::BitCast(d32, r[2 * k]),
                     b = hn::BitCast(d32, r[2 * k + 1]);
          t[k] = hn::BitCast(d8, hn::InterleaveLower(d32, a, b));
          t[k + 8] = hn::BitCast(d8, hn::InterleaveUpper(d32, a, b));
        }
        for (int k = 0; k < 8; ++k) {
          const auto a = hn::BitCast(d64, t[2 * k]),
                     b = hn::BitCast(d64, t[2 * k + 1]);
          r[k] = hn::BitCast(d8, hn::InterleaveLower(d64, a, b));
          r[k + 8] = hn::BitCast(d8, hn::InterleaveUpper(d64, a, b));
        }
        static constexpr int kBitReverse4[16] = {0, 8, 4, 12, 2, 10, 6, 14,
                                                 1, 9, 5, 13, 3, 11, 7, 15};
        for (int j = 0; j < 16; ++j) {
          hn::StoreU(r[kBitReverse4[j]], d8, out + (u + j) * n + i0);
        }
      }
    }
  }
#endif
  for (; u < units; ++u) {
    for (int i = 0; i < n; ++i)
      out[u * n + i] = codes[static_cast<size_t>(i) * padded + u];
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace lowbit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit {

HWY_EXPORT(TransposeImpl);
HWY_EXPORT(UntransposeImpl);

void UntransposeCodes(const uint8_t* codes, size_t units, int n, uint8_t* out) {
  HWY_DYNAMIC_DISPATCH(UntransposeImpl)
  (codes, units, n, PaddedUnits(units), out);
}

size_t TransposeUnits(const float* x, size_t units, int n, float* out) {
  const size_t padded = PaddedUnits(units);
  HWY_DYNAMIC_DISPATCH(TransposeImpl)(x, units, n, padded, out);
  return padded;
}

}  // namespace lowbit
#endif  // HWY_ONCE
