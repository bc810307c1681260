// The packed block formats of ggml (llama.cpp's GGUF files), byte for byte as
// ggml lays them out. Each struct is one block; a row of n elements is
// n / kElements such blocks back to back, with no padding between them.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/status.h"

namespace lowbit {

// The structs alias file bytes directly, so the host must be little-endian.
static_assert(std::endian::native == std::endian::little);

// Layout, common to all blocks: every multi-byte field is little-endian; the
// fp16 fields (d, m, dmin) hold IEEE binary16 bits (decode with F16ToF32). A
// "nibble pair" byte qs[j] holds element j in its low 4 bits and element
// j + 16 in its high 4 bits (of a 32-element group). The value of each element
// is given per format below, with q the element's unsigned code.

// Elements in a k-quant (and IQ4_XS, TQ1_0, TQ2_0) super-block: ggml's QK_K.
inline constexpr int kQK_K = 256;

// The 16 levels of IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl), ascending.
inline constexpr int8_t kIQ4NLValues[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Layout: d (fp16), qs[16] nibble pairs. x = (q - 8) * d.
struct BlockQ4_0 {
  static constexpr int kElements = 32;
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_0) == 18);

// Layout: d (fp16), m (fp16), qs[16] nibble pairs. x = q * d + m.
struct BlockQ4_1 {
  static constexpr int kElements = 32;
  uint16_t d;
  uint16_t m;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_1) == 20);

// Layout: d (fp16), qh[4], qs[16] nibble pairs. qh is a little-endian uint32
// whose bit i is bit 4 of element i's 5-bit code. x = (q - 16) * d.
struct BlockQ5_0 {
  static constexpr int kElements = 32;
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_0) == 22);

// Layout: d (fp16), m (fp16), qh[4], qs[16] as in Q5_0. x = q * d + m.
struct BlockQ5_1 {
  static constexpr int kElements = 32;
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_1) == 24);

// Layout: d (fp16), qs[32] signed bytes, one per element. x = qs[i] * d.
struct BlockQ8_0 {
  static constexpr int kElements = 32;
  uint16_t d;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Layout: scales[16], qs[64], d (fp16), dmin (fp16). 16 sub-blocks of 16
// elements; scales[k] holds sub-block k's 4-bit scale (low nibble) and 4-bit
// min (high nibble). Element e = 128*h + 32*s + l (h < 2, s < 4, l < 32) is
// bits [2s, 2s+2) of qs[32*h + l], in sub-block e / 16.
// x = (d * scale) * q - (dmin * min).
struct BlockQ2_K {
  static constexpr int kElements = kQK_K;
  uint8_t scales[16];
  uint8_t qs[64];
  uint16_t d;
  uint16_t dmin;
};
static_assert(sizeof(BlockQ2_K) == 84);

// Layout: hmask[32], qs[64], scales[12], d (fp16). Element e = 128*h + 32*s
// + l has its low 2 bits at bits [2s, 2s+2) of qs[32*h + l] and its high bit
// at bit 4*h + s of hmask[l]; the signed code is low - (high ? 0 : 4), in
// [-4, 3]. Sub-block k = e / 16 has a 6-bit scale (biased by 32): the low 4
// bits are the low nibble of scales[k] (k < 8) or the high nibble of
// scales[k - 8] (k >= 8), the high 2 bits are bits [2*(k/4), 2*(k/4)+2) of
// scales[8 + k%4]. x = (d * (scale - 32)) * code.
struct BlockQ3_K {
  static constexpr int kElements = kQK_K;
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110);

// Layout: d (fp16), dmin (fp16), scales[12], qs[128]. 8 sub-blocks of 32
// elements with a 6-bit scale and a 6-bit min each (see UnpackScaleMinK4).
// Element 64*c + l (l < 32) is the low nibble of qs[32*c + l], in sub-block
// 2c; element 64*c + 32 + l is its high nibble, in sub-block 2c + 1.
// x = (d * scale) * q - (dmin * min).
struct BlockQ4_K {
  static constexpr int kElements = kQK_K;
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_K) == 144);

// Layout: d (fp16), dmin (fp16), scales[12], qh[32], qs[128]. As Q4_K for
// the low 4 bits and the scales; bit 4 of element 64*c + l is bit 2c of
// qh[l], and of element 64*c + 32 + l bit 2c + 1 of qh[l].
// x = (d * scale) * q - (dmin * min).
struct BlockQ5_K {
  static constexpr int kElements = kQK_K;
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ5_K) == 176);

// Layout: ql[128], qh[64], scales[16] (signed), d (fp16). For half h < 2 and
// l < 32, with L = ql + 64*h and H = qh[32*h + l], the 6-bit codes are
//   element 128h + l:      low nibble of L[l]       | bits 0-1 of H << 4
//   element 128h + 32 + l: low nibble of L[l + 32]  | bits 2-3 of H << 4
//   element 128h + 64 + l: high nibble of L[l]      | bits 4-5 of H << 4
//   element 128h + 96 + l: high nibble of L[l + 32] | bits 6-7 of H << 4
// Sub-block k = e / 16 has scale scales[k]. x = (d * scale) * (q - 32).
struct BlockQ6_K {
  static constexpr int kElements = kQK_K;
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// Layout: d (fp16), qs[16] nibble pairs. x = d * kIQ4NLValues[q].
struct BlockIQ4_NL {
  static constexpr int kElements = 32;
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockIQ4_NL) == 18);

// Layout: d (fp16), scales_h (uint16), scales_l[4], qs[128]. 8 sub-blocks of
// 32 elements; sub-block b has the 6-bit scale (biased by 32) whose low 4 bits
// are nibble b%2 of scales_l[b/2] and whose high 2 bits are bits [2b, 2b+2)
// of scales_h. Its 32 elements are the nibble pairs qs[16*b .. 16*b + 16).
// x = (d * (scale - 32)) * kIQ4NLValues[q].
struct BlockIQ4_XS {
  static constexpr int kElements = kQK_K;
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[4];
  uint8_t qs[128];
};
static_assert(sizeof(BlockIQ4_XS) == 136);

// Layout: qs[48], qh[4], d (fp16). Trits t in {0, 1, 2}, x = (t - 1) * d.
// A byte b holds up to 5 trits as a base-3 fraction: trit n is
// (3 * ((b * 3^n) mod 256)) >> 8. qs[m] (m < 32) gives elements 32*n + m
// (n < 5); qs[32 + m] (m < 16) gives elements 160 + 16*n + m (n < 5); qh[m]
// gives elements 240 + 4*n + m (n < 4).
struct BlockTQ1_0 {
  static constexpr int kElements = kQK_K;
  uint8_t qs[48];
  uint8_t qh[4];
  uint16_t d;
};
static_assert(sizeof(BlockTQ1_0) == 54);

// Layout: qs[64], d (fp16). Element 128*h + 32*s + m (h < 2, s < 4, m < 32) is
// the 2-bit code t = bits [2s, 2s+2) of qs[32*h + m]; x = (t - 1) * d.
struct BlockTQ2_0 {
  static constexpr int kElements = kQK_K;
  uint8_t qs[64];
  uint16_t d;
};
static_assert(sizeof(BlockTQ2_0) == 66);

// The 6-bit scale and min of sub-block j (< 8) of a Q4_K / Q5_K block: for
// j < 4 the low 6 bits of scales[j] and scales[j + 4]; for j >= 4 the nibbles
// of scales[j + 4] (scale low, min high) extended by the top 2 bits of
// scales[j - 4] (scale) and scales[j] (min).
inline void UnpackScaleMinK4(const uint8_t* scales, int j, uint8_t* scale,
                             uint8_t* min) {
  if (j < 4) {
    *scale = scales[j] & 63;
    *min = scales[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((scales[j + 4] & 0xF) |
                                  ((scales[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

// Copies one block out of a byte stream (which need not be aligned).
template <typename Block>
Block LoadGgmlBlock(const uint8_t* p) {
  static_assert(std::is_trivially_copyable_v<Block>);
  Block b;
  std::memcpy(&b, p, sizeof(Block));
  return b;
}

// The number of blocks in a row of n elements. Aborts unless n is a
// non-negative multiple of Block::kElements.
template <typename Block>
int64_t GgmlBlockCount(int64_t n) {
  LB_CHECK(n >= 0 && n % Block::kElements == 0);
  return n / Block::kElements;
}

}  // namespace lowbit
