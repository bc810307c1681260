#include "formats/ggml/encode.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "core/round.h"
#include "formats/ggml/blocks.h"
#include "quant/ggml_fit.h"
#include "quant/group_fit.h"

namespace lowbit {
namespace {

// The symmetric integer blocks (q8_0, q4_0, q5_0) are lowbit's own intN, group
// 32, mse search with f16 scales: codes c carry the level c - 2^(bits-1), as
// ggml's do.
void FitSymmetricBlock(const float* x, const float* w, int bits, float* d,
                       uint8_t* codes) {
  const Scheme scheme{SchemeKind::kInt, bits};
  MethodSpec mse;
  mse.method = Method::kMse;
  const GroupFit fit = FitGroup(x, w, 32, scheme, true, mse, ScaleType::kF16);
  EncodeGroup(x, 32, scheme, fit, mse, codes);
  *d = fit.scale;
}

template <typename B>
B* BlockAt(uint8_t* out, int64_t i) {
  return reinterpret_cast<B*>(out + i * static_cast<int64_t>(sizeof(B)));
}

// q8_0 at 8 bits gains little from a search: two orientations of the extreme
// (f16 scale), then one least-squares step on the scale, kept when it lowers
// the (weighted) error. Straight-line loops the compiler vectorizes.
float Q8Codes(const float* x, const float* w, float d, int8_t* q) {
  const float inv = d != 0.0f ? 1.0f / d : 0.0f;
  float err = 0.0f;
  for (int j = 0; j < 32; ++j) {
    const float v = RoundClamp(x[j] * inv, -128.0f, 127.0f);
    q[j] = static_cast<int8_t>(v);
    const float e = x[j] - v * d;
    err += (w ? w[j] : 1.0f) * e * e;
  }
  return err;
}

void EncodeQ8_0(const float* x, const float* w, uint8_t* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + 32 * i;
    const float* wb = w ? w + 32 * i : nullptr;
    float hi = xb[0], lo = xb[0];
    for (int j = 1; j < 32; ++j) {
      hi = std::max(hi, xb[j]);
      lo = std::min(lo, xb[j]);
    }
    const float ext = hi >= -lo ? hi : lo;  // the value of largest magnitude
    BlockQ8_0 b;
    // The extreme onto -128 (the longer side), or onto +-127 (both signs fit).
    float d = RoundToF16(ext / -128.0f);
    float err = Q8Codes(xb, wb, d, b.qs);
    {
      int8_t q1[32];
      const float d1 = RoundToF16(ext / 127.0f);
      const float err1 = Q8Codes(xb, wb, d1, q1);
      if (err1 < err) {
        d = d1;
        err = err1;
        std::memcpy(b.qs, q1, 32);
      }
    }
    double num = 0, den = 0;
    for (int j = 0; j < 32; ++j) {
      const double wj = wb ? wb[j] : 1.0;
      num += wj * xb[j] * b.qs[j];
      den += wj * static_cast<double>(b.qs[j]) * b.qs[j];
    }
    if (den > 0) {
      int8_t q2[32];
      const float d2 = RoundToF16(static_cast<float>(num / den));
      const float err2 = Q8Codes(xb, wb, d2, q2);
      if (err2 < err) {
        d = d2;
        std::memcpy(b.qs, q2, 32);
      }
    }
    b.d = F32ToF16(d);
    std::memcpy(BlockAt<BlockQ8_0>(out, i), &b, sizeof(b));
  }
}

void EncodeQ4_0(const float* x, const float* w, uint8_t* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    BlockQ4_0 b;
    uint8_t c[32];
    float d;
    FitSymmetricBlock(x + 32 * i, w ? w + 32 * i : nullptr, 4, &d, c);
    b.d = F32ToF16(d);
    for (int j = 0; j < 16; ++j)
      b.qs[j] = static_cast<uint8_t>(c[j] | (c[j + 16] << 4));
    std::memcpy(BlockAt<BlockQ4_0>(out, i), &b, sizeof(b));
  }
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

void EncodeQ5_0(const float* x, const float* w, uint8_t* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    BlockQ5_0 b;
    uint8_t c[32];
    float d;
    FitSymmetricBlock(x + 32 * i, w ? w + 32 * i : nullptr, 5, &d, c);
    b.d = F32ToF16(d);
    PackQ5Codes(c, b.qs, b.qh);
    std::memcpy(BlockAt<BlockQ5_0>(out, i), &b, sizeof(b));
  }
}

void EncodeQ4_1(const float* x, const float* w, uint8_t* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    AffineBlock a;
    FitAffineBlock(x + 32 * i, w ? w + 32 * i : nullptr, 32, 15, &a);
    BlockQ4_1 b;
    b.d = F32ToF16(a.d);
    b.m = F32ToF16(a.m);
    for (int j = 0; j < 16; ++j)
      b.qs[j] = static_cast<uint8_t>(a.q[j] | (a.q[j + 16] << 4));
    std::memcpy(BlockAt<BlockQ4_1>(out, i), &b, sizeof(b));
  }
}

void EncodeQ5_1(const float* x, const float* w, uint8_t* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    AffineBlock a;
    FitAffineBlock(x + 32 * i, w ? w + 32 * i : nullptr, 32, 31, &a);
    BlockQ5_1 b;
    b.d = F32ToF16(a.d);
    b.m = F32ToF16(a.m);
    PackQ5Codes(a.q, b.qs, b.qh);
    std::memcpy(BlockAt<BlockQ5_1>(out, i), &b, sizeof(b));
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

// iq4_nl is one f16 scale per 32 over the IQ4 table: a two-level fit with a
// single sub-block whose integer scale is -1, 0 or 1 (so the f16 scale may take
// either sign).
void EncodeIQ4_NL(const float* x, const float* w, uint8_t* out, int64_t nb) {
  TwoLevelSpec spec;
  spec.sub = 32;
  spec.nsub = 1;
  spec.qmin = 0;
  spec.qmax = 15;
  spec.smin = -1;
  spec.smax = 1;
  spec.table = IQ4Levels();
  for (int64_t i = 0; i < nb; ++i) {
    TwoLevelBlock t;
    FitTwoLevel(x + 32 * i, w ? w + 32 * i : nullptr, spec, &t);
    BlockIQ4_NL b;
    b.d = F32ToF16(t.d * static_cast<float>(t.sc[0]));
    for (int j = 0; j < 16; ++j) {
      b.qs[j] = static_cast<uint8_t>(t.q[j] | (t.q[j + 16] << 4));
    }
    std::memcpy(BlockAt<BlockIQ4_NL>(out, i), &b, sizeof(b));
  }
}

TwoLevelSpec KSpec(GgmlType t) {
  TwoLevelSpec s;
  switch (t) {
    case GgmlType::kQ2_K:
      s = {16, 16, 0, 3, 0, 15, true, 15, nullptr};
      break;
    case GgmlType::kQ3_K:
      s = {16, 16, -4, 3, -32, 31, false, 0, nullptr};
      break;
    case GgmlType::kQ4_K:
      s = {32, 8, 0, 15, 0, 63, true, 63, nullptr};
      break;
    case GgmlType::kQ5_K:
      s = {32, 8, 0, 31, 0, 63, true, 63, nullptr};
      break;
    case GgmlType::kQ6_K:
      s = {16, 16, -32, 31, -128, 127, false, 0, nullptr};
      break;
    case GgmlType::kIQ4_XS:
      s = {32, 8, 0, 15, -32, 31, false, 0, IQ4Levels()};
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
      for (int e = 0; e < 256; ++e) {  // e = 128 h + 32 s + l (l < 32)
        const int h = e / 128, s = (e % 128) / 32, l = e % 32;
        b.qs[32 * h + l] |= static_cast<uint8_t>(t.q[e] << (2 * s));
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
      for (int e = 0; e < 256; ++e) {
        const int h = e / 128, s = (e % 128) / 32, l = e % 32;
        const int u = t.q[e] + 4;  // 0..7
        b.qs[32 * h + l] |= static_cast<uint8_t>((u & 3) << (2 * s));
        if (u >= 4) b.hmask[l] |= static_cast<uint8_t>(1u << (4 * h + s));
      }
      b.d = F32ToF16(t.d);
      std::memcpy(dst, &b, sizeof(b));
      return;
    }
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K: {
      uint8_t qs[128] = {}, qh[32] = {}, scales[12];
      PackScaleMinK4(t.sc, t.mn, scales);
      for (int e = 0; e < 256; ++e) {  // e = 64 c + 32 half + l
        const int c = e / 64, half = (e % 64) / 32, l = e % 32;
        qs[32 * c + l] |= static_cast<uint8_t>((t.q[e] & 15) << (4 * half));
        if (t.q[e] >= 16) qh[l] |= static_cast<uint8_t>(1u << (2 * c + half));
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
      for (int e = 0; e < 256; ++e) {  // e = 128 h + 32 i + l
        const int h = e / 128, i = (e % 128) / 32, l = e % 32;
        const int u = t.q[e] + 32;  // 0..63
        const int ql = 64 * h + l + (i & 1) * 32;
        b.ql[ql] |= static_cast<uint8_t>((u & 15) << (4 * (i >> 1)));
        b.qh[32 * h + l] |= static_cast<uint8_t>((u >> 4) << (2 * i));
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
      return EncodeQ8_0(x, w, out, n / 32);
    case GgmlType::kQ4_0:
      return EncodeQ4_0(x, w, out, n / 32);
    case GgmlType::kQ5_0:
      return EncodeQ5_0(x, w, out, n / 32);
    case GgmlType::kQ4_1:
      return EncodeQ4_1(x, w, out, n / 32);
    case GgmlType::kQ5_1:
      return EncodeQ5_1(x, w, out, n / 32);
    case GgmlType::kIQ4_NL:
      return EncodeIQ4_NL(x, w, out, n / 32);
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
      for (int64_t i = 0; i < n / 256; ++i) {
        TwoLevelBlock b;
        FitTwoLevel(x + 256 * i, w ? w + 256 * i : nullptr, spec, &b);
        PackKQuant(t, b, out + i * bytes);
      }
      return;
    }
    default:
      LB_CHECK(false && "QuantizeGgmlRow: type without an encoder");
  }
}

}  // namespace lowbit
