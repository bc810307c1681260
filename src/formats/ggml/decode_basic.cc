// ggml decoders for the plain types (f32, f16, bf16), the 32-element block
// formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), and the dispatch by GgmlType.
#include <cstring>

#include "core/half.h"
#include "core/status.h"
#include "formats/ggml/blocks.h"
#include "formats/ggml/decode.h"

namespace lowbit {
namespace {

uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

void DequantizeF32(const uint8_t* blocks, float* out, int64_t n) {
  LB_CHECK(n >= 0);
  if (n > 0) std::memcpy(out, blocks, static_cast<size_t>(n) * sizeof(float));
}

void DequantizeF16(const uint8_t* blocks, float* out, int64_t n) {
  LB_CHECK(n >= 0);
  for (int64_t i = 0; i < n; ++i) out[i] = F16ToF32(LoadU16(blocks + 2 * i));
}

void DequantizeBF16(const uint8_t* blocks, float* out, int64_t n) {
  LB_CHECK(n >= 0);
  for (int64_t i = 0; i < n; ++i) out[i] = BF16ToF32(LoadU16(blocks + 2 * i));
}

void DequantizeQ4_0(const uint8_t* blocks, float* out, int64_t n) {
  using B = BlockQ4_0;
  const int64_t nb = GgmlBlockCount<B>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const B b = LoadGgmlBlock<B>(blocks + i * sizeof(B));
    float* y = out + i * B::kElements;
    const float d = F16ToF32(b.d);
    for (int j = 0; j < 16; ++j) {
      const int lo = (b.qs[j] & 0xF) - 8;
      const int hi = (b.qs[j] >> 4) - 8;
      y[j] = static_cast<float>(lo) * d;
      y[j + 16] = static_cast<float>(hi) * d;
    }
  }
}

void DequantizeQ4_1(const uint8_t* blocks, float* out, int64_t n) {
  using B = BlockQ4_1;
  const int64_t nb = GgmlBlockCount<B>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const B b = LoadGgmlBlock<B>(blocks + i * sizeof(B));
    float* y = out + i * B::kElements;
    const float d = F16ToF32(b.d);
    const float m = F16ToF32(b.m);
    for (int j = 0; j < 16; ++j) {
      const int lo = b.qs[j] & 0xF;
      const int hi = b.qs[j] >> 4;
      y[j] = static_cast<float>(lo) * d + m;
      y[j + 16] = static_cast<float>(hi) * d + m;
    }
  }
}

void DequantizeQ5_0(const uint8_t* blocks, float* out, int64_t n) {
  using B = BlockQ5_0;
  const int64_t nb = GgmlBlockCount<B>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const B b = LoadGgmlBlock<B>(blocks + i * sizeof(B));
    float* y = out + i * B::kElements;
    const float d = F16ToF32(b.d);
    const uint32_t high = LoadU32(b.qh);
    for (int j = 0; j < 16; ++j) {
      const int lo =
          static_cast<int>((b.qs[j] & 0xF) | (((high >> j) & 1u) << 4)) - 16;
      const int hi =
          static_cast<int>((b.qs[j] >> 4) | (((high >> (j + 16)) & 1u) << 4)) -
          16;
      y[j] = static_cast<float>(lo) * d;
      y[j + 16] = static_cast<float>(hi) * d;
    }
  }
}

void DequantizeQ5_1(const uint8_t* blocks, float* out, int64_t n) {
  using B = BlockQ5_1;
  const int64_t nb = GgmlBlockCount<B>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const B b = LoadGgmlBlock<B>(blocks + i * sizeof(B));
    float* y = out + i * B::kElements;
    const float d = F16ToF32(b.d);
    const float m = F16ToF32(b.m);
    const uint32_t high = LoadU32(b.qh);
    for (int j = 0; j < 16; ++j) {
      const int lo =
          static_cast<int>((b.qs[j] & 0xF) | (((high >> j) & 1u) << 4));
      const int hi =
          static_cast<int>((b.qs[j] >> 4) | (((high >> (j + 16)) & 1u) << 4));
      y[j] = static_cast<float>(lo) * d + m;
      y[j + 16] = static_cast<float>(hi) * d + m;
    }
  }
}

void DequantizeQ8_0(const uint8_t* blocks, float* out, int64_t n) {
  using B = BlockQ8_0;
  const int64_t nb = GgmlBlockCount<B>(n);
  for (int64_t i = 0; i < nb; ++i) {
    const B b = LoadGgmlBlock<B>(blocks + i * sizeof(B));
    float* y = out + i * B::kElements;
    const float d = F16ToF32(b.d);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
  }
}

void DequantizeGgmlRow(GgmlType t, const uint8_t* blocks, float* out,
                       int64_t n) {
  switch (t) {
    case GgmlType::kF32:
      return DequantizeF32(blocks, out, n);
    case GgmlType::kF16:
      return DequantizeF16(blocks, out, n);
    case GgmlType::kBF16:
      return DequantizeBF16(blocks, out, n);
    case GgmlType::kQ4_0:
      return DequantizeQ4_0(blocks, out, n);
    case GgmlType::kQ4_1:
      return DequantizeQ4_1(blocks, out, n);
    case GgmlType::kQ5_0:
      return DequantizeQ5_0(blocks, out, n);
    case GgmlType::kQ5_1:
      return DequantizeQ5_1(blocks, out, n);
    case GgmlType::kQ8_0:
      return DequantizeQ8_0(blocks, out, n);
    case GgmlType::kQ2_K:
      return DequantizeQ2_K(blocks, out, n);
    case GgmlType::kQ3_K:
      return DequantizeQ3_K(blocks, out, n);
    case GgmlType::kQ4_K:
      return DequantizeQ4_K(blocks, out, n);
    case GgmlType::kQ5_K:
      return DequantizeQ5_K(blocks, out, n);
    case GgmlType::kQ6_K:
      return DequantizeQ6_K(blocks, out, n);
    case GgmlType::kIQ4_NL:
      return DequantizeIQ4_NL(blocks, out, n);
    case GgmlType::kIQ4_XS:
      return DequantizeIQ4_XS(blocks, out, n);
    case GgmlType::kTQ1_0:
      return DequantizeTQ1_0(blocks, out, n);
    case GgmlType::kTQ2_0:
      return DequantizeTQ2_0(blocks, out, n);
    default:
      break;
  }
  LB_CHECK(false && "DequantizeGgmlRow: type without a decoder");
}

}  // namespace lowbit
