// Tests for the GGUF reader and writer: the ggml-written golden files (every
// key, value and tensor), byte-identical rewrites of them, and synthetic round
// trips of every value type, nested arrays, alignment 64 and version 2.
#include "io/gguf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "formats/ggml/ggml_type.h"
#include "tests/support/gguf_test_util.h"

namespace lowbit {
namespace {

using namespace gguf_testing;
using V = GgufValue;
using T = GgufType;

std::string GoldenDir() {
  return std::string(LOWBIT_SHARED_DIR) + "/testdata/ggml";
}

#define SKIP_WITHOUT_GOLDEN()                                              \
  if (!std::filesystem::exists(GoldenDir() + "/golden.gguf")) {            \
    GTEST_SKIP() << "shared test data not found at " << GoldenDir()        \
                 << " (LOWBIT_SHARED_DIR); skipping the golden GGUF test"; \
  }

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t k = 0; k + 1 < hex.size(); k += 2) {
    out.push_back(static_cast<char>(
        std::stoi(std::string(hex.substr(k, 2)), nullptr, 16)));
  }
  return out;
}

struct WantTensor {
  std::string name;
  GgmlType type;
  std::vector<uint64_t> ne;
  uint64_t rel;
  uint64_t abs;
  uint64_t nbytes;
  std::string sha256;
};

void ExpectTensors(const GgufFile& f, const std::vector<WantTensor>& want) {
  ASSERT_EQ(f.tensors().size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    const GgufTensorInfo& t = f.tensors()[k];
    const WantTensor& w = want[k];
    SCOPED_TRACE(w.name);
    EXPECT_EQ(t.name, w.name);
    EXPECT_EQ(t.ggml_type, static_cast<uint32_t>(w.type));
    EXPECT_EQ(t.ne, w.ne);
    EXPECT_EQ(t.offset, w.rel);
    EXPECT_EQ(f.data_offset() + t.offset, w.abs);
    EXPECT_EQ(t.nbytes, w.nbytes);
    EXPECT_EQ(Sha256Hex(t.data, t.nbytes), w.sha256);
    EXPECT_EQ(f.FindTensor(w.name), &t);
  }
}

// ---------------------------------------------------------------------------------------
// The golden files.

TEST(GgufGoldenTest, GoldenMetadata) {
  SKIP_WITHOUT_GOLDEN();
  const std::string path = GoldenDir() + "/golden.gguf";
  EXPECT_EQ(Sha256Of(ReadFile(path)),
            "7fc237d95b4d304542512842aaeba7d593579b110495936fc1ca016a75f47e2c");
  auto r = GgufFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GgufFile& f = **r;
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.file_size(), 658368u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.data_offset(), 2240u);
  EXPECT_EQ(f.Find("general.alignment"), nullptr);

  const std::string utf8 = FromHex(
      "68c3a96c6c6f2077c3b6726c6420e29c9320e697a5e69cace8aa9e20f09fa699");
  ASSERT_EQ(utf8.size(), 32u);
  EXPECT_EQ(utf8,
            "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 "
            "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\xa6\x99");
  const std::vector<GgufKV> want = {
      {"general.architecture", V::String("golden")},
      {"test.u8", V::U8(250)},
      {"test.i8", V::I8(-100)},
      {"test.u16", V::U16(60000)},
      {"test.i16", V::I16(-30000)},
      {"test.u32", V::U32(4000000000u)},
      {"test.i32", V::I32(-2000000000)},
      {"test.u64", V::U64(18000000000000000000ull)},
      {"test.i64", V::I64(-9000000000000000000ll)},
      {"test.f32", V::F32(std::bit_cast<float>(0x40490FDBu))},
      {"test.f64", V::F64(std::bit_cast<double>(0x4005BF0A8B145769ull))},
      {"test.bool", V::Bool(true)},
      {"test.string", V::String(utf8)},
      {"test.arr_i32",
       V::Array(T::kI32, {V::I32(1), V::I32(-2), V::I32(3),
                          V::I32(std::numeric_limits<int32_t>::min()),
                          V::I32(std::numeric_limits<int32_t>::max())})},
      {"test.arr_str",
       V::Array(T::kString, {V::String("alpha"), V::String(""),
                             V::String("\xce\xb2"
                                       "eta"),
                             V::String("\xe6\x97\xa5\xe6\x9c\xac")})},
      {"test.arr_f32", V::Array(T::kF32, {V::F32(0.0f), V::F32(-1.5f),
                                          V::F32(3.25f), V::F32(1e-30f)})},
  };
  ASSERT_EQ(f.kvs().size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(f.kvs()[k], want[k]) << "KV #" << k;
    EXPECT_EQ(f.Find(want[k].key), &f.kvs()[k].value);
  }
  // The facts the README spells out, checked field by field as well.
  EXPECT_EQ(f.Find("test.u64")->u, 18000000000000000000ull);
  EXPECT_GT(f.Find("test.u64")->u, uint64_t{1} << 63);
  EXPECT_EQ(std::bit_cast<uint32_t>(f.Find("test.f32")->f32), 0x40490FDBu);
  EXPECT_EQ(f.Find("test.f32")->f32, 3.14159265f);
  EXPECT_EQ(f.Find("test.f64")->f64, 2.718281828459045);
  EXPECT_EQ(f.Find("test.string")->s.size(), 32u);
  const GgufValue& strs = *f.Find("test.arr_str");
  EXPECT_EQ(strs.elem_type, T::kString);
  ASSERT_EQ(strs.array.size(), 4u);
  EXPECT_TRUE(strs.array[1].s.empty());
  EXPECT_EQ(strs.array[2].s.size(), 5u);
  EXPECT_EQ(strs.array[3].s.size(), 6u);
  EXPECT_EQ(std::bit_cast<uint32_t>(f.Find("test.arr_f32")->array[3].f32),
            std::bit_cast<uint32_t>(1e-30f));
  EXPECT_EQ(f.Find("missing"), nullptr);
}

TEST(GgufGoldenTest, GoldenTensors) {
  SKIP_WITHOUT_GOLDEN();
  auto r = GgufFile::Open(GoldenDir() + "/golden.gguf");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GgufFile& f = **r;
  const std::vector<WantTensor> want = {
      {"src",
       GgmlType::kF32,
       {512, 16},
       0,
       2240,
       32768,
       "90a2aae10cdfc2cbf7b7692b9c9317601766cace2973ff67a68f0c21aed325ab"},
      {"shape3d",
       GgmlType::kF32,
       {4, 3, 2},
       32768,
       35008,
       96,
       "45a99655901702d55ab6284a18aed6a5e16677181d16c7a7517b68c2ae2c0c7a"},
      {"bias16",
       GgmlType::kF16,
       {7},
       32864,
       35104,
       14,
       "c7dfd4bb4bd70df9dc24410e13d7c64df9fb08e9e0c32ba4bf01f41c4f23715f"},
      {"q.f16",
       GgmlType::kF16,
       {512, 16},
       32896,
       35136,
       16384,
       "8ca40eb22eb7038b66613e1965c90ff79ec8df3caf970931b34a27641330e3b9"},
      {"deq.f16",
       GgmlType::kF32,
       {512, 16},
       49280,
       51520,
       32768,
       "f3dbdc0fd9f55e5a5fb6127342c2061d3b30dbfb7012932d5eec3c313d450727"},
      {"q.bf16",
       GgmlType::kBF16,
       {512, 16},
       82048,
       84288,
       16384,
       "e49ed19cef9441d233688a8803f0ee363db6d46624a83d1cae85ff133605a3a2"},
      {"deq.bf16",
       GgmlType::kF32,
       {512, 16},
       98432,
       100672,
       32768,
       "c60aa39d28b9799dab5b4e0e357b35647f0bd2268a81757f4fcac587f363e96c"},
      {"q.q8_0",
       GgmlType::kQ8_0,
       {512, 16},
       131200,
       133440,
       8704,
       "3fe482669821bb750c7d522c33530b94bec14e6c29eb594e618883f1dfb81e26"},
      {"deq.q8_0",
       GgmlType::kF32,
       {512, 16},
       139904,
       142144,
       32768,
       "875474ba46e9a46be170c93b946620166e0b1a4131b37e34c21eee3cc170747f"},
      {"q.q4_0",
       GgmlType::kQ4_0,
       {512, 16},
       172672,
       174912,
       4608,
       "771505b3bca8623c4daeffd84d43f3c58c18988783cfd7be70b2b3183106528b"},
      {"deq.q4_0",
       GgmlType::kF32,
       {512, 16},
       177280,
       179520,
       32768,
       "73bb5f17ffe2cba5f7f59e51d6e234ea7ba4b20d9943e092a3350bf8d098908c"},
      {"q.q4_1",
       GgmlType::kQ4_1,
       {512, 16},
       210048,
       212288,
       5120,
       "51845447deafe84a742f84b843891386b33bdf806d5137196798e219063769ad"},
      {"deq.q4_1",
       GgmlType::kF32,
       {512, 16},
       215168,
       217408,
       32768,
       "51e51394db2015ca4c9bda6a32292c220812e9b7265662fe1a4001f4c15d0cd2"},
      {"q.q5_0",
       GgmlType::kQ5_0,
       {512, 16},
       247936,
       250176,
       5632,
       "da9821f9ca0696ede7a86d3fbfdebc3420031ed7416a8680e0547cadcc97fe2a"},
      {"deq.q5_0",
       GgmlType::kF32,
       {512, 16},
       253568,
       255808,
       32768,
       "e05291831beecdd687a0a3e8886007e7cd5b08c8d2e3c7392b5f7e5ca401d1c1"},
      {"q.q5_1",
       GgmlType::kQ5_1,
       {512, 16},
       286336,
       288576,
       6144,
       "4bafd7380326f120992228c1fcc35a3d03f0ee82d978a1607fd8942b9f67453e"},
      {"deq.q5_1",
       GgmlType::kF32,
       {512, 16},
       292480,
       294720,
       32768,
       "d6bdea5e9e704643cf202bf7cc678cc0c5349df22525a75cbd0d85ad78509556"},
      {"q.q2_K",
       GgmlType::kQ2_K,
       {512, 16},
       325248,
       327488,
       2688,
       "e258481f79a18721536307b0fc928ff3841b6222499dd6c9b5069575cbbe5204"},
      {"deq.q2_K",
       GgmlType::kF32,
       {512, 16},
       327936,
       330176,
       32768,
       "147c5db828a670dd5b3bdc9f6a4c87d6d39d80089d8dc7239583633deb9edc65"},
      {"q.q3_K",
       GgmlType::kQ3_K,
       {512, 16},
       360704,
       362944,
       3520,
       "d289e5d407f9abef3d5d4b37af060ea5f3fb64fecb4792f63170abf8febd1167"},
      {"deq.q3_K",
       GgmlType::kF32,
       {512, 16},
       364224,
       366464,
       32768,
       "088b904cb55a0e67071976e0966ce287be3f4ac695a71f8ede447696c8ee4fc6"},
      {"q.q4_K",
       GgmlType::kQ4_K,
       {512, 16},
       396992,
       399232,
       4608,
       "91330a3536bbf550ed1e57c973ec521dcf4c89267bdf26bd72341c27de7165af"},
      {"deq.q4_K",
       GgmlType::kF32,
       {512, 16},
       401600,
       403840,
       32768,
       "72bfd78b3793ffb438860748893a52e6552bcbc877c5a5cbf6e8a1361981ef45"},
      {"q.q5_K",
       GgmlType::kQ5_K,
       {512, 16},
       434368,
       436608,
       5632,
       "8716947cce03ad4ae27ba9c77449030d9f0c6ecf7f9bda74f4a133eebf154958"},
      {"deq.q5_K",
       GgmlType::kF32,
       {512, 16},
       440000,
       442240,
       32768,
       "b8aa0665bec76437fc9bbbfcb9b473c1b029dd92fb142c8d3f5b61e95717bd2c"},
      {"q.q6_K",
       GgmlType::kQ6_K,
       {512, 16},
       472768,
       475008,
       6720,
       "3c9efaea2a49c06432190fd6f788ecf0ad4f59012167f390b81855310809f746"},
      {"deq.q6_K",
       GgmlType::kF32,
       {512, 16},
       479488,
       481728,
       32768,
       "0c42445bd198891faf135356b327250a04c5f091457bfb62349104e85b605cb6"},
      {"q.iq4_nl",
       GgmlType::kIQ4_NL,
       {512, 16},
       512256,
       514496,
       4608,
       "570a2d2018fedee0ec0a01030eaf68934646e3c48885873bd74fc4314c82c129"},
      {"deq.iq4_nl",
       GgmlType::kF32,
       {512, 16},
       516864,
       519104,
       32768,
       "28b30e72dd7dc7a16e1b360786aaf58a941020b381096ac0afd242c6c7bc333e"},
      {"q.iq4_xs",
       GgmlType::kIQ4_XS,
       {512, 16},
       549632,
       551872,
       4352,
       "2753961cb22f115ed7f49ecfaa4108dbd9f506db072791be07f970a97bae2359"},
      {"deq.iq4_xs",
       GgmlType::kF32,
       {512, 16},
       553984,
       556224,
       32768,
       "2100d90c5ee909550086b9335e8c6f022af84841ca981b5dca5a928481e5635a"},
      {"q.tq1_0",
       GgmlType::kTQ1_0,
       {512, 16},
       586752,
       588992,
       1728,
       "e54b83e6b1f1bb77cd83e2be39fbec93dd9ccedd7266b7ea526b844cdf6f5490"},
      {"deq.tq1_0",
       GgmlType::kF32,
       {512, 16},
       588480,
       590720,
       32768,
       "8da8099fe6a4a9ec39fef457d56561a98822c8a865e5b0ebd227d67926cb35fd"},
      {"q.tq2_0",
       GgmlType::kTQ2_0,
       {512, 16},
       621248,
       623488,
       2112,
       "75d813e3cd5143fb47082cdbada0ef858f3788da0cb23cb5e8e78e25578e8f92"},
      {"deq.tq2_0",
       GgmlType::kF32,
       {512, 16},
       623360,
       625600,
       32768,
       "8da8099fe6a4a9ec39fef457d56561a98822c8a865e5b0ebd227d67926cb35fd"},
  };
  ExpectTensors(f, want);
  EXPECT_EQ(f.FindTensor("nope"), nullptr);
  // The last tensor ends at EOF; padding is zero.
  const GgufTensorInfo& last = f.tensors().back();
  EXPECT_EQ(f.data_offset() + last.offset + last.nbytes, f.file_size());
  const std::string bytes = ReadFile(f.path());
  for (size_t k = 1; k < f.tensors().size(); ++k) {
    const GgufTensorInfo& prev = f.tensors()[k - 1];
    for (uint64_t p = prev.offset + prev.nbytes; p < f.tensors()[k].offset;
         ++p) {
      ASSERT_EQ(bytes[f.data_offset() + p], 0) << "padding at " << p;
    }
  }
  // Spot values: bias16's half bits and the first value of src.
  const GgufTensorInfo* bias = f.FindTensor("bias16");
  ASSERT_NE(bias, nullptr);
  const uint16_t halves[] = {0x3C00, 0xC100, 0x2E66, 0x0000,
                             0x7BFF, 0x0400, 0x0001};
  for (int k = 0; k < 7; ++k) {
    EXPECT_EQ(bias->data[2 * k] | (bias->data[2 * k + 1] << 8), halves[k]);
  }
  float src0 = 0;
  std::memcpy(&src0, f.FindTensor("src")->data, 4);
  EXPECT_EQ(src0, 0.851322293f);
}

TEST(GgufGoldenTest, Align64Facts) {
  SKIP_WITHOUT_GOLDEN();
  const std::string path = GoldenDir() + "/golden_align64.gguf";
  EXPECT_EQ(Sha256Of(ReadFile(path)),
            "5810b75c97395b0f4d90452c22dd000dedd103252b20ceba37c180214dbf62fd");
  auto r = GgufFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const GgufFile& f = **r;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset(), 256u);
  EXPECT_EQ(f.file_size(), 448u);
  const std::vector<GgufKV> want = {
      {"general.architecture", V::String("golden")},
      {"general.alignment", V::U32(64)},
  };
  EXPECT_EQ(f.kvs(), want);
  ExpectTensors(
      f,
      {{"a64.q8_0",
        GgmlType::kQ8_0,
        {32, 2},
        0,
        256,
        68,
        "d3d1173fc8b6d0fc03a548094f2090681f23a90a136cebbe0d06b8d4d75ad47e"},
       {"a64.f32",
        GgmlType::kF32,
        {5, 3},
        128,
        384,
        60,
        "428a8f28da3c14a9cdb4ac8bf4934f9d7da0fa7ecebd228a990ce41b231256f0"}});
  // The metadata ends at 198; 199..255, 324..383 and 444..447 are zero.
  const std::string bytes = ReadFile(path);
  for (size_t p : {198u, 255u, 324u, 383u, 444u, 447u}) {
    EXPECT_EQ(bytes[p], 0) << p;
  }
  for (size_t p = 198; p < 256; ++p) ASSERT_EQ(bytes[p], 0) << p;
  float x[15];
  std::memcpy(x, f.FindTensor("a64.f32")->data, sizeof(x));
  for (int k = 0; k < 15; ++k) EXPECT_EQ(x[k], k * 0.25f - 1) << k;
}

// Reads `in`, writes it back through GgufWriter with the same metadata and
// tensors, and returns the output path.
std::string Rewrite(const std::string& in, const std::string& name) {
  auto r = GgufFile::Open(in);
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok()) return "";
  const GgufFile& f = **r;
  std::vector<GgufTensorDesc> descs;
  for (const GgufTensorInfo& t : f.tensors()) {
    descs.push_back({t.name, t.ne, t.ggml_type});
  }
  const std::string out = TempPath(name);
  auto w = GgufWriter::Create(out, f.kvs(), descs);
  EXPECT_TRUE(w.ok()) << w.status().message();
  if (!w.ok()) return "";
  EXPECT_EQ((*w)->alignment(), f.alignment());
  EXPECT_EQ((*w)->data_offset(), f.data_offset());
  for (const GgufTensorInfo& t : f.tensors()) {
    const Status st = (*w)->Write(t.name, t.data, t.nbytes);
    EXPECT_TRUE(st.ok()) << st.message();
  }
  const Status st = (*w)->Commit();
  EXPECT_TRUE(st.ok()) << st.message();
  return out;
}

TEST(GgufGoldenTest, RewriteIsByteIdentical) {
  SKIP_WITHOUT_GOLDEN();
  for (const char* name : {"golden.gguf", "golden_align64.gguf"}) {
    SCOPED_TRACE(name);
    const std::string in = GoldenDir() + "/" + name;
    const std::string out = Rewrite(in, std::string("rewrite_") + name);
    ASSERT_FALSE(out.empty());
    const std::string a = ReadFile(in);
    const std::string b = ReadFile(out);
    EXPECT_EQ(a.size(), b.size());
    EXPECT_TRUE(a == b)
        << "first difference at byte "
        << std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first -
               a.begin();
    std::filesystem::remove(out);
  }
}

// ---------------------------------------------------------------------------------------
// Synthetic round trips.

std::vector<GgufKV> EveryTypeKvs() {
  using L64 = std::numeric_limits<int64_t>;
  return {
      {"general.architecture", V::String("synthetic")},
      {"s.u8", V::U8(255)},
      {"s.i8", V::I8(-128)},
      {"s.u16", V::U16(65535)},
      {"s.i16", V::I16(-32768)},
      {"s.u32", V::U32(4294967295u)},
      {"s.i32", V::I32(std::numeric_limits<int32_t>::min())},
      {"s.u64", V::U64(std::numeric_limits<uint64_t>::max())},
      {"s.i64", V::I64(L64::min())},
      {"s.f32.nan", V::F32(std::bit_cast<float>(0x7fc00001u))},
      {"s.f32.neg0", V::F32(-0.0f)},
      {"s.f32.inf", V::F32(-std::numeric_limits<float>::infinity())},
      {"s.f32.denorm", V::F32(std::bit_cast<float>(1u))},
      {"s.f64.nan", V::F64(std::bit_cast<double>(0x7ff8000000000123ull))},
      {"s.f64", V::F64(-1e300)},
      {"s.bool", V::Bool(false)},
      {"s.string", V::String(std::string("nul\0byte \xff\xfe", 12))},
      {"s.empty", V::String("")},
      {"a.u8", V::Array(T::kU8, {V::U8(0), V::U8(255)})},
      {"a.i8", V::Array(T::kI8, {V::I8(-1), V::I8(127)})},
      {"a.u16", V::Array(T::kU16, {V::U16(1), V::U16(65535)})},
      {"a.i16", V::Array(T::kI16, {V::I16(-2), V::I16(32767)})},
      {"a.u32", V::Array(T::kU32, {V::U32(3)})},
      {"a.i32", V::Array(T::kI32, {V::I32(-4), V::I32(5)})},
      {"a.u64", V::Array(T::kU64, {V::U64(0), V::U64(~uint64_t{0})})},
      {"a.i64", V::Array(T::kI64, {V::I64(L64::min()), V::I64(L64::max())})},
      {"a.f32", V::Array(T::kF32, {V::F32(1.5f), V::F32(-0.0f)})},
      {"a.f64", V::Array(T::kF64, {V::F64(0.1), V::F64(-2.0)})},
      {"a.bool", V::Array(T::kBool, {V::Bool(true), V::Bool(false)})},
      {"a.string", V::Array(T::kString, {V::String(""), V::String("x")})},
      {"a.empty", V::Array(T::kU64, {})},
      {"a.nested",
       V::Array(T::kArray,
                {V::Array(T::kI32, {V::I32(1), V::I32(2)}),
                 V::Array(T::kI32, {}), V::Array(T::kI32, {V::I32(-3)})})},
      {"a.nested_str",
       V::Array(T::kArray, {V::Array(T::kString, {V::String("a")}),
                            V::Array(T::kString, {})})},
      {"a.empty_of_arrays", V::Array(T::kArray, {})},
      {"a.deepest", Nested(kGgufMaxArrayDepth)},
  };
}

struct SynthTensor {
  GgufTensorDesc desc;
  std::string bytes;
};

std::vector<SynthTensor> SynthTensors() {
  auto data = [](size_t n, int seed) {
    std::string s(n, '\0');
    for (size_t k = 0; k < n; ++k) s[k] = static_cast<char>(k * 31 + seed);
    return s;
  };
  const auto id = [](GgmlType t) { return static_cast<uint32_t>(t); };
  return {
      {{"w.q4_0", {64, 3}, id(GgmlType::kQ4_0)}, data(108, 1)},
      {{"w.f32", {5}, id(GgmlType::kF32)}, data(20, 2)},
      {{"w.q6_K", {256, 1, 1, 2}, id(GgmlType::kQ6_K)}, data(420, 3)},
      {{"empty", {8, 0}, id(GgmlType::kF16)}, ""},
      {{"w.i8", {3}, id(GgmlType::kI8)}, data(3, 4)},
  };
}

// Writes the synthetic file (every value type, the tensors above) to `path`
// with `alignment` passed to the writer.
void WriteSynthetic(const std::string& path, uint64_t alignment) {
  std::vector<GgufTensorDesc> descs;
  for (const SynthTensor& t : SynthTensors()) descs.push_back(t.desc);
  auto w = GgufWriter::Create(path, EveryTypeKvs(), descs, alignment);
  ASSERT_TRUE(w.ok()) << w.status().message();
  for (const SynthTensor& t : SynthTensors()) {
    const Status st = (*w)->Write(t.desc.name, t.bytes.data(), t.bytes.size());
    ASSERT_TRUE(st.ok()) << st.message();
  }
  const Status st = (*w)->Commit();
  ASSERT_TRUE(st.ok()) << st.message();
}

void ExpectSynthetic(const GgufFile& f, uint64_t alignment) {
  std::vector<GgufKV> want = EveryTypeKvs();
  if (alignment != 32) {
    want.push_back(
        {"general.alignment", V::U32(static_cast<uint32_t>(alignment))});
  }
  EXPECT_EQ(f.kvs(), want);
  EXPECT_EQ(f.alignment(), alignment);
  EXPECT_EQ(f.data_offset() % alignment, 0u);
  const std::vector<SynthTensor> ts = SynthTensors();
  ASSERT_EQ(f.tensors().size(), ts.size());
  const std::string bytes = ReadFile(f.path());
  uint64_t expect_offset = 0;
  for (size_t k = 0; k < ts.size(); ++k) {
    const GgufTensorInfo& t = f.tensors()[k];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, ts[k].desc.name);
    EXPECT_EQ(t.ne, ts[k].desc.ne);
    EXPECT_EQ(t.ggml_type, ts[k].desc.ggml_type);
    EXPECT_EQ(t.offset, expect_offset);
    ASSERT_EQ(t.nbytes, ts[k].bytes.size());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(t.data), t.nbytes),
              ts[k].bytes);
    const uint64_t padded = (t.nbytes + alignment - 1) / alignment * alignment;
    for (uint64_t p = t.nbytes; p < padded; ++p) {
      ASSERT_EQ(bytes[f.data_offset() + t.offset + p], 0);
    }
    expect_offset += padded;
  }
  EXPECT_EQ(f.file_size(), f.data_offset() + expect_offset);
}

TEST(GgufRoundTripTest, EveryValueTypeAlign32And64) {
  for (uint64_t alignment : {32u, 64u}) {
    SCOPED_TRACE(alignment);
    const std::string path =
        TempPath("every_type_" + std::to_string(alignment));
    WriteSynthetic(path, alignment);
    auto r = GgufFile::Open(path);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ((*r)->version(), 3u);
    ExpectSynthetic(**r, alignment);
    const GgufValue* nan = (*r)->Find("s.f32.nan");
    ASSERT_NE(nan, nullptr);
    EXPECT_EQ(std::bit_cast<uint32_t>(nan->f32), 0x7fc00001u);
    std::filesystem::remove(path);
  }
}

TEST(GgufRoundTripTest, ReadsVersion2) {
  const std::string v3 = TempPath("v3_source");
  WriteSynthetic(v3, 64);
  std::string bytes = ReadFile(v3);
  ASSERT_EQ(bytes[4], 3);
  bytes[4] = 2;  // v2 and v3 share the little-endian layout
  const std::string v2 = TempPath("v2");
  WriteFile(v2, bytes);
  auto r = GgufFile::Open(v2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->version(), 2u);
  ExpectSynthetic(**r, 64);
  std::filesystem::remove(v3);
  std::filesystem::remove(v2);
}

TEST(GgufRoundTripTest, AlignmentFromMetadataAndNoTensors) {
  const std::string path = TempPath("meta_only");
  {
    auto w = GgufWriter::Create(
        path, {{"general.alignment", V::U32(128)}, {"k", V::Bool(true)}}, {});
    ASSERT_TRUE(w.ok()) << w.status().message();
    EXPECT_EQ((*w)->alignment(), 128u);
    EXPECT_EQ((*w)->data_offset(), 128u);
    ASSERT_TRUE((*w)->Commit().ok());
  }
  auto r = GgufFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->alignment(), 128u);
  EXPECT_EQ((*r)->data_offset(), 128u);
  EXPECT_EQ((*r)->file_size(), 128u);  // header padded, as ggml writes it
  EXPECT_TRUE((*r)->tensors().empty());
  ASSERT_EQ((*r)->kvs().size(), 2u);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace lowbit
