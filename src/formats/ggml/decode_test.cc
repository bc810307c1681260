// Tests of the ggml block decoders: bit-for-bit agreement with ggml's own
// dequantization on the golden file written by ggml (see
// ../shared/testdata/ggml/README.md), plus hand-computed blocks.
#include "formats/ggml/decode.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/half.h"
#include "formats/ggml/blocks.h"
#include "formats/ggml/ggml_type.h"
#include "tests/support/golden_test_util.h"

namespace lowbit {
namespace {

using namespace testing_golden;

constexpr int64_t kRows = 16;
constexpr int64_t kCols = 512;
constexpr int64_t kGoldenFileBytes = 658368;
constexpr int64_t kDeqBytes = kRows * kCols * 4;

// A `q.<name>` tensor and its `deq.<name>` (f32) in golden.gguf: absolute file
// offsets and the byte size of the quantized tensor, from the README's table.
struct GoldenCase {
  const char* name;  // ggml_type_name spelling
  int64_t q_offset;
  int64_t q_bytes;
  int64_t deq_offset;
};

constexpr GoldenCase kGoldenCases[] = {
    {"f16", 35136, 16384, 51520},     {"bf16", 84288, 16384, 100672},
    {"q8_0", 133440, 8704, 142144},   {"q4_0", 174912, 4608, 179520},
    {"q4_1", 212288, 5120, 217408},   {"q5_0", 250176, 5632, 255808},
    {"q5_1", 288576, 6144, 294720},   {"q2_K", 327488, 2688, 330176},
    {"q3_K", 362944, 3520, 366464},   {"q4_K", 399232, 4608, 403840},
    {"q5_K", 436608, 5632, 442240},   {"q6_K", 475008, 6720, 481728},
    {"iq4_nl", 514496, 4608, 519104}, {"iq4_xs", 551872, 4352, 556224},
    {"tq1_0", 588992, 1728, 590720},  {"tq2_0", 623488, 2112, 625600},
};

const uint8_t* At(const std::string& file, int64_t offset) {
  return reinterpret_cast<const uint8_t*>(file.data()) + offset;
}

class GgmlDecodeGoldenTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GgmlDecodeGoldenTest, MatchesGgmlBitForBit) {
  const GoldenCase& c = GetParam();
  const std::string& file = GoldenBytes();
  if (file.empty()) {
    GTEST_SKIP() << "golden file not found: " << GoldenPath()
                 << " (the shared test data folder is absent)";
  }
  ASSERT_EQ(static_cast<int64_t>(file.size()), kGoldenFileBytes)
      << GoldenPath();
  const GgmlTypeInfo* info = FindGgmlTypeInfoByName(c.name);
  ASSERT_NE(info, nullptr) << c.name;
  EXPECT_EQ(info->ggml_name, c.name);
  ASSERT_EQ(info->RowBytes(kCols) * kRows, c.q_bytes) << c.name;
  ASSERT_LE(c.deq_offset + kDeqBytes, kGoldenFileBytes);

  std::vector<float> out(kRows * kCols, std::nanf(""));
  const int64_t row_bytes = info->RowBytes(kCols);
  for (int64_t r = 0; r < kRows; ++r) {
    DequantizeGgmlRow(info->type, At(file, c.q_offset + r * row_bytes),
                      out.data() + r * kCols, kCols);
  }
  const uint8_t* expected = At(file, c.deq_offset);
  int mismatches = 0;
  for (int64_t i = 0; i < kRows * kCols; ++i) {
    uint32_t want;
    std::memcpy(&want, expected + 4 * i, 4);
    const uint32_t got = FloatBits(out[i]);
    if (got != want && ++mismatches <= 5) {
      ADD_FAILURE() << c.name << " row " << i / kCols << " col " << i % kCols
                    << ": got " << out[i] << " (0x" << std::hex << got
                    << "), ggml " << BitsToFloat(want) << " (0x" << want << ")"
                    << std::dec;
    }
  }
  EXPECT_EQ(mismatches, 0) << c.name;
  EXPECT_EQ(std::memcmp(out.data(), expected, kDeqBytes), 0) << c.name;
}

INSTANTIATE_TEST_SUITE_P(GgmlTypes, GgmlDecodeGoldenTest,
                         ::testing::ValuesIn(kGoldenCases),
                         [](const ::testing::TestParamInfo<GoldenCase>& p) {
                           return std::string(p.param.name);
                         });

// Decoding from an odd address gives the same values.
TEST(GgmlDecode, UnalignedInput) {
  const std::string& file = GoldenBytes();
  if (file.empty()) GTEST_SKIP() << "golden file not found: " << GoldenPath();
  const GoldenCase& c = kGoldenCases[11];  // q6_K
  ASSERT_STREQ(c.name, "q6_K");
  std::vector<uint8_t> shifted(c.q_bytes + 1);
  std::memcpy(shifted.data() + 1, At(file, c.q_offset), c.q_bytes);
  std::vector<float> a(kCols * kRows), b(kCols * kRows);
  DequantizeQ6_K(At(file, c.q_offset), a.data(), kCols * kRows);
  DequantizeQ6_K(shifted.data() + 1, b.data(), kCols * kRows);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0);
}

template <typename Block>
std::vector<uint8_t> Bytes(const Block& b) {
  std::vector<uint8_t> v(sizeof(Block));
  std::memcpy(v.data(), &b, sizeof(Block));
  return v;
}

TEST(GgmlDecode, Q8_0HandComputed) {
  BlockQ8_0 b{};
  b.d = 0x3800;  // 0.5
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 128);
  b.qs[31] = 127;
  const std::vector<uint8_t> bytes = Bytes(b);
  float y[32];
  DequantizeGgmlRow(GgmlType::kQ8_0, bytes.data(), y, 32);
  for (int j = 0; j < 31; ++j) EXPECT_EQ(y[j], (j * 8 - 128) * 0.5f) << j;
  EXPECT_EQ(y[0], -64.0f);
  EXPECT_EQ(y[16], 0.0f);
  EXPECT_EQ(y[31], 63.5f);
}

TEST(GgmlDecode, Q4_0HandComputed) {
  BlockQ4_0 b{};
  b.d = 0x3400;  // 0.25
  for (int j = 0; j < 16; ++j) {
    b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  }
  std::vector<uint8_t> bytes = Bytes(b);
  float y[32];
  DequantizeGgmlRow(GgmlType::kQ4_0, bytes.data(), y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 0.25f) << j;
    EXPECT_EQ(y[j + 16], (7 - j) * 0.25f) << j;
  }
  // Code 8 with a negative scale decodes to -0.0, as in ggml (0 * d).
  b.d = 0xB400;  // -0.25
  bytes = Bytes(b);
  DequantizeQ4_0(bytes.data(), y, 32);
  EXPECT_EQ(y[8], 0.0f);
  EXPECT_TRUE(std::signbit(y[8]));
  EXPECT_EQ(y[0], 2.0f);
}

TEST(GgmlDecode, Q4_KHandComputed) {
  BlockQ4_K b{};
  b.d = 0x3C00;     // 1.0
  b.dmin = 0x3800;  // 0.5
  // Sub-block 0: scale 3, min 2 (the j < 4 path).
  b.scales[0] = 3;
  b.scales[4] = 2;
  // Sub-block 5: scale 37 = 0b10'0101, min 49 = 0b11'0001 (the j >= 4 path):
  // low nibbles in scales[9], top bits in scales[1] and scales[5].
  b.scales[9] = 0x15;
  b.scales[1] = 0x80;
  b.scales[5] = 0xC0;
  uint8_t sc, mn;
  UnpackScaleMinK4(b.scales, 5, &sc, &mn);
  EXPECT_EQ(sc, 37);
  EXPECT_EQ(mn, 49);
  UnpackScaleMinK4(b.scales, 1, &sc, &mn);
  EXPECT_EQ(sc, 0);
  EXPECT_EQ(mn, 0);
  for (int l = 0; l < 32; ++l) {
    b.qs[l] = static_cast<uint8_t>(l & 15);              // sub-block 0
    b.qs[64 + l] = static_cast<uint8_t>((l & 15) << 4);  // sub-block 5
  }
  const std::vector<uint8_t> bytes = Bytes(b);
  std::vector<float> y(256);
  DequantizeGgmlRow(GgmlType::kQ4_K, bytes.data(), y.data(), 256);
  for (int l = 0; l < 32; ++l) {
    EXPECT_EQ(y[l], 3.0f * (l & 15) - 1.0f) << l;
    EXPECT_EQ(y[160 + l], 37.0f * (l & 15) - 24.5f) << l;
    EXPECT_EQ(y[128 + l], 0.0f) << l;  // sub-block 4: scale 0, min 0
  }
}

TEST(GgmlDecode, TQ1_0HandComputed) {
  BlockTQ1_0 b{};
  b.d = 0x4000;  // 2.0
  // Trits (1, 0, 2, 1, 0), first most significant: 102 in base 3, stored as
  // ceil(102 * 256 / 243) = 108.
  b.qs[0] = 108;
  b.qh[3] = 255;  // trits (2, 2, 2, 2)
  const std::vector<uint8_t> bytes = Bytes(b);
  std::vector<float> y(256);
  DequantizeGgmlRow(GgmlType::kTQ1_0, bytes.data(), y.data(), 256);
  std::vector<float> want(256, -2.0f);
  want[0] = 0.0f;
  want[32] = -2.0f;
  want[64] = 2.0f;
  want[96] = 0.0f;
  want[128] = -2.0f;
  for (int t = 0; t < 4; ++t) want[240 + 4 * t + 3] = 2.0f;
  EXPECT_EQ(y, want);
}

TEST(GgmlDecode, TQ2_0HandComputed) {
  BlockTQ2_0 b{};
  b.d = 0x3C00;                           // 1.0
  std::memset(b.qs, 0x55, sizeof(b.qs));  // every code 1: value 0
  b.qs[33] = 0x92;                        // codes 2, 0, 1, 2 (bits 0-1 first)
  const std::vector<uint8_t> bytes = Bytes(b);
  std::vector<float> y(256);
  DequantizeTQ2_0(bytes.data(), y.data(), 256);
  std::vector<float> want(256, 0.0f);
  want[128 + 1] = 1.0f;
  want[160 + 1] = -1.0f;
  want[224 + 1] = 1.0f;
  EXPECT_EQ(y, want);
}

TEST(GgmlDecode, PlainTypes) {
  const uint16_t f16[3] = {0x3C00, 0x8000, 0x0001};
  const uint16_t bf16[2] = {0x3F80, 0xC020};
  float y[3];
  DequantizeGgmlRow(GgmlType::kF16, reinterpret_cast<const uint8_t*>(f16), y,
                    3);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_TRUE(std::signbit(y[1]) && y[1] == 0.0f);
  EXPECT_EQ(y[2], 5.9604644775390625e-08f);
  DequantizeGgmlRow(GgmlType::kBF16, reinterpret_cast<const uint8_t*>(bf16), y,
                    2);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -2.5f);
  const float f32[2] = {1.5f, -3.0f};
  DequantizeGgmlRow(GgmlType::kF32, reinterpret_cast<const uint8_t*>(f32), y,
                    2);
  EXPECT_EQ(y[0], 1.5f);
  EXPECT_EQ(y[1], -3.0f);
}

TEST(GgmlDecodeDeathTest, RowLengthMustBeWholeBlocks) {
  const std::vector<uint8_t> bytes(sizeof(BlockQ4_0), 0);
  float y[32];
  EXPECT_DEATH(DequantizeGgmlRow(GgmlType::kQ4_0, bytes.data(), y, 31),
               "check failed");
}

}  // namespace
}  // namespace lowbit
