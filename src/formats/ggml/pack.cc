// Packers of ggml's block formats: fitted scales and codes into ggml's bytes,
// exactly the layouts DequantizeGgmlRow reads (formats/ggml/blocks.h). How the
// values are chosen is quant/'s question (quant/ggml_quantize.h).
#include "formats/ggml/pack.h"

#include <cstring>

#include "core/half.h"
#include "core/status.h"
#include "formats/ggml/blocks.h"

namespace lowbit {
namespace {

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

uint8_t PackTrits(const uint8_t* t,
                  int n) {  // n <= 5 trits, most significant first
  int v = 0;
  for (int k = 0; k < 5; ++k) v = v * 3 + (k < n ? t[k] : 0);
  return static_cast<uint8_t>((v * 256 + 242) / 243);
}

}  // namespace

void PackFloatRow(GgmlType t, const float* x, int64_t n, uint8_t* out) {
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
    default:
      LB_CHECK(false && "PackFloatRow: not f32, f16 or bf16");
  }
}

void PackOneLevelBlocks(GgmlType t, const float* d, const uint8_t* codes,
                        int64_t nb, uint8_t* out) {
  const uint8_t* cs = codes;
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
      LB_CHECK(false && "PackOneLevelBlocks: not a one-level block type");
  }
}

void PackAffineBlocks(GgmlType t, const float* d, const float* m,
                      const uint8_t* codes, int64_t nb, uint8_t* out) {
  LB_CHECK(t == GgmlType::kQ4_1 || t == GgmlType::kQ5_1);
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* ci = codes + 32 * i;
    if (t == GgmlType::kQ4_1) {
      BlockQ4_1 b;
      b.d = F32ToF16(d[i]);
      b.m = F32ToF16(m[i]);
      for (int j = 0; j < 16; ++j)
        b.qs[j] = static_cast<uint8_t>(ci[j] | (ci[j + 16] << 4));
      std::memcpy(BlockAt<BlockQ4_1>(out, i), &b, sizeof(b));
    } else {
      BlockQ5_1 b;
      b.d = F32ToF16(d[i]);
      b.m = F32ToF16(m[i]);
      PackQ5Codes(ci, b.qs, b.qh);
      std::memcpy(BlockAt<BlockQ5_1>(out, i), &b, sizeof(b));
    }
  }
}

void PackKQuantBlock(GgmlType type, const KQuantBlock& t, uint8_t* dst) {
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

void PackTernaryBlock(GgmlType type, float d, const uint8_t* c, uint8_t* dst) {
  if (type == GgmlType::kTQ2_0) {
    BlockTQ2_0 b{};
    for (int e = 0; e < 256; ++e) {
      const int h = e / 128, s = (e % 128) / 32, m = e % 32;
      b.qs[32 * h + m] |= static_cast<uint8_t>(c[e] << (2 * s));
    }
    b.d = F32ToF16(d);
    std::memcpy(dst, &b, sizeof(b));
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
    std::memcpy(dst, &b, sizeof(b));
  }
}

}  // namespace lowbit
