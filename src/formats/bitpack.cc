#include "formats/bitpack.h"

#include <cstring>

namespace lowbit {

void PackBits(const uint8_t* codes, int64_t n, int bits, uint8_t* dst) {
  const int64_t nbytes = PackedRowBytes(n, bits);
  if (bits == 8) {
    std::memcpy(dst, codes, static_cast<size_t>(n));
    return;
  }
  std::memset(dst, 0, static_cast<size_t>(nbytes));
  if (bits == 4) {
    for (int64_t i = 0; i + 1 < n; i += 2) {
      dst[i / 2] = static_cast<uint8_t>((codes[i] & 15) | (codes[i + 1] << 4));
    }
    if (n & 1) dst[n / 2] = codes[n - 1] & 15;
    return;
  }
  const uint32_t mask = (1u << bits) - 1u;
  uint64_t bitpos = 0;
  for (int64_t i = 0; i < n; ++i, bitpos += bits) {
    const uint32_t v = (codes[i] & mask) << (bitpos & 7);
    const int64_t byte = static_cast<int64_t>(bitpos >> 3);
    dst[byte] |= static_cast<uint8_t>(v);
    if ((bitpos & 7) + bits > 8) dst[byte + 1] |= static_cast<uint8_t>(v >> 8);
  }
}

void UnpackBits(const uint8_t* src, int64_t n, int bits, uint8_t* codes) {
  if (bits == 8) {
    std::memcpy(codes, src, static_cast<size_t>(n));
    return;
  }
  if (bits == 4) {
    for (int64_t i = 0; i < n; ++i) {
      codes[i] = (src[i / 2] >> ((i & 1) * 4)) & 15;
    }
    return;
  }
  const uint32_t mask = (1u << bits) - 1u;
  uint64_t bitpos = 0;
  for (int64_t i = 0; i < n; ++i, bitpos += bits) {
    const int64_t byte = static_cast<int64_t>(bitpos >> 3);
    uint32_t v = src[byte];
    if ((bitpos & 7) + bits > 8) v |= static_cast<uint32_t>(src[byte + 1]) << 8;
    codes[i] = static_cast<uint8_t>((v >> (bitpos & 7)) & mask);
  }
}

}  // namespace lowbit
