// Tests of the ggml type table: ids, names and block geometry as ggml has them
// (ggml.c type_traits, ggml-common.h), the codec flag, lookups, and the
// overflow-checked row and tensor byte sizes.
#include "formats/ggml/ggml_type.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "formats/ggml/decode.h"
#include "quant/ggml_quantize.h"

namespace lowbit {
namespace {

TEST(GgmlType, TableMatchesGgml) {
  struct Want {
    GgmlType type;
    uint32_t id;
    const char* ggml;
    const char* scheme;
    int64_t elements;
    int64_t bytes;
    bool codec;
  };
  using G = GgmlType;
  const Want want[] = {
      {G::kF32, 0, "f32", "f32", 1, 4, true},
      {G::kF16, 1, "f16", "f16", 1, 2, true},
      {G::kQ4_0, 2, "q4_0", "q4_0", 32, 18, true},
      {G::kQ4_1, 3, "q4_1", "q4_1", 32, 20, true},
      {G::kQ5_0, 6, "q5_0", "q5_0", 32, 22, true},
      {G::kQ5_1, 7, "q5_1", "q5_1", 32, 24, true},
      {G::kQ8_0, 8, "q8_0", "q8_0", 32, 34, true},
      {G::kQ8_1, 9, "q8_1", "q8_1", 32, 36, false},
      {G::kQ2_K, 10, "q2_K", "q2_k", 256, 84, true},
      {G::kQ3_K, 11, "q3_K", "q3_k", 256, 110, true},
      {G::kQ4_K, 12, "q4_K", "q4_k", 256, 144, true},
      {G::kQ5_K, 13, "q5_K", "q5_k", 256, 176, true},
      {G::kQ6_K, 14, "q6_K", "q6_k", 256, 210, true},
      {G::kQ8_K, 15, "q8_K", "q8_k", 256, 292, false},
      {G::kIQ2_XXS, 16, "iq2_xxs", "iq2_xxs", 256, 66, false},
      {G::kIQ2_XS, 17, "iq2_xs", "iq2_xs", 256, 74, false},
      {G::kIQ3_XXS, 18, "iq3_xxs", "iq3_xxs", 256, 98, false},
      {G::kIQ1_S, 19, "iq1_s", "iq1_s", 256, 50, false},
      {G::kIQ4_NL, 20, "iq4_nl", "iq4_nl", 32, 18, true},
      {G::kIQ3_S, 21, "iq3_s", "iq3_s", 256, 110, false},
      {G::kIQ2_S, 22, "iq2_s", "iq2_s", 256, 82, false},
      {G::kIQ4_XS, 23, "iq4_xs", "iq4_xs", 256, 136, true},
      {G::kI8, 24, "i8", "i8", 1, 1, false},
      {G::kI16, 25, "i16", "i16", 1, 2, false},
      {G::kI32, 26, "i32", "i32", 1, 4, false},
      {G::kI64, 27, "i64", "i64", 1, 8, false},
      {G::kF64, 28, "f64", "f64", 1, 8, false},
      {G::kIQ1_M, 29, "iq1_m", "iq1_m", 256, 56, false},
      {G::kBF16, 30, "bf16", "bf16", 1, 2, true},
      {G::kTQ1_0, 34, "tq1_0", "tq1_0", 256, 54, true},
      {G::kTQ2_0, 35, "tq2_0", "tq2_0", 256, 66, true},
      {G::kMXFP4, 39, "mxfp4", "mxfp4", 32, 17, false},
  };
  ASSERT_EQ(AllGgmlTypeInfos().size(), std::size(want));
  size_t k = 0;
  for (const Want& w : want) {
    EXPECT_EQ(static_cast<uint32_t>(w.type), w.id) << w.ggml;
    const GgmlTypeInfo* t = FindGgmlTypeInfoById(w.id);
    ASSERT_NE(t, nullptr) << w.id;
    EXPECT_EQ(t, &AllGgmlTypeInfos()[k++]) << w.ggml;  // ascending id order
    EXPECT_EQ(t->type, w.type);
    EXPECT_EQ(t->ggml_name, w.ggml);
    EXPECT_EQ(t->scheme_name, w.scheme);
    EXPECT_EQ(t->block_elements, w.elements) << w.ggml;
    EXPECT_EQ(t->block_bytes, w.bytes) << w.ggml;
    EXPECT_EQ(t->codec, w.codec) << w.ggml;
    EXPECT_EQ(CanEncodeGgml(w.type), w.codec) << w.ggml;
    EXPECT_EQ(FindGgmlTypeInfoByName(w.ggml), t);
    EXPECT_EQ(FindGgmlTypeInfoByName(w.scheme), t);
    EXPECT_EQ(&GetGgmlTypeInfo(t->type), t);
  }
  for (uint32_t removed :
       {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 40u, 99u, 1000u}) {
    EXPECT_EQ(FindGgmlTypeInfoById(removed), nullptr) << removed;
    EXPECT_FALSE(CanEncodeGgml(static_cast<GgmlType>(removed))) << removed;
  }
  EXPECT_EQ(FindGgmlTypeInfoByName("Q4_K")->type, GgmlType::kQ4_K);
  EXPECT_EQ(FindGgmlTypeInfoByName("IQ4_XS")->type, GgmlType::kIQ4_XS);
  EXPECT_EQ(FindGgmlTypeInfoByName("IQ2_XXS")->type, GgmlType::kIQ2_XXS);
  EXPECT_EQ(FindGgmlTypeInfoByName("MXFP4")->type, GgmlType::kMXFP4);
  EXPECT_EQ(FindGgmlTypeInfoByName("q4_"), nullptr);
  EXPECT_EQ(FindGgmlTypeInfoByName("q4_K "), nullptr);
  EXPECT_EQ(FindGgmlTypeInfoByName(""), nullptr);
  EXPECT_EQ(GetGgmlTypeInfo(GgmlType::kQ6_K).RowBytes(512), 420);
}

TEST(GgmlType, AllGgmlTypeNamesListsCodecTypes) {
  EXPECT_EQ(AllGgmlTypeNames(),
            "f32, f16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, "
            "q6_k, iq4_nl, iq4_xs, bf16, tq1_0, tq2_0");
}

TEST(GgmlType, RowAndTensorBytes) {
  EXPECT_EQ(*GgmlRowBytes(GgmlType::kQ6_K, 512), 420u);
  EXPECT_EQ(*GgmlRowBytes(static_cast<uint32_t>(GgmlType::kQ6_K), 512), 420u);
  EXPECT_EQ(*GgmlRowBytes(GgmlType::kMXFP4, 64), 34u);
  const std::vector<uint64_t> ne = {512, 16};
  EXPECT_EQ(*GgmlTensorBytes(GgmlType::kTQ1_0, ne), 1728u);
  const std::vector<uint64_t> empty = {64, 0};
  EXPECT_EQ(*GgmlTensorBytes(GgmlType::kQ4_0, empty), 0u);
  const std::vector<uint64_t> scalar = {};
  EXPECT_EQ(*GgmlTensorBytes(GgmlType::kF64, scalar), 8u);
  const std::vector<uint64_t> odd = {33};
  const auto bad = GgmlTensorBytes(GgmlType::kQ4_0, odd);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("q4_0 block size 32"),
            std::string::npos)
      << bad.status().message();
  const std::vector<uint64_t> huge = {uint64_t{1} << 32, uint64_t{1} << 32};
  EXPECT_FALSE(GgmlTensorBytes(0, huge).ok());
  const std::vector<uint64_t> wide_row = {uint64_t{1} << 62};
  EXPECT_FALSE(GgmlRowBytes(GgmlType::kF32, wide_row[0]).ok());
  const auto unknown = GgmlTensorBytes(4, ne);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown ggml type 4"),
            std::string::npos);
}

}  // namespace
}  // namespace lowbit
