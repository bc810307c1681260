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

}  // namespace lowbit
