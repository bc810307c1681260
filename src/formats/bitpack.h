// Bit packing of b-bit codes (1 <= b <= 8), least significant bits first.
// Layout: code i occupies bits [i*b, (i+1)*b) of the row's little-endian
// bitstream, so for b = 4 code 0 is the low nibble of byte 0. Each row starts
// on a byte boundary and is padded with zero bits to whole bytes: RowBytes(n,
// b) = ceil(n * b / 8).
#pragma once

#include <cstdint>

namespace lowbit {

inline int64_t PackedRowBytes(int64_t n, int bits) {
  return (n * bits + 7) / 8;
}

// Packs n codes (each < 2^bits) into PackedRowBytes(n, bits) bytes at dst.
void PackBits(const uint8_t* codes, int64_t n, int bits, uint8_t* dst);
// Unpacks n codes from src.
void UnpackBits(const uint8_t* src, int64_t n, int bits, uint8_t* codes);

// Code i of a packed row (reads at most the two bytes that hold it).
inline uint8_t CodeAt(const uint8_t* src, int64_t i, int bits) {
  const int64_t bit = i * bits;
  const int64_t byte = bit / 8;
  const int shift = static_cast<int>(bit % 8);
  unsigned v = src[byte] >> shift;
  if (shift + bits > 8)
    v |= static_cast<unsigned>(src[byte + 1]) << (8 - shift);
  return static_cast<uint8_t>(v & ((1u << bits) - 1));
}

// Codes are unpacked in chunks of this many (a multiple of 8, so that every
// chunk starts on a byte boundary for any width) into a buffer on the stack.
inline constexpr int64_t kCodeChunk = 256;

}  // namespace lowbit
