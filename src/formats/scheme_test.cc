#include "formats/scheme.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lowbit {
namespace {

TEST(Minifloat, E4M3HandValues) {
  EXPECT_EQ(EncodeFp8E4M3(1.0f), 0x38);
  EXPECT_EQ(EncodeFp8E4M3(0.5f), 0x30);
  EXPECT_EQ(EncodeFp8E4M3(448.0f), 0x7E);
  EXPECT_EQ(EncodeFp8E4M3(-448.0f), 0xFE);
  EXPECT_EQ(EncodeFp8E4M3(1e6f), 0x7E);  // saturates
  EXPECT_EQ(EncodeFp8E4M3(-1e6f), 0xFE);
  EXPECT_EQ(EncodeFp8E4M3(0x1p-9f), 0x01);   // smallest subnormal
  EXPECT_EQ(EncodeFp8E4M3(0x1p-10f), 0x00);  // tie 0 / 2^-9 -> even code 0
  EXPECT_EQ(EncodeFp8E4M3(-0.0f), 0x00);     // zero is canonical +0
  EXPECT_FLOAT_EQ(DecodeFp8E4M3(0x7E), 448.0f);
  EXPECT_TRUE(std::isnan(DecodeFp8E4M3(0x7F)));
  // 1.0625 is halfway between 1.0 (0x38) and 1.125 (0x39): ties to even ->
  // 0x38.
  EXPECT_EQ(EncodeFp8E4M3(1.0625f), 0x38);
  EXPECT_EQ(EncodeFp8E4M3(1.1875f), 0x3A);  // halfway 1.125/1.25 -> even 0x3A
}

TEST(Minifloat, E5M2HandValues) {
  EXPECT_EQ(EncodeFp8E5M2(1.0f), 0x3C);
  EXPECT_EQ(EncodeFp8E5M2(57344.0f), 0x7B);
  EXPECT_EQ(EncodeFp8E5M2(1e9f), 0x7B);
  EXPECT_EQ(EncodeFp8E5M2(0x1p-16f), 0x01);
  EXPECT_TRUE(std::isinf(DecodeFp8E5M2(0x7C)));
}

TEST(Minifloat, E2M1AllValuesAndTies) {
  const float v[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (int c = 0; c < 8; ++c) {
    EXPECT_EQ(DecodeFp4E2M1(static_cast<uint8_t>(c)), v[c]);
    EXPECT_EQ(DecodeFp4E2M1(static_cast<uint8_t>(c | 8)), -v[c]);
    EXPECT_EQ(EncodeFp4E2M1(v[c]), c);
    if (c) {
      EXPECT_EQ(EncodeFp4E2M1(-v[c]), c | 8);
    }
  }
  EXPECT_EQ(EncodeFp4E2M1(2.5f), 4);  // tie 2 / 3 -> even code 4 (= 2)
  EXPECT_EQ(EncodeFp4E2M1(5.0f), 6);  // tie 4 / 6 -> even code 6 (= 4)
  EXPECT_EQ(EncodeFp4E2M1(100.0f), 7);
}

TEST(Minifloat, EveryFiniteCodeRoundTrips) {
  for (int c = 0; c < 256; ++c) {
    const float a = DecodeFp8E4M3(static_cast<uint8_t>(c));
    if (std::isfinite(a) && a != 0.0f) {
      EXPECT_EQ(EncodeFp8E4M3(a), c) << c;
    }
    const float b = DecodeFp8E5M2(static_cast<uint8_t>(c));
    if (std::isfinite(b) && b != 0.0f) {
      EXPECT_EQ(EncodeFp8E5M2(b), c) << c;
    }
  }
}

TEST(Minifloat, E8M0) {
  EXPECT_EQ(DecodeE8M0(127), 1.0f);
  EXPECT_EQ(DecodeE8M0(128), 2.0f);
  EXPECT_EQ(DecodeE8M0(0), std::ldexp(1.0f, -127));
  EXPECT_TRUE(std::isnan(DecodeE8M0(255)));
}

TEST(Scheme, NamesRoundTrip) {
  for (const char* n : {"int2", "int3", "int4", "int5", "int6", "int7", "int8",
                        "binary", "ternary", "nf4", "fp8_e4m3", "fp8_e5m2",
                        "fp4_e2m1", "mxfp4", "kmeans2", "kmeans4", "kmeans8"}) {
    auto s = ParseScheme(n);
    ASSERT_TRUE(s.has_value()) << n;
    EXPECT_EQ(s->Name(), n);
  }
  EXPECT_FALSE(ParseScheme("int1").has_value());
  EXPECT_FALSE(ParseScheme("int9").has_value());
  EXPECT_FALSE(ParseScheme("kmeans").has_value());
  EXPECT_FALSE(ParseScheme("q4_0").has_value());
}

TEST(Scheme, Nf4TableIsAscendingFromMinusOneToOne) {
  auto t = Nf4Levels();
  ASSERT_EQ(t.size(), 16u);
  EXPECT_EQ(t[0], -1.0f);
  EXPECT_EQ(t[7], 0.0f);
  EXPECT_EQ(t[15], 1.0f);
  for (size_t i = 1; i < t.size(); ++i) EXPECT_LT(t[i - 1], t[i]);
}

}  // namespace
}  // namespace lowbit
