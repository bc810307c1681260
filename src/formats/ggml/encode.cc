#include "formats/ggml/encode.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/half.h"
#include "core/round.h"
#include "formats/ggml/blocks.h"
#include "quant/ggml_fit.h"
#include "quant/group_fit.h"

namespace lowbit {
namespace {

// The one-scale symmetric blocks (q8_0, q4_0, q5_0, iq4_nl): kernels/unit_fit
// with one block per SIMD lane. Codes are ggml's unsigned storage (q - qmin).
struct OneLevel {
  UnitLevels levels;
  UnitFitParams fit;
};

OneLevel OneLevelOf(GgmlType t);

template <typename B>
B* BlockAt(uint8_t* out, int64_t i) {
  return reinterpret_cast<B*>(out + i * static_cast<int64_t>(sizeof(B)));
}

void PackQ5Codes(const uint8_t* c, uint8_t* qs, uint8_t* qh) {
  uint32_t high = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>((c[j] & 15) | ((c[j + 16] & 15) << 4));
    high |= static_cast<uint32_t>(c[j] >> 4) << j;
    high |= static_cast<uint32_t>(c[j + 16] >> 4) << (j + 16);
  }
  std::memcpy(qh, &high, 4);
}

void EncodeOneLevelPiece(GgmlType t, const float* x, const float* w,
                         uint8_t* out, int64_t nb);

// In pieces, so that the scratch stays in the cache however long the row.
void EncodeOneLevel(GgmlType t, const float* x, const float* w, uint8_t* out,
                    int64_t nb) {
  constexpr int64_t kPiece = 2048;  // blocks
  const int64_t bytes = GetGgmlTypeInfo(t).block_bytes;
  for (int64_t b = 0; b < nb; b += kPiece) {
    EncodeOneLevelPiece(t, x + b * 32, w ? w + b * 32 : nullptr,
                        out + b * bytes, std::min(kPiece, nb - b));
  }
}

void EncodeOneLevelPiece(GgmlType t, const float* x, const float* w,
                         uint8_t* out, int64_t nb) {
  const OneLevel o = OneLevelOf(t);
  thread_local std::vector<float> d;
  thread_local std::vector<uint8_t> c;
  d.resize(static_cast<size_t>(nb));
  c.resize(static_cast<size_t>(nb) * 32);
  FitOneLevelRow(x, w, nb, 32, o.levels, o.fit, d.data(), c.data());
  // Straight loops per layout, written in place (the compiler vectorizes the
  // code loops).
  const uint8_t* cs = c.data();
  switch (t) {
    case GgmlType::kQ8_0:
      for (int64_t i = 0; i < nb; ++i) {
        uint8_t* o = out + i * static_cast<int64_t>(sizeof(BlockQ8_0));
        const uint16_t h = F32ToF16(d[i]);
        std::memcpy(o, &h, 2);
        for (int j = 0; j < 32; ++j)
          o[2 + j] = static_cast<uint8_t>(cs[32 * i + j] ^ 0x80);
      }
      return;
    case GgmlType::kQ4_0:
    case GgmlType::kIQ4_NL:
      // iq4_nl has q4_0's layout: an f16 scale, 16 bytes of nibbles.
      static_assert(sizeof(BlockQ4_0) == sizeof(BlockIQ4_NL) &&
                    sizeof(BlockQ4_0) == 18);
      for (int64_t i = 0; i < nb; ++i) {
        uint8_t* o = out + i * 18;
        const uint16_t h = F32ToF16(d[i]);
        std::memcpy(o, &h, 2);
        const uint8_t* ci = cs + 32 * i;
        uint8_t qs[16];
        for (int j = 0; j < 16; ++j)
          qs[j] = static_cast<uint8_t>(ci[j] | (ci[j + 16] << 4));
        std::memcpy(o + 2, qs, 16);
      }
      return;
    case GgmlType::kQ5_0:
      for (int64_t i = 0; i < nb; ++i) {
        BlockQ5_0 b;
        b.d = F32ToF16(d[i]);
        PackQ5Codes(cs + 32 * i, b.qs, b.qh);
        std::memcpy(BlockAt<BlockQ5_0>(out, i), &b, sizeof(b));
      }
      return;
    default:
      LB_CHECK(false && "not a one-level block");
  }
}

// q4_1 / q5_1: one scale and one offset per block (quant/ggml_fit.h).
void EncodeAffine(GgmlType t, const float* x, const float* w, uint8_t* out,
                  int64_t nb) {
  constexpr int64_t kPiece = 2048;  // blocks, so that the scratch stays small
  thread_local std::vector<float> d, m;
  thread_local std::vector<uint8_t> c;
  const int qmax = t == GgmlType::kQ4_1 ? 15 : 31;
  const UnitFitParams fit{4, 3, 0.3f, 2};
  for (int64_t b0 = 0; b0 < nb; b0 += kPiece) {
    const int64_t n = std::min(kPiece, nb - b0);
    d.resize(n);
    m.resize(n);
    c.resize(n * 32);
    FitAffineRow(x + b0 * 32, w ? w + b0 * 32 : nullptr, n, 32, qmax, fit,
                 d.data(), m.data(), c.data());
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* ci = c.data() + 32 * i;
      if (t == GgmlType::kQ4_1) {
        BlockQ4_1 b;
        b.d = F32ToF16(d[i]);
        b.m = F32ToF16(m[i]);
        for (int j = 0; j < 16; ++j)
          b.qs[j] = static_cast<uint8_t>(ci[j] | (ci[j + 16] << 4));
        std::memcpy(BlockAt<BlockQ4_1>(out, b0 + i), &b, sizeof(b));
      } else {
        BlockQ5_1 b;
        b.d = F32ToF16(d[i]);
        b.m = F32ToF16(m[i]);
        PackQ5Codes(ci, b.qs, b.qh);
        std::memcpy(BlockAt<BlockQ5_1>(out, b0 + i), &b, sizeof(b));
      }
    }
  }
}

const float* IQ4Levels() {
  static const float* levels = [] {
    static float v[16];
    for (int i = 0; i < 16; ++i) v[i] = static_cast<float>(kIQ4NLValues[i]);
    return v;
  }();
  return levels;
}

OneLevel OneLevelOf(GgmlType t) {
  switch (t) {
    case GgmlType::kQ8_0:  // little to gain at 8 bits: both orientations + LS
      return {{-128, 127, nullptr, false}, {1, 1, 0.0f, 1}};
    case GgmlType::kQ4_0:  // the extreme onto -8 (2 steps) or onto 7
      return {{-8, 7, nullptr, false}, {2, 1, 0.12f, 0, true}};
    case GgmlType::kQ5_0:
      return {{-16, 15, nullptr, false}, {2, 1, 0.12f, 0}};
    case GgmlType::kIQ4_NL:
      return {{0, 15, IQ4Levels(), false}, {2, 1, 0.15f, 0, true}};
    default:
      LB_CHECK(false && "not a one-level block");
  }
  return {};
}

// Each k-quant's geometry and how hard lowbit searches it (docs/algorithms.md
// section 12 has the measurements behind these choices).
TwoLevelSpec KSpec(GgmlType t) {
  TwoLevelSpec s;
  switch (t) {
    case GgmlType::kQ2_K:
      s = {16, 16, 0, 3, 0, 15, true, 15, nullptr};
      s.fit = {4, 2, 0.3f, 1};
      s.d_candidates = 4;
      s.rs = s.rm = 1;
      s.ls_rounds = 0;
      break;
    case GgmlType::kQ3_K:
      s = {16, 16, -4, 3, -32, 31, false, 0, nullptr};
      s.fit = {2, 1, 0.15f, 0};
      s.d_candidates = 1;
      s.rs = 2;
      s.ls_rounds = 0;
      break;
    case GgmlType::kQ4_K:
      s = {32, 8, 0, 15, 0, 63, true, 63, nullptr};
      s.fit = {4, 3, 0.3f, 1};
      s.d_candidates = 4;
      s.rs = s.rm = 2;
      s.ls_rounds = 1;
      break;
    case GgmlType::kQ5_K:
      // The tightest margin: the gain over rounding comes from trying many
      // (sub-scale, sub-minimum) pairs, each a fresh alignment of the grid.
      s = {32, 8, 0, 31, 0, 63, true, 63, nullptr};
      s.fit = {2, 3, 0.3f, 1};
      s.d_candidates = 2;
      // The winners lie mostly at larger sub-scales and minimums than the
      // rounded targets, so the 7 x 7 window is centred at (+2, +1).
      s.rs = s.rm = 3;
      s.cs = 2;
      s.cm = 1;
      s.ls_rounds = 1;
      break;
    case GgmlType::kQ6_K:
      // 8-bit sub-scales: no super-scale search, a wide sub-scale one.
      s = {16, 16, -32, 31, -128, 127, false, 0, nullptr};
      s.fit = {1, 1, 0.2f, 0};
      s.d_candidates = 1;
      s.rs = 9;
      s.ls_rounds = 0;
      break;
    case GgmlType::kIQ4_XS:
      s = {32, 8, 0, 15, -32, 31, false, 0, IQ4Levels()};
      s.fit = {4, 1, 0.3f, 1};
      s.d_candidates = 6;
      s.rs = 1;
      s.ls_rounds = 1;
      break;
    default:
      LB_CHECK(false && "not a k-quant");
  }
  return s;
}

// The 6-bit scales and mins of q4_K / q5_K, packed as UnpackScaleMinK4 reads
// them.
void PackScaleMinK4(const int* sc, const int* mn, uint8_t* scales) {
  std::memset(scales, 0, 12);
  for (int j = 0; j < 8; ++j) {
    const int s = sc[j], m = mn[j];
    if (j < 4) {
      scales[j] |= static_cast<uint8_t>(s & 63);
      scales[j + 4] |= static_cast<uint8_t>(m & 63);
    } else {
      scales[j + 4] = static_cast<uint8_t>((s & 15) | ((m & 15) << 4));
      scales[j - 4] |= static_cast<uint8_t>((s >> 4) << 6);
      scales[j] |= static_cast<uint8_t>((m >> 4) << 6);
    }
  }
}

void PackKQuant(GgmlType type, const TwoLevelBlock& t, uint8_t* dst) {
  switch (type) {
    case GgmlType::kQ2_K: {
      BlockQ2_K b{};
      for (int k = 0; k < 16; ++k) {
        b.scales[k] = static_cast<uint8_t>(t.sc[k] | (t.mn[k] << 4));
      }
      for (int h = 0; h < 2; ++h) {  // value 128 h + 32 s + l
        const int* q = t.q + 128 * h;
        for (int l = 0; l < 32; ++l) {
          b.qs[32 * h + l] = static_cast<uint8_t>(
              q[l] | (q[32 + l] << 2) | (q[64 + l] << 4) | (q[96 + l] << 6));
        }
      }
      b.d = F32ToF16(t.d);
      b.dmin = F32ToF16(t.dmin);
      std::memcpy(dst, &b, sizeof(b));
      return;
    }
    case GgmlType::kQ3_K: {
      BlockQ3_K b{};
      for (int k = 0; k < 16; ++k) {
        const int v = t.sc[k] + 32;
        if (k < 8) {
          b.scales[k] |= static_cast<uint8_t>(v & 15);
        } else {
          b.scales[k - 8] |= static_cast<uint8_t>((v & 15) << 4);
        }
        b.scales[8 + k % 4] |= static_cast<uint8_t>((v >> 4) << (2 * (k / 4)));
      }
      for (int h = 0; h < 2; ++h) {  // value 128 h + 32 s + l
        for (int l = 0; l < 32; ++l) {
          int lo = 0, hi = 0;
          for (int s = 0; s < 4; ++s) {
            const int u = t.q[128 * h + 32 * s + l] + 4;  // 0..7
            lo |= (u & 3) << (2 * s);
            hi |= (u >> 2) << (4 * h + s);
          }
          b.qs[32 * h + l] = static_cast<uint8_t>(lo);
          b.hmask[l] = static_cast<uint8_t>(b.hmask[l] | hi);
        }
      }
      b.d = F32ToF16(t.d);
      std::memcpy(dst, &b, sizeof(b));
      return;
    }
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K: {
      uint8_t qs[128] = {}, qh[32] = {}, scales[12];
      PackScaleMinK4(t.sc, t.mn, scales);
      for (int c = 0; c < 4; ++c) {  // value 64 c + 32 half + l
        const int* q = t.q + 64 * c;
        for (int l = 0; l < 32; ++l) {
          qs[32 * c + l] =
              static_cast<uint8_t>((q[l] & 15) | ((q[32 + l] & 15) << 4));
          qh[l] = static_cast<uint8_t>(qh[l] | ((q[l] >> 4) << (2 * c)) |
                                       ((q[32 + l] >> 4) << (2 * c + 1)));
        }
      }
      if (type == GgmlType::kQ4_K) {
        BlockQ4_K b;
        b.d = F32ToF16(t.d);
        b.dmin = F32ToF16(t.dmin);
        std::memcpy(b.scales, scales, 12);
        std::memcpy(b.qs, qs, 128);
        std::memcpy(dst, &b, sizeof(b));
      } else {
        BlockQ5_K b;
        b.d = F32ToF16(t.d);
        b.dmin = F32ToF16(t.dmin);
        std::memcpy(b.scales, scales, 12);
        std::memcpy(b.qh, qh, 32);
        std::memcpy(b.qs, qs, 128);
        std::memcpy(dst, &b, sizeof(b));
      }
      return;
    }
    case GgmlType::kQ6_K: {
      BlockQ6_K b{};
      for (int k = 0; k < 16; ++k) b.scales[k] = static_cast<int8_t>(t.sc[k]);
      for (int h = 0; h < 2; ++h) {  // value 128 h + 32 i + l
        const int* q = t.q + 128 * h;
        for (int l = 0; l < 32; ++l) {
          const int u0 = q[l] + 32, u1 = q[32 + l] + 32, u2 = q[64 + l] + 32,
                    u3 = q[96 + l] + 32;  // 0..63
          b.ql[64 * h + l] = static_cast<uint8_t>((u0 & 15) | ((u2 & 15) << 4));
          b.ql[64 * h + 32 + l] =
              static_cast<uint8_t>((u1 & 15) | ((u3 & 15) << 4));
          b.qh[32 * h + l] =
              static_cast<uint8_t>((u0 >> 4) | ((u1 >> 4) << 2) |
                                   ((u2 >> 4) << 4) | ((u3 >> 4) << 6));
        }
      }
      b.d = F32ToF16(t.d);
      std::memcpy(dst, &b, sizeof(b));
      return;
    }
    case GgmlType::kIQ4_XS: {
      BlockIQ4_XS b{};
      for (int sb = 0; sb < 8; ++sb) {
        const int ls = t.sc[sb] + 32;
        b.scales_l[sb / 2] |= static_cast<uint8_t>((ls & 15) << (4 * (sb % 2)));
        b.scales_h =
            static_cast<uint16_t>(b.scales_h | ((ls >> 4) << (2 * sb)));
        for (int j = 0; j < 16; ++j) {
          b.qs[16 * sb + j] = static_cast<uint8_t>(
              t.q[32 * sb + j] | (t.q[32 * sb + 16 + j] << 4));
        }
      }
      b.d = F32ToF16(t.d);
      std::memcpy(dst, &b, sizeof(b));
      return;
    }
    default:
      LB_CHECK(false && "not a k-quant");
  }
}

// Ternary blocks: lowbit's exact ternary optimum (TWN-style alpha, nearest
// level) with an f16 scale; codes 0, 1, 2 are the levels -1, 0, +1 as in ggml.
void FitTernaryBlock(const float* x, const float* w, float* d, uint8_t* codes) {
  const Scheme scheme{SchemeKind::kTernary, 2};
  MethodSpec mse;
  mse.method = Method::kMse;
  const GroupFit fit = FitGroup(x, w, 256, scheme, true, mse, ScaleType::kF16);
  EncodeGroup(x, 256, scheme, fit, mse, codes);
  *d = fit.scale;
}

uint8_t PackTrits(const uint8_t* t,
                  int n) {  // n <= 5 trits, most significant first
  int v = 0;
  for (int k = 0; k < 5; ++k) v = v * 3 + (k < n ? t[k] : 0);
  return static_cast<uint8_t>((v * 256 + 242) / 243);
}

void EncodeTQ(GgmlType type, const float* x, const float* w, uint8_t* out,
              int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t c[256];
    float d;
    FitTernaryBlock(x + 256 * i, w ? w + 256 * i : nullptr, &d, c);
    if (type == GgmlType::kTQ2_0) {
      BlockTQ2_0 b{};
      for (int e = 0; e < 256; ++e) {
        const int h = e / 128, s = (e % 128) / 32, m = e % 32;
        b.qs[32 * h + m] |= static_cast<uint8_t>(c[e] << (2 * s));
      }
      b.d = F32ToF16(d);
      std::memcpy(BlockAt<BlockTQ2_0>(out, i), &b, sizeof(b));
    } else {
      BlockTQ1_0 b{};
      uint8_t t[5];
      for (int m = 0; m < 32; ++m) {
        for (int k = 0; k < 5; ++k) t[k] = c[32 * k + m];
        b.qs[m] = PackTrits(t, 5);
      }
      for (int m = 0; m < 16; ++m) {
        for (int k = 0; k < 5; ++k) t[k] = c[160 + 16 * k + m];
        b.qs[32 + m] = PackTrits(t, 5);
      }
      for (int m = 0; m < 4; ++m) {
        for (int k = 0; k < 4; ++k) t[k] = c[240 + 4 * k + m];
        b.qh[m] = PackTrits(t, 4);
      }
      b.d = F32ToF16(d);
      std::memcpy(BlockAt<BlockTQ1_0>(out, i), &b, sizeof(b));
    }
  }
}

}  // namespace

bool CanEncodeGgml(GgmlType t) {
  const GgmlTypeInfo* info = FindGgmlTypeInfoById(static_cast<uint32_t>(t));
  return info != nullptr && info->codec;
}

void QuantizeGgmlRow(GgmlType t, const float* x, uint8_t* out, int64_t n,
                     const float* w) {
  switch (t) {
    case GgmlType::kF32:
      std::memcpy(out, x, static_cast<size_t>(n) * 4);
      return;
    case GgmlType::kF16:
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h =
            t == GgmlType::kF16 ? F32ToF16(x[i]) : F32ToBF16(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ5_0:
    case GgmlType::kIQ4_NL:
      return EncodeOneLevel(t, x, w, out, n / 32);
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_1:
      return EncodeAffine(t, x, w, out, n / 32);
    case GgmlType::kTQ1_0:
    case GgmlType::kTQ2_0:
      return EncodeTQ(t, x, w, out, n / 256);
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
    case GgmlType::kIQ4_XS: {
      const TwoLevelSpec spec = KSpec(t);
      const int64_t bytes = GetGgmlTypeInfo(t).block_bytes;
      constexpr int64_t kPiece = 64;  // super-blocks (70 KiB of blocks)
      thread_local std::vector<TwoLevelBlock> blocks;
      blocks.resize(kPiece);
      for (int64_t b = 0; b < n / 256; b += kPiece) {
        const int64_t nb = std::min(kPiece, n / 256 - b);
        FitTwoLevelRow(x + b * 256, w ? w + b * 256 : nullptr, nb, spec,
                       blocks.data());
        for (int64_t i = 0; i < nb; ++i)
          PackKQuant(t, blocks[i], out + (b + i) * bytes);
      }
      return;
    }
    default:
      LB_CHECK(false && "QuantizeGgmlRow: type without an encoder");
  }
}

void QuantizeGgmlRows(GgmlType t, const float* x, uint8_t* out, int64_t rows,
                      int64_t cols, const float* importance) {
  if (importance == nullptr) {
    // Blocks never straddle rows, so the rows are one long row.
    return QuantizeGgmlRow(t, x, out, rows * cols, nullptr);
  }
  const int64_t rb = GetGgmlTypeInfo(t).RowBytes(cols);
  for (int64_t r = 0; r < rows; ++r)
    QuantizeGgmlRow(t, x + r * cols, out + r * rb, cols, importance);
}

}  // namespace lowbit
