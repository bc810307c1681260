// Tests of the SHA-256 test helper and GgufWriter's
// refusal of bad metadata, bad tensor descriptions and out-of-order writes.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "formats/ggml/ggml_type.h"
#include "io/gguf.h"
#include "tests/support/gguf_test_util.h"

namespace lowbit {
namespace {

using namespace gguf_testing;
using V = GgufValue;
using T = GgufType;

TEST(GgufTestUtil, Sha256KnownAnswers) {
  EXPECT_EQ(Sha256Of(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Of("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(
      Sha256Of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

// ---------------------------------------------------------------------------------------
// Writer misuse.

bool AnyFileLike(const std::string& path) {
  const std::filesystem::path p(path);
  for (const auto& e : std::filesystem::directory_iterator(p.parent_path())) {
    if (e.path().filename().string().rfind(p.filename().string(), 0) == 0) {
      return true;
    }
  }
  return false;
}

void ExpectCreateFails(const std::vector<GgufKV>& kvs,
                       const std::vector<GgufTensorDesc>& descs,
                       uint64_t alignment, const std::string& phrase) {
  const std::string path = TempPath("bad_create");
  auto w = GgufWriter::Create(path, kvs, descs, alignment);
  ASSERT_FALSE(w.ok()) << "accepted; wanted: " << phrase;
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  const std::string& msg = w.status().message();
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find(phrase), std::string::npos)
      << "message: " << msg << "\nwanted: " << phrase;
  EXPECT_FALSE(AnyFileLike(path));
}

TEST(GgufWriterTest, RejectsBadDescriptions) {
  const uint32_t q4 = static_cast<uint32_t>(GgmlType::kQ4_0);
  const GgufTensorDesc ok = {"t", {32}, q4};
  ExpectCreateFails({{"a", V::U8(1)}, {"a", V::U8(2)}}, {}, 32,
                    "duplicate metadata key 'a'");
  ExpectCreateFails({{"", V::U8(1)}}, {}, 32, "empty metadata key");
  GgufValue u8_256 = V::U8(0);
  u8_256.u = 256;
  ExpectCreateFails({{"a", u8_256}}, {}, 32, "value 256 does not fit in UINT8");
  ExpectCreateFails({{"a", V::Array(T::kI32, {V::I64(1)})}}, {}, 32,
                    "element 0 has type INT64 in an array of INT32");
  ExpectCreateFails({{"a", Nested(kGgufMaxArrayDepth + 1)}}, {}, 32,
                    "nest deeper than 8");
  GgufValue bad_type;
  bad_type.type = static_cast<GgufType>(13);
  ExpectCreateFails({{"a", bad_type}}, {}, 32, "unknown value type 13");
  ExpectCreateFails({}, {ok}, 48, "alignment 48 is not a power of two");
  ExpectCreateFails({{"general.alignment", V::U64(64)}}, {ok}, 32,
                    "must be UINT32");
  ExpectCreateFails({{"general.alignment", V::U32(0)}}, {ok}, 32,
                    "not a non-zero power of two");
  ExpectCreateFails({{"general.alignment", V::U32(64)}}, {ok}, 128,
                    "disagrees with general.alignment 64");
  ExpectCreateFails({}, {ok, ok}, 32, "duplicate tensor name 't'");
  ExpectCreateFails({}, {{std::string(64, 'n'), {32}, q4}}, 32,
                    "ggml allows at most 63");
  ExpectCreateFails({}, {{"t", {}, q4}}, 32, "0 dimensions");
  ExpectCreateFails({}, {{"t", {32, 1, 1, 1, 1}, q4}}, 32, "5 dimensions");
  ExpectCreateFails({}, {{"t", {32}, 4}}, 32, "unknown ggml type 4");
  ExpectCreateFails({}, {{"t", {48}, q4}}, 32,
                    "ne[0] = 48 is not a multiple of the q4_0 block size 32");
  ExpectCreateFails({}, {{"t", {~uint64_t{0} / 2, 4}, 0}}, 32, "overflows");
}

TEST(GgufWriterTest, WriteOrderSizeAndCommit) {
  const std::string path = TempPath("misuse");
  const std::vector<GgufTensorDesc> descs = {{"a", {2}, 0}, {"b", {1}, 0}};
  const float a[2] = {1, 2};
  const float b = 3;
  {
    auto w = GgufWriter::Create(path, {}, descs);
    ASSERT_TRUE(w.ok()) << w.status().message();
    Status st = (*w)->Write("b", &b, 4);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("expected tensor 'a' next"), std::string::npos);
    st = (*w)->Write("a", a, 4);
    EXPECT_NE(st.message().find("needs 8 bytes but got 4"), std::string::npos);
    ASSERT_TRUE((*w)->Write("a", a, 8).ok());  // retry after a refusal
    st = (*w)->Commit();
    EXPECT_NE(st.message().find("only 1 of 2"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(path));
  }
  // Dropped without Commit: nothing is left behind.
  EXPECT_FALSE(AnyFileLike(path));
  {
    auto w = GgufWriter::Create(path, {}, descs);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write("a", a, 8).ok());
    ASSERT_TRUE((*w)->Write("b", &b, 4).ok());
    EXPECT_FALSE((*w)->Write("c", &b, 4).ok());
    ASSERT_TRUE((*w)->Commit().ok());
    EXPECT_FALSE((*w)->Commit().ok());
  }
  auto r = GgufFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->tensors()[1].offset, 32u);
  EXPECT_EQ((*r)->file_size(), (*r)->data_offset() + 64);
  std::filesystem::remove(path);
}

// A tensor written in parts gives the same file as one Write; parts past the
// size, a Write or Commit in the middle of a tensor are refused.
TEST(GgufWriterTest, WritePartEqualsWrite) {
  const std::vector<GgufTensorDesc> descs = {{"a", {5}, 0}, {"b", {3}, 0}};
  const float a[5] = {1, 2, 3, 4, 5};
  const float b[3] = {6, 7, 8};
  const std::string whole = TempPath("whole"), parts = TempPath("parts");
  {
    auto w = GgufWriter::Create(whole, {}, descs);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write("a", a, 20).ok());
    ASSERT_TRUE((*w)->Write("b", b, 12).ok());
    ASSERT_TRUE((*w)->Commit().ok());
  }
  {
    auto w = GgufWriter::Create(parts, {}, descs);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->WritePart("a", a, 8).ok());
    Status st = (*w)->Write("a", a, 20);
    EXPECT_NE(st.message().find("begun in parts; write its remaining 12"),
              std::string::npos)
        << st.message();
    st = (*w)->Commit();
    EXPECT_NE(st.message().find("'a' is incomplete: 8 of 20"),
              std::string::npos)
        << st.message();
    st = (*w)->WritePart("a", a + 2, 16);
    EXPECT_NE(st.message().find("parts written reach 24"), std::string::npos)
        << st.message();
    EXPECT_FALSE((*w)->WritePart("b", b, 4).ok());
    ASSERT_TRUE((*w)->WritePart("a", a + 2, 0).ok());
    ASSERT_TRUE((*w)->WritePart("a", a + 2, 12).ok());
    ASSERT_TRUE((*w)->WritePart("b", b, 12).ok());  // one part: whole
    ASSERT_TRUE((*w)->Commit().ok());
  }
  EXPECT_EQ(ReadFile(whole), ReadFile(parts));
  std::filesystem::remove(whole);
  std::filesystem::remove(parts);
}

}  // namespace
}  // namespace lowbit
