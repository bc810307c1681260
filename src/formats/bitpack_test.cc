#include "formats/bitpack.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace lowbit {
namespace {

TEST(BitPack, HandComputed) {
  const uint8_t c4[3] = {1, 2, 3};
  uint8_t out[2];
  PackBits(c4, 3, 4, out);
  EXPECT_EQ(out[0], 0x21);
  EXPECT_EQ(out[1], 0x03);
  // 3-bit: 5, 6, 7 -> bits 101 110 111 (LSB first) = 0b11_110_101, 0b1
  const uint8_t c3[3] = {5, 6, 7};
  PackBits(c3, 3, 3, out);
  EXPECT_EQ(out[0], 0xF5);
  EXPECT_EQ(out[1], 0x01);
  EXPECT_EQ(PackedRowBytes(3, 3), 2);
  EXPECT_EQ(PackedRowBytes(33, 1), 5);
}

TEST(BitPack, RoundTripAllWidthsOddLengths) {
  std::mt19937 rng(7);
  for (int bits = 1; bits <= 8; ++bits) {
    for (int64_t n : {1, 2, 3, 7, 8, 9, 31, 33, 64, 101}) {
      std::vector<uint8_t> codes(n), back(n);
      for (auto& c : codes)
        c = static_cast<uint8_t>(rng() & ((1u << bits) - 1));
      std::vector<uint8_t> packed(PackedRowBytes(n, bits) + 1, 0xAB);
      PackBits(codes.data(), n, bits, packed.data());
      EXPECT_EQ(packed.back(), 0xAB) << "wrote past the row, bits=" << bits;
      UnpackBits(packed.data(), n, bits, back.data());
      EXPECT_EQ(codes, back) << "bits=" << bits << " n=" << n;
      // Padding bits are zero.
      const int64_t used = n * bits;
      if (used % 8) {
        EXPECT_EQ(packed[PackedRowBytes(n, bits) - 1] >> (used % 8), 0);
      }
    }
  }
}

}  // namespace
}  // namespace lowbit
