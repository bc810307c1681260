// ggml decoders for the k-quants Q2_K, Q3_K, Q4_K, Q5_K and Q6_K (256-element
// super-blocks with quantized sub-block scales); layouts are in blocks.h.
#include "core/half.h"
#include "formats/ggml/blocks.h"
#include "formats/ggml/decode.h"

namespace lowbit {
namespace {

// Q3_K: the signed scale (bias 32 removed) of sub-block k (< 16).
int Q3KScale(const uint8_t* scales, int k) {
  const int low = k < 8 ? (scales[k] & 0xF) : (scales[k - 8] >> 4);
  const int high = (scales[8 + k % 4] >> (2 * (k / 4))) & 3;
  return (low | (high << 4)) - 32;
}

}  // namespace

void DequantizeQ2_K(const uint8_t* blocks, float* out, int64_t n) {
  using B = BlockQ2_K;
  const int64_t nb = GgmlBlockCount<B>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const B b = LoadGgmlBlock<B>(blocks + i * sizeof(B));
    float* y = out + i * B::kElements;
    const float d = F16ToF32(b.d);
    const float dmin = F16ToF32(b.dmin);
    for (int h = 0; h < 2; ++h) {
      for (int s = 0; s < 4; ++s) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sm = b.scales[8 * h + 2 * s + half];
          const float dl = d * static_cast<float>(sm & 0xF);
          const float ml = dmin * static_cast<float>(sm >> 4);
          const uint8_t* q = b.qs + 32 * h + 16 * half;
          float* dst = y + 128 * h + 32 * s + 16 * half;
          for (int l = 0; l < 16; ++l) {
            const int code = (q[l] >> (2 * s)) & 3;
            dst[l] = dl * static_cast<float>(code) - ml;
          }
        }
      }
    }
  }
}

void DequantizeQ3_K(const uint8_t* blocks, float* out, int64_t n) {
  using B = BlockQ3_K;
  const int64_t nb = GgmlBlockCount<B>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const B b = LoadGgmlBlock<B>(blocks + i * sizeof(B));
    float* y = out + i * B::kElements;
    const float d = F16ToF32(b.d);
    for (int h = 0; h < 2; ++h) {
      for (int s = 0; s < 4; ++s) {
        const uint8_t high_bit = static_cast<uint8_t>(1u << (4 * h + s));
        for (int half = 0; half < 2; ++half) {
          const float dl =
              d * static_cast<float>(Q3KScale(b.scales, 8 * h + 2 * s + half));
          float* dst = y + 128 * h + 32 * s + 16 * half;
          for (int l = 0; l < 16; ++l) {
            const int j = 16 * half + l;
            const int low = (b.qs[32 * h + j] >> (2 * s)) & 3;
            const int code = low - ((b.hmask[j] & high_bit) ? 0 : 4);
            dst[l] = dl * static_cast<float>(code);
          }
        }
      }
    }
  }
}

void DequantizeQ4_K(const uint8_t* blocks, float* out, int64_t n) {
  using B = BlockQ4_K;
  const int64_t nb = GgmlBlockCount<B>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const B b = LoadGgmlBlock<B>(blocks + i * sizeof(B));
    float* y = out + i * B::kElements;
    const float d = F16ToF32(b.d);
    const float dmin = F16ToF32(b.dmin);
    for (int c = 0; c < 4; ++c) {
      uint8_t sc, mn;
      UnpackScaleMinK4(b.scales, 2 * c, &sc, &mn);
      const float d_lo = d * static_cast<float>(sc);
      const float m_lo = dmin * static_cast<float>(mn);
      UnpackScaleMinK4(b.scales, 2 * c + 1, &sc, &mn);
      const float d_hi = d * static_cast<float>(sc);
      const float m_hi = dmin * static_cast<float>(mn);
      const uint8_t* q = b.qs + 32 * c;
      float* dst = y + 64 * c;
      for (int l = 0; l < 32; ++l) {
        dst[l] = d_lo * static_cast<float>(q[l] & 0xF) - m_lo;
      }
      for (int l = 0; l < 32; ++l) {
        dst[32 + l] = d_hi * static_cast<float>(q[l] >> 4) - m_hi;
      }
    }
  }
}

void DequantizeQ5_K(const uint8_t* blocks, float* out, int64_t n) {
  using B = BlockQ5_K;
  const int64_t nb = GgmlBlockCount<B>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const B b = LoadGgmlBlock<B>(blocks + i * sizeof(B));
    float* y = out + i * B::kElements;
    const float d = F16ToF32(b.d);
    const float dmin = F16ToF32(b.dmin);
    for (int c = 0; c < 4; ++c) {
      uint8_t sc, mn;
      UnpackScaleMinK4(b.scales, 2 * c, &sc, &mn);
      const float d_lo = d * static_cast<float>(sc);
      const float m_lo = dmin * static_cast<float>(mn);
      UnpackScaleMinK4(b.scales, 2 * c + 1, &sc, &mn);
      const float d_hi = d * static_cast<float>(sc);
      const float m_hi = dmin * static_cast<float>(mn);
      const uint8_t bit_lo = static_cast<uint8_t>(1u << (2 * c));
      const uint8_t bit_hi = static_cast<uint8_t>(2u << (2 * c));
      const uint8_t* q = b.qs + 32 * c;
      float* dst = y + 64 * c;
      for (int l = 0; l < 32; ++l) {
        const int code = (q[l] & 0xF) + ((b.qh[l] & bit_lo) ? 16 : 0);
        dst[l] = d_lo * static_cast<float>(code) - m_lo;
      }
      for (int l = 0; l < 32; ++l) {
        const int code = (q[l] >> 4) + ((b.qh[l] & bit_hi) ? 16 : 0);
        dst[32 + l] = d_hi * static_cast<float>(code) - m_hi;
      }
    }
  }
}

void DequantizeQ6_K(const uint8_t* blocks, float* out, int64_t n) {
  using B = BlockQ6_K;
  const int64_t nb = GgmlBlockCount<B>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const B b = LoadGgmlBlock<B>(blocks + i * sizeof(B));
    float* y = out + i * B::kElements;
    const float d = F16ToF32(b.d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b.ql + 64 * h;
      const uint8_t* qh = b.qh + 32 * h;
      const int8_t* sc = b.scales + 8 * h;
      float* dst = y + 128 * h;
      // (d * scale) * q, left to right as in ggml; written as one loop per
      // 16 values of one scale so that the compiler vectorizes it.
      for (int k = 0; k < 2; ++k) {
        const float d0 = d * static_cast<float>(sc[k]);
        const float d1 = d * static_cast<float>(sc[k + 2]);
        const float d2 = d * static_cast<float>(sc[k + 4]);
        const float d3 = d * static_cast<float>(sc[k + 6]);
        for (int l = 16 * k; l < 16 * k + 16; ++l) {
          const int q0 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
          const int q1 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
          const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
          const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
          dst[l] = d0 * static_cast<float>(q0);
          dst[l + 32] = d1 * static_cast<float>(q1);
          dst[l + 64] = d2 * static_cast<float>(q2);
          dst[l + 96] = d3 * static_cast<float>(q3);
        }
      }
    }
  }
}

}  // namespace lowbit
