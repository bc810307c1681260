// ggml decoders for the non-linear 4-bit formats IQ4_NL and IQ4_XS and the
// ternary formats TQ1_0 and TQ2_0; layouts are in blocks.h.
#include "core/half.h"
#include "formats/ggml/blocks.h"
#include "formats/ggml/decode.h"

namespace lowbit {
namespace {

// TQ1_0: trit n (< 5) of a byte that stores trits as a base-3 fraction.
int Trit(uint8_t byte, int n) {
  static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  const uint8_t shifted = static_cast<uint8_t>(byte * kPow3[n]);  // mod 256
  return (static_cast<int>(shifted) * 3) >> 8;
}

}  // namespace

void DequantizeIQ4_NL(const uint8_t* blocks, float* out, int64_t n) {
  using B = BlockIQ4_NL;
  const int64_t nb = GgmlBlockCount<B>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const B b = LoadGgmlBlock<B>(blocks + i * sizeof(B));
    float* y = out + i * B::kElements;
    const float d = F16ToF32(b.d);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>(kIQ4NLValues[b.qs[j] & 0xF]);
      y[j + 16] = d * static_cast<float>(kIQ4NLValues[b.qs[j] >> 4]);
    }
  }
}

void DequantizeIQ4_XS(const uint8_t* blocks, float* out, int64_t n) {
  using B = BlockIQ4_XS;
  const int64_t nb = GgmlBlockCount<B>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const B b = LoadGgmlBlock<B>(blocks + i * sizeof(B));
    float* y = out + i * B::kElements;
    const float d = F16ToF32(b.d);
    for (int sb = 0; sb < 8; ++sb) {
      const int low = (b.scales_l[sb / 2] >> (4 * (sb % 2))) & 0xF;
      const int high = (b.scales_h >> (2 * sb)) & 3;
      const float dl = d * static_cast<float>((low | (high << 4)) - 32);
      const uint8_t* q = b.qs + 16 * sb;
      float* dst = y + 32 * sb;
      for (int j = 0; j < 16; ++j) {
        dst[j] = dl * static_cast<float>(kIQ4NLValues[q[j] & 0xF]);
        dst[j + 16] = dl * static_cast<float>(kIQ4NLValues[q[j] >> 4]);
      }
    }
  }
}

void DequantizeTQ1_0(const uint8_t* blocks, float* out, int64_t n) {
  using B = BlockTQ1_0;
  const int64_t nb = GgmlBlockCount<B>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const B b = LoadGgmlBlock<B>(blocks + i * sizeof(B));
    float* y = out + i * B::kElements;
    const float d = F16ToF32(b.d);
    // Bytes qs[0, 32): elements 32*t + m; qs[32, 48): 160 + 16*t + m;
    // qh[0, 4): 240 + 4*t + m (only 4 trits each).
    for (int t = 0; t < 5; ++t) {
      for (int m = 0; m < 32; ++m) {
        y[32 * t + m] = static_cast<float>(Trit(b.qs[m], t) - 1) * d;
      }
    }
    for (int t = 0; t < 5; ++t) {
      for (int m = 0; m < 16; ++m) {
        y[160 + 16 * t + m] = static_cast<float>(Trit(b.qs[32 + m], t) - 1) * d;
      }
    }
    for (int t = 0; t < 4; ++t) {
      for (int m = 0; m < 4; ++m) {
        y[240 + 4 * t + m] = static_cast<float>(Trit(b.qh[m], t) - 1) * d;
      }
    }
  }
}

void DequantizeTQ2_0(const uint8_t* blocks, float* out, int64_t n) {
  using B = BlockTQ2_0;
  const int64_t nb = GgmlBlockCount<B>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const B b = LoadGgmlBlock<B>(blocks + i * sizeof(B));
    float* y = out + i * B::kElements;
    const float d = F16ToF32(b.d);
    for (int h = 0; h < 2; ++h) {
      for (int s = 0; s < 4; ++s) {
        for (int m = 0; m < 32; ++m) {
          const int code = (b.qs[32 * h + m] >> (2 * s)) & 3;
          y[128 * h + 32 * s + m] = static_cast<float>(code - 1) * d;
        }
      }
    }
  }
}

}  // namespace lowbit
