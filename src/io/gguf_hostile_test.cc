// Malformed and hostile GGUF files, built byte by byte: each must be rejected
// with a one-line BadInput "PATH: ..." message, never a crash or an absurd
// allocation.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "tests/support/gguf_test_util.h"

namespace lowbit {
namespace {

using namespace gguf_testing;

constexpr uint32_t kU32 = 4;
constexpr uint32_t kI32 = 5;
constexpr uint32_t kBool = 7;
constexpr uint32_t kString = 8;
constexpr uint32_t kArray = 9;
constexpr uint32_t kU64 = 10;
constexpr uint32_t kF32 = 0;  // ggml types
constexpr uint32_t kQ4_0 = 2;
constexpr uint32_t kQ8_0 = 8;
constexpr uint64_t kMaxU64 = ~uint64_t{0};

// Writes `bytes`, opens them, and expects BadInput whose single-line message
// starts with the path and contains one of `phrases`.
void ExpectRejectedAny(const std::string& name, const std::string& bytes,
                       std::initializer_list<std::string> phrases) {
  SCOPED_TRACE(name);
  const std::string path = TempPath("hostile_" + name);
  WriteFile(path, bytes);
  auto r = GgufFile::Open(path);
  ASSERT_FALSE(r.ok()) << "accepted";
  EXPECT_EQ(r.status().code(), StatusCode::kBadInput) << r.status().message();
  const std::string& msg = r.status().message();
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  bool found = false;
  for (const std::string& p : phrases)
    found |= msg.find(p) != std::string::npos;
  EXPECT_TRUE(found) << "message: " << msg << "\nwanted: " << *phrases.begin();
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  std::filesystem::remove(path);
}

void ExpectRejected(const std::string& name, const std::string& bytes,
                    const std::string& phrase) {
  ExpectRejectedAny(name, bytes, {phrase});
}

void ExpectAccepted(const std::string& name, const std::string& bytes) {
  const std::string path = TempPath("accepted_" + name);
  WriteFile(path, bytes);
  auto r = GgufFile::Open(path);
  EXPECT_TRUE(r.ok()) << name << ": " << r.status().message();
  std::filesystem::remove(path);
}

// Header, the given KV and tensor-info bytes, zero padding to `align`, then
// `data_bytes` bytes of data.
std::string Make(uint64_t n_kv, const Bytes& kvs, uint64_t n_tensors,
                 const Bytes& infos, size_t data_bytes, uint64_t align = 32) {
  Bytes b;
  b.Header(n_tensors, n_kv).Raw(kvs.str()).Raw(infos.str()).Pad(align);
  return b.Fill(data_bytes, 'd').str();
}

// One F32 tensor "t" of 8 elements (32 bytes) at offset 0, after `kvs`.
std::string OneTensor(uint64_t n_kv, const Bytes& kvs) {
  return Make(n_kv, kvs, 1, Bytes().Tensor("t", {8}, kF32, 0), 32);
}

// A KV whose value is an array of `elem` with `count` and raw `payload`.
Bytes ArrayKv(const std::string& key, uint32_t elem, uint64_t count,
              const std::string& payload = "") {
  return Bytes().Str(key).U32(kArray).U32(elem).U64(count).Raw(payload);
}

// A valid file with a string array, a UINT32, a Q8_0 tensor (34 bytes, padded
// to 64) and an F32 tensor that ends exactly at the end of the file.
std::string Baseline() {
  Bytes kvs;
  kvs.Raw(ArrayKv("tokenizer.tokens", kString, 2).str()).Str("ab").Str("");
  kvs.Str("general.quantization_version").U32(kU32).U32(2);
  Bytes infos;
  infos.Tensor("q", {32}, kQ8_0, 0).Tensor("f", {8}, kF32, 64);
  return Make(2, kvs, 2, infos, 96);
}

TEST(GgufHostileTest, BaselineIsValid) {
  ExpectAccepted("baseline", Baseline());
  ExpectAccepted("one_tensor", OneTensor(0, Bytes()));
}

TEST(GgufHostileTest, EveryTruncationIsRejected) {
  const std::string full = Baseline();
  for (size_t n = 0; n < full.size(); ++n) {
    ExpectRejectedAny(
        "cut" + std::to_string(n), full.substr(0, n),
        {"truncated", "bytes that remain", "past the end", "too short"});
  }
}

TEST(GgufHostileTest, MagicAndVersion) {
  ExpectRejected("empty", "", "too short for the GGUF magic");
  ExpectRejected("magic", Bytes().Raw("GGML").U32(3).U64(0).U64(0).str(),
                 "bad magic 'GGML'");
  ExpectRejected("magic_ctrl", Bytes().Raw("\x01GUF").U32(3).str(),
                 "bad magic '\\x01GUF'");
  ExpectRejected("big_endian",
                 Bytes().Raw("GGUF").Raw(std::string("\0\0\0\3", 4)).str(),
                 "big-endian GGUF file");
  ExpectRejected("v1", Bytes().Header(0, 0, 1).str(), "version 1");
  ExpectRejected("v0", Bytes().Header(0, 0, 0).str(),
                 "unsupported GGUF version 0");
  ExpectRejected("v4", Bytes().Header(0, 0, 4).str(),
                 "unsupported GGUF version 4");
  ExpectRejected("no_counts", Bytes().Raw("GGUF").U32(3).U32(0).str(),
                 "truncated: tensor count");
}

TEST(GgufHostileTest, LengthsNear2To64) {
  ExpectRejected("key_len", OneTensor(1, Bytes().U64(kMaxU64).Raw("k")),
                 "metadata #0: key length 18446744073709551615");
  ExpectRejected("key_len_63",
                 OneTensor(1, Bytes().U64(uint64_t{1} << 63).Raw("k")),
                 "exceeds the");
  ExpectRejected("string_len",
                 OneTensor(1, Bytes().Str("k").U32(kString).U64(kMaxU64 - 7)),
                 "key 'k': string length 18446744073709551608");
  ExpectRejected(
      "string_in_array",
      OneTensor(1, ArrayKv("k", kString, 1, Bytes().U64(kMaxU64).str())),
      "key 'k': element 0: string length");
  ExpectRejected("name_len",
                 Make(0, Bytes(), 1, Bytes().U64(kMaxU64 - 1).U32(1), 0),
                 "tensor #0: name length 18446744073709551614");
}

TEST(GgufHostileTest, CountsLargerThanTheFile) {
  ExpectRejected("n_kv", Bytes().Header(0, kMaxU64).Fill(64, 'x').str(),
                 "metadata count 18446744073709551615 cannot fit");
  ExpectRejected("n_kv_small", Bytes().Header(0, 1000).Fill(64, 'x').str(),
                 "metadata count 1000 cannot fit in the 64 bytes");
  ExpectRejected("n_tensors", Bytes().Header(kMaxU64, 0).Fill(64, 'x').str(),
                 "tensor count 18446744073709551615 cannot fit");
  ExpectRejected("n_tensors_small", Bytes().Header(3, 0).Fill(64, 'x').str(),
                 "tensor count 3 cannot fit");
  ExpectRejected("array_u8", OneTensor(1, ArrayKv("k", 0, kMaxU64)),
                 "array of 18446744073709551615 UINT8 elements cannot fit");
  // count * 8 would wrap around to 0.
  ExpectRejected("array_u64",
                 OneTensor(1, ArrayKv("k", kU64, uint64_t{1} << 61)),
                 "UINT64 elements cannot fit");
  ExpectRejected("array_of_arrays",
                 OneTensor(1, ArrayKv("k", kArray, uint64_t{1} << 40)),
                 "ARRAY elements cannot fit");
  ExpectRejected("array_of_strings", OneTensor(1, ArrayKv("k", kString, 100)),
                 "STRING elements cannot fit");
}

TEST(GgufHostileTest, ArrayNestingAndTotalElements) {
  // `depth` arrays, the innermost holding one UINT32.
  auto nested = [](int depth) {
    Bytes b;
    b.Str("deep").U32(kArray);
    for (int d = 1; d < depth; ++d) b.U32(kArray).U64(1);
    b.U32(kU32).U64(1).U32(7);
    return OneTensor(1, b);
  };
  ExpectAccepted("depth8", nested(kGgufMaxArrayDepth));
  ExpectRejected("depth9", nested(kGgufMaxArrayDepth + 1),
                 "key 'deep': element 0: element 0: element 0: element 0: "
                 "element 0: element 0: element 0: element 0: arrays nest "
                 "deeper than 8 levels");
  // Two UINT8 arrays whose element counts together pass the limit.
  const uint64_t half = kGgufMaxArrayElements / 2;
  Bytes kvs;
  kvs.Raw(ArrayKv("a", 0, half, std::string(half, '\1')).str());
  kvs.Raw(ArrayKv("b", 0, half + 1, std::string(half + 1, '\1')).str());
  ExpectRejected("elements", OneTensor(2, kvs),
                 "key 'b': metadata arrays hold more than " +
                     std::to_string(kGgufMaxArrayElements) + " elements");
}

TEST(GgufHostileTest, UnknownValueTypesAndBadBools) {
  ExpectRejected("kv_type", OneTensor(1, Bytes().Str("k").U32(13).U32(0)),
                 "key 'k': unknown value type 13");
  ExpectRejected("kv_type_max",
                 OneTensor(1, Bytes().Str("k").U32(0xFFFFFFFF).U32(0)),
                 "unknown value type 4294967295");
  ExpectRejected("elem_type", OneTensor(1, ArrayKv("k", 99, 1, "x")),
                 "key 'k': unknown array element type 99");
  ExpectRejected("bool", OneTensor(1, Bytes().Str("k").U32(kBool).U8(2)),
                 "key 'k': bool value 2 at offset");
  ExpectRejected("bool_in_array",
                 OneTensor(1, ArrayKv("k", kBool, 2, "\1\xff")),
                 "element 1: bool value 255");
}

TEST(GgufHostileTest, Keys) {
  ExpectRejected("empty_key", OneTensor(1, Bytes().Str("").U32(kU32).U32(1)),
                 "metadata #0 has an empty key");
  Bytes dup;
  dup.Str("k").U32(kU32).U32(1).Str("x").U32(kBool).U8(1);
  dup.Str("k").U32(kI32).U32(2);
  ExpectRejected("dup_key", OneTensor(3, dup), "duplicate metadata key 'k'");
  ExpectRejected(
      "key_ctrl",
      OneTensor(
          2, Bytes().Str("a\nb").U32(kU32).U32(1).Str("a\nb").U32(kU32).U32(1)),
      "duplicate metadata key 'a\\x0ab'");
}

TEST(GgufHostileTest, Alignment) {
  auto with = [](const Bytes& kv, uint64_t pad) {
    return Make(1, kv, 1, Bytes().Tensor("t", {8}, kF32, 0), 32, pad);
  };
  ExpectRejected("align_u64",
                 with(Bytes().Str("general.alignment").U32(kU64).U64(64), 64),
                 "general.alignment has type UINT64; it must be UINT32");
  ExpectRejected("align_i32",
                 with(Bytes().Str("general.alignment").U32(kI32).U32(64), 64),
                 "it must be UINT32");
  ExpectRejected("align_0",
                 with(Bytes().Str("general.alignment").U32(kU32).U32(0), 32),
                 "general.alignment 0 is not a non-zero power of two");
  ExpectRejected("align_48",
                 with(Bytes().Str("general.alignment").U32(kU32).U32(48), 48),
                 "general.alignment 48 is not a non-zero power of two");
  ExpectAccepted("align_1",
                 with(Bytes().Str("general.alignment").U32(kU32).U32(1), 1));
}

TEST(GgufHostileTest, TensorInfos) {
  auto one = [](const Bytes& info, size_t data = 0) {
    return Make(0, Bytes(), 1, info, data);
  };
  ExpectRejected("ggml_type_removed", one(Bytes().Tensor("t", {8}, 4, 0)),
                 "tensor 't': unknown ggml type 4");
  ExpectRejected("ggml_type_99", one(Bytes().Tensor("t", {8}, 99, 0)),
                 "unknown ggml type 99");
  ExpectRejected("n_dims_0", one(Bytes().Tensor("t", {}, kF32, 0)),
                 "tensor 't': n_dims 0 is not in [1, 4]");
  ExpectRejected("n_dims_5", one(Bytes().Tensor("t", {1, 1, 1, 1, 1}, kF32, 0)),
                 "n_dims 5 is not in [1, 4]");
  ExpectRejected("n_dims_huge",
                 one(Bytes().Str("t").U32(0xFFFFFFFF).U64(1).U32(kF32).U64(0)),
                 "n_dims 4294967295");
  ExpectRejected(
      "ne_overflow",
      one(Bytes().Tensor("t", {uint64_t{1} << 32, uint64_t{1} << 32}, kF32, 0)),
      "element count of ne [4294967296, 4294967296] overflows");
  // A zero count makes the total 0, but the others must still multiply
  // without overflow (rows = ne[1] * ne[2] ...).
  ExpectRejected(
      "ne_zero_and_huge",
      one(Bytes().Tensor("t", {8, 0, uint64_t{1} << 62, uint64_t{1} << 62},
                         kF32, 0)),
      "overflows 63 bits");
  ExpectRejected("ne_2_63",
                 one(Bytes().Tensor("t", {uint64_t{1} << 63}, 24, 0)),
                 "overflows 63 bits");
  ExpectRejected("bytes_overflow",
                 one(Bytes().Tensor("t", {uint64_t{1} << 62}, kF32, 0)),
                 "overflows 63 bits");
  ExpectRejected("ne0_block", one(Bytes().Tensor("t", {33, 2}, kQ4_0, 0)),
                 "tensor 't': ne[0] = 33 is not a multiple of the q4_0 block "
                 "size 32");
  ExpectRejected("offset_align", one(Bytes().Tensor("t", {8}, kF32, 16), 64),
                 "tensor 't': offset 16 is not a multiple of the alignment 32");
  Bytes dup;
  dup.Tensor("t", {8}, kF32, 0).Tensor("t", {8}, kF32, 32);
  ExpectRejected("dup_name", Make(0, Bytes(), 2, dup, 64),
                 "duplicate tensor name 't'");
}

TEST(GgufHostileTest, DataPlacement) {
  auto one = [](const Bytes& info, size_t data) {
    return Make(0, Bytes(), 1, info, data);
  };
  ExpectRejected("past_eof", one(Bytes().Tensor("t", {8}, kF32, 32), 32),
                 "tensor 't': data [32, 32 + 32) runs past the end of the file "
                 "(data section has 32 bytes)");
  ExpectRejected("one_byte_short", one(Bytes().Tensor("t", {8}, kF32, 0), 31),
                 "runs past the end");
  ExpectRejected("offset_huge",
                 one(Bytes().Tensor("t", {8}, kF32, kMaxU64 - 31), 32),
                 "data [18446744073709551584, 18446744073709551584 + 32) runs "
                 "past the end");
  ExpectRejected("size_huge",
                 one(Bytes().Tensor("t", {uint64_t{1} << 40}, kF32, 0), 32),
                 "runs past the end");
  // The tensor infos end unaligned and the file ends with them.
  ExpectRejected("no_data_section",
                 Bytes().Header(1, 0).Tensor("t", {8}, kF32, 0).str(),
                 "data section would start at offset 64, past the end");
  Bytes same;
  same.Tensor("a", {8}, kF32, 0).Tensor("b", {8}, kF32, 0);
  ExpectRejected("overlap_same", Make(0, Bytes(), 2, same, 32),
                 "tensors 'a' (bytes [0, 32)) and 'b' (bytes [0, 32)) overlap");
  Bytes partial;
  partial.Tensor("big", {16}, kF32, 0)
      .Tensor("gap", {8}, kF32, 96)
      .Tensor("inner", {8}, kF32, 32);
  ExpectRejected("overlap_partial", Make(0, Bytes(), 3, partial, 128),
                 "tensors 'big' (bytes [0, 64)) and 'inner' (bytes [32, 64)) "
                 "overlap");
  // Zero-byte tensors overlap nothing; gaps between tensors are allowed.
  Bytes ok;
  ok.Tensor("z", {0, 4}, kF32, 0).Tensor("a", {8}, kF32, 0);
  ok.Tensor("b", {8}, kF32, 64);
  ExpectAccepted("empty_and_gap", Make(0, Bytes(), 3, ok, 96));
}

}  // namespace
}  // namespace lowbit
