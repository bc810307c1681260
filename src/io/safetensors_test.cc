// Tests for the safetensors reader and writer: round trips, and hostile files
// built byte by byte, each of which must be rejected with a one-line message
// naming the file.
#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace lowbit {
namespace {

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/lowbit_st_" + std::to_string(::getpid()) +
         "_" + name;
}

// The 8-byte little-endian length, the header, then the data.
std::string FileBytes(const std::string& header, const std::string& data,
                      uint64_t declared_len) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>((declared_len >> (8 * i)) & 0xff);
  }
  return out + header + data;
}
std::string FileBytes(const std::string& header, const std::string& data) {
  return FileBytes(header, data, header.size());
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

bool Exists(const std::string& path) { return std::filesystem::exists(path); }

// True if the directory holding `path` has any file whose name starts with its
// name.
bool AnyFileLike(const std::string& path) {
  const std::filesystem::path p(path);
  for (const auto& e : std::filesystem::directory_iterator(p.parent_path())) {
    if (e.path().filename().string().rfind(p.filename().string(), 0) == 0) {
      return true;
    }
  }
  return false;
}

// Writes `bytes` to a fresh file, opens it, and expects BadInput whose
// single-line message starts with the path and contains `phrase`.
void ExpectRejected(const std::string& test_name, const std::string& bytes,
                    const std::string& phrase) {
  const std::string path = TempPath(test_name + ".safetensors");
  WriteFile(path, bytes);
  auto r = SafetensorsFile::Open(path);
  ASSERT_FALSE(r.ok()) << test_name << ": accepted";
  EXPECT_EQ(r.status().code(), StatusCode::kBadInput) << r.status().message();
  const std::string& msg = r.status().message();
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find(phrase), std::string::npos)
      << "message: " << msg << "\nwanted: " << phrase;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  std::filesystem::remove(path);
}

// A header with one F32 tensor "w" of the given shape/offsets text.
std::string OneTensor(const std::string& dtype, const std::string& shape,
                      const std::string& offsets) {
  return "{\"w\":{\"dtype\":" + dtype + ",\"shape\":" + shape +
         ",\"data_offsets\":" + offsets + "}}";
}

// ---------------------------------------------------------------------------------------
// Round trips.

TEST(SafetensorsTest, WriteThenReadRoundTrip) {
  const std::string path = TempPath("roundtrip.safetensors");
  std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, 7.0f};
  std::vector<uint16_t> bf16 = {0x3f80, 0xc000, 0x4040};
  std::vector<int64_t> i64 = {-1, 1LL << 40};
  std::vector<uint8_t> u8 = {1, 2, 3, 4, 5};
  std::vector<double> scalar = {3.14159};
  std::vector<TensorDesc> descs = {
      {"layer.0.weight", DType::kF32, {2, 3}},
      {"bf", DType::kBF16, {3}},
      {"empty", DType::kF16, {0, 4}},
      {"idx", DType::kI64, {2}},
      {"bytes", DType::kU8, {5}},
      {"scalar", DType::kF64, {}},
  };
  std::map<std::string, std::string> meta = {{"format", "pt"},
                                             {"note", "h\xc3\xa9llo \"q\"\n"}};
  {
    auto w = SafetensorsWriter::Create(path, descs, meta);
    ASSERT_TRUE(w.ok()) << w.status().message();
    ASSERT_TRUE((*w)->Write("layer.0.weight", f32.data(), 24).ok());
    ASSERT_TRUE((*w)->Write("bf", bf16.data(), 6).ok());
    ASSERT_TRUE((*w)->Write("empty", nullptr, 0).ok());
    ASSERT_TRUE((*w)->Write("idx", i64.data(), 16).ok());
    ASSERT_TRUE((*w)->Write("bytes", u8.data(), 5).ok());
    ASSERT_TRUE((*w)->Write("scalar", scalar.data(), 8).ok());
    const Status st = (*w)->Commit();
    ASSERT_TRUE(st.ok()) << st.message();
  }
  auto r = SafetensorsFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const SafetensorsFile& f = **r;
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.metadata(), meta);
  EXPECT_EQ(f.file_size(), std::filesystem::file_size(path));
  ASSERT_EQ(f.tensors().size(), descs.size());

  // The data buffer starts 8-aligned.
  EXPECT_EQ(f.tensors()[0].offset % 8, 0u);
  // Data order: layout order (the empty tensor sorts before the one at its
  // offset).
  for (size_t i = 1; i < f.tensors().size(); ++i) {
    EXPECT_LE(f.tensors()[i - 1].offset, f.tensors()[i].offset);
  }
  EXPECT_EQ(f.tensors().back().offset + f.tensors().back().nbytes,
            f.file_size());

  struct Want {
    std::string name;
    DType dtype;
    Shape shape;
    const void* bytes;
    size_t n;
  };
  const std::vector<Want> wants = {
      {"layer.0.weight", DType::kF32, {2, 3}, f32.data(), 24},
      {"bf", DType::kBF16, {3}, bf16.data(), 6},
      {"empty", DType::kF16, {0, 4}, nullptr, 0},
      {"idx", DType::kI64, {2}, i64.data(), 16},
      {"bytes", DType::kU8, {5}, u8.data(), 5},
      {"scalar", DType::kF64, {}, scalar.data(), 8},
  };
  for (const Want& want : wants) {
    const SafetensorsEntry* e = f.Find(want.name);
    ASSERT_NE(e, nullptr) << want.name;
    EXPECT_EQ(e->name, want.name);
    EXPECT_EQ(e->dtype, want.dtype) << want.name;
    EXPECT_EQ(e->shape, want.shape) << want.name;
    ASSERT_EQ(e->nbytes, want.n) << want.name;
    if (want.n > 0) {
      EXPECT_EQ(std::memcmp(e->data, want.bytes, want.n), 0) << want.name;
    }
  }
  EXPECT_EQ(f.Find("missing"), nullptr);
  EXPECT_EQ(f.Find("layer.0"), nullptr);
  std::filesystem::remove(path);
}

TEST(SafetensorsTest, EmptyFileOfTensorsRoundTrips) {
  const std::string path = TempPath("notensors.safetensors");
  {
    auto w = SafetensorsWriter::Create(path, {}, {});
    ASSERT_TRUE(w.ok()) << w.status().message();
    ASSERT_TRUE((*w)->Commit().ok());
  }
  auto r = SafetensorsFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE((*r)->tensors().empty());
  EXPECT_TRUE((*r)->metadata().empty());
  EXPECT_EQ((*r)->file_size() % 8, 0u);
  std::filesystem::remove(path);
}

TEST(SafetensorsTest, ReadsHandBuiltFileSortedByOffset) {
  // Header order differs from data order; trailing space padding; an unknown
  // field with nested content; a gap between tensors.
  const std::string header =
      "{\"b\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[4,6]},"
      "\"__metadata__\":{\"k\":\"v\"},"
      "\"a\":{\"extra\":{\"x\":[1,[2,{}]]},\"dtype\":\"U16\",\"shape\":[1,1],"
      "\"data_offsets\":[0,2]},"
      "\"z\":{\"dtype\":\"BOOL\",\"shape\":[0],\"data_offsets\":[2,2]}}     ";
  const std::string data = std::string("\x01\x02", 2) + "??" + "\x03\x04";
  const std::string path = TempPath("handbuilt.safetensors");
  WriteFile(path, FileBytes(header, data));
  auto r = SafetensorsFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const auto& t = (*r)->tensors();
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].name, "a");
  EXPECT_EQ(t[1].name, "z");
  EXPECT_EQ(t[2].name, "b");
  const uint64_t data_start = 8 + header.size();
  EXPECT_EQ(t[0].offset, data_start);
  EXPECT_EQ(t[2].offset, data_start + 4);
  EXPECT_EQ(t[2].data[0], 3);
  EXPECT_EQ(t[2].data[1], 4);
  EXPECT_EQ(t[0].dtype, DType::kU16);
  EXPECT_EQ(t[1].nbytes, 0u);
  EXPECT_EQ((*r)->metadata().at("k"), "v");
  std::filesystem::remove(path);
}

TEST(SafetensorsTest, HeaderMayFillTheRestOfTheFile) {
  const std::string path = TempPath("nodata.safetensors");
  WriteFile(path, FileBytes("{\"e\":{\"dtype\":\"F32\",\"shape\":[0],"
                            "\"data_offsets\":[0,0]}}",
                            ""));
  auto r = SafetensorsFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ((*r)->tensors().size(), 1u);
  EXPECT_EQ((*r)->tensors()[0].nbytes, 0u);
  EXPECT_EQ((*r)->tensors()[0].offset, (*r)->file_size());
  std::filesystem::remove(path);
}

TEST(SafetensorsTest, MissingFileIsIoError) {
  auto r = SafetensorsFile::Open(TempPath("does_not_exist.safetensors"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
}

// ---------------------------------------------------------------------------------------
// Hostile files.

TEST(SafetensorsHostileTest, ShorterThan8Bytes) {
  ExpectRejected("empty", "", "shorter than 8 bytes");
  ExpectRejected("short", "\x02\x00\x00", "shorter than 8 bytes");
}

TEST(SafetensorsHostileTest, AbsurdHeaderLength) {
  ExpectRejected("absurd", FileBytes("{}", "", 100'000'001), "is absurd");
  ExpectRejected("absurd_max", FileBytes("{}", "", ~uint64_t{0}), "is absurd");
}

TEST(SafetensorsHostileTest, HeaderLengthPastEndOfFile) {
  ExpectRejected("truncated_header", FileBytes("{}", "", 3),
                 "exceeds the rest of the file (2 bytes)");
}

TEST(SafetensorsHostileTest, HeaderNotValidJson) {
  ExpectRejected("bad_json", FileBytes("{\"w\":", ""), "not valid JSON");
  ExpectRejected("empty_header", FileBytes("", ""), "not valid JSON");
  ExpectRejected("trailing_garbage", FileBytes("{} x", ""), "not valid JSON");
  ExpectRejected("nul_padding", FileBytes(std::string("{}\0\0", 4), ""),
                 "not valid JSON: NUL byte at header offset 2");
  ExpectRejected("nul_hides_garbage",
                 FileBytes(std::string("{}\0{\"w\":5}", 10), ""), "NUL byte");
  ExpectRejected("bad_utf8", FileBytes("{\"\xff\xfe\":1}", ""),
                 "not valid JSON");
}

TEST(SafetensorsHostileTest, HeaderNotAnObject) {
  ExpectRejected("array_header", FileBytes("[1,2]", ""), "not a JSON object");
  ExpectRejected("number_header", FileBytes("42", ""), "not a JSON object");
}

TEST(SafetensorsHostileTest, EntryNotAnObject) {
  ExpectRejected("entry_number", FileBytes("{\"w\":5}", ""),
                 "tensor 'w': entry is not an object");
  ExpectRejected("entry_array", FileBytes("{\"w\":[]}", ""),
                 "tensor 'w': entry is not an object");
}

TEST(SafetensorsHostileTest, MissingFields) {
  ExpectRejected("no_dtype",
                 FileBytes("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}",
                           std::string(4, '\0')),
                 "tensor 'w': missing field 'dtype'");
  ExpectRejected("no_shape",
                 FileBytes("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}",
                           std::string(4, '\0')),
                 "tensor 'w': missing field 'shape'");
  ExpectRejected("no_offsets",
                 FileBytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", ""),
                 "tensor 'w': missing field 'data_offsets'");
}

TEST(SafetensorsHostileTest, IllTypedFields) {
  const std::string d4(4, '\0');
  ExpectRejected("dtype_number", FileBytes(OneTensor("5", "[1]", "[0,4]"), d4),
                 "tensor 'w': dtype is not a string");
  ExpectRejected("shape_string",
                 FileBytes(OneTensor("\"F32\"", "\"1\"", "[0,4]"), d4),
                 "tensor 'w': shape is not an array");
  ExpectRejected("shape_of_strings",
                 FileBytes(OneTensor("\"F32\"", "[\"1\"]", "[0,4]"), d4),
                 "shape is not an array of integers");
  ExpectRejected("shape_nested",
                 FileBytes(OneTensor("\"F32\"", "[[1]]", "[0,4]"), d4),
                 "shape is not an array of integers");
  ExpectRejected("offsets_object",
                 FileBytes(OneTensor("\"F32\"", "[1]", "{}"), d4),
                 "tensor 'w': data_offsets is not an array");
  ExpectRejected(
      "duplicate_field",
      FileBytes("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":"
                "[1],\"data_offsets\":[0,4]}}",
                d4),
      "tensor 'w': duplicate field 'dtype'");
}

TEST(SafetensorsHostileTest, UnknownDType) {
  const std::string d4(4, '\0');
  ExpectRejected("dtype_f7", FileBytes(OneTensor("\"F7\"", "[1]", "[0,4]"), d4),
                 "tensor 'w': unknown dtype 'F7'");
  // Packed lowbit types have no safetensors name; lower-case spellings are not
  // valid.
  ExpectRejected("dtype_i4", FileBytes(OneTensor("\"I4\"", "[1]", "[0,1]"), d4),
                 "unknown dtype 'I4'");
  ExpectRejected("dtype_lower",
                 FileBytes(OneTensor("\"f32\"", "[1]", "[0,4]"), d4),
                 "unknown dtype 'f32'");
}

TEST(SafetensorsHostileTest, NegativeOrNonIntegerDims) {
  const std::string d4(4, '\0');
  ExpectRejected("neg_dim",
                 FileBytes(OneTensor("\"F32\"", "[-1]", "[0,4]"), d4),
                 "tensor 'w': shape has a negative dimension -1");
  ExpectRejected("float_dim",
                 FileBytes(OneTensor("\"F32\"", "[1.0]", "[0,4]"), d4),
                 "tensor 'w': shape dimension 1.0 is not an integer");
  ExpectRejected("exp_dim",
                 FileBytes(OneTensor("\"F32\"", "[1e2]", "[0,4]"), d4),
                 "is not an integer");
  ExpectRejected(
      "huge_dim",
      FileBytes(OneTensor("\"F32\"", "[9223372036854775808]", "[0,4]"), d4),
      "shape dimension 9223372036854775808 is too large");
}

TEST(SafetensorsHostileTest, TooManyDims) {
  std::string shape = "[";
  for (int i = 0; i < 65; ++i) shape += (i ? ",1" : "1");
  shape += "]";
  ExpectRejected("dims65", FileBytes(OneTensor("\"U8\"", shape, "[0,1]"), "x"),
                 "shape has more than 64 dimensions");
}

TEST(SafetensorsHostileTest, ElementCountOverflow) {
  ExpectRejected(
      "numel_overflow",
      FileBytes(OneTensor("\"F32\"", "[4294967296,4294967296]", "[0,4]"),
                "abcd"),
      "element count overflows 64 bits");
  ExpectRejected(
      "bytes_overflow",
      FileBytes(OneTensor("\"F64\"", "[4611686018427387904]", "[0,4]"), "abcd"),
      "byte size overflows 64 bits");
  // A zero dimension makes the count 0, but the others must still multiply
  // without overflow (a row length, a column count).
  ExpectRejected(
      "zero_and_huge",
      FileBytes(OneTensor("\"F32\"", "[0,4294967296,4294967296]", "[0,0]"), ""),
      "element count overflows 64 bits");
}

TEST(SafetensorsHostileTest, BadDataOffsets) {
  const std::string d4(4, '\0');
  const std::string phrase =
      "tensor 'w': data_offsets must be two non-negative";
  ExpectRejected("offsets_three",
                 FileBytes(OneTensor("\"F32\"", "[1]", "[0,4,4]"), d4), phrase);
  ExpectRejected("offsets_one",
                 FileBytes(OneTensor("\"F32\"", "[1]", "[4]"), d4), phrase);
  ExpectRejected("offsets_neg",
                 FileBytes(OneTensor("\"F32\"", "[1]", "[-4,0]"), d4), phrase);
  ExpectRejected("offsets_float",
                 FileBytes(OneTensor("\"F32\"", "[1]", "[0,4.0]"), d4), phrase);
  ExpectRejected("offsets_str",
                 FileBytes(OneTensor("\"F32\"", "[1]", "[\"0\",4]"), d4),
                 phrase);
  ExpectRejected("offsets_reversed",
                 FileBytes(OneTensor("\"F32\"", "[1]", "[4,0]"), d4),
                 "data_offsets [4, 0] have begin after end");
}

TEST(SafetensorsHostileTest, DataOffsetsPastEnd) {
  ExpectRejected(
      "past_end",
      FileBytes(OneTensor("\"F32\"", "[2,3]", "[4,28]"), std::string(20, '\0')),
      "tensor 'w': data_offsets [4, 28] point past the end of the file "
      "(data section has 20 bytes)");
  ExpectRejected(
      "past_end_huge",
      FileBytes(OneTensor("\"U8\"", "[1]",
                          "[18446744073709551614,18446744073709551615]"),
                "x"),
      "point past the end of the file (data section has 1 bytes)");
}

TEST(SafetensorsHostileTest, SizeMismatch) {
  ExpectRejected(
      "size_mismatch",
      FileBytes(OneTensor("\"F32\"", "[2,3]", "[0,20]"), std::string(24, '\0')),
      "tensor 'w': dtype F32 and shape [2, 3] need 24 bytes but "
      "data_offsets span 20");
}

TEST(SafetensorsHostileTest, OverlappingTensors) {
  const std::string header =
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[6,10]}}";
  ExpectRejected(
      "overlap", FileBytes(header, std::string(10, '\0')),
      "tensors 'a' (data_offsets [0, 8]) and 'b' (data_offsets [6, 10]) "
      "overlap");
  // A tensor nested entirely inside a larger one, listed after a third.
  const std::string nested =
      "{\"big\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
      "\"mid\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},"
      "\"late\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[12,14]}}";
  ExpectRejected("overlap_nested", FileBytes(nested, std::string(16, '\0')),
                 "overlap");
  // Identical ranges.
  const std::string same =
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
      "\"b\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}";
  ExpectRejected("overlap_same", FileBytes(same, std::string(4, '\0')),
                 "overlap");
}

TEST(SafetensorsHostileTest, DuplicateNames) {
  const std::string header =
      "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
      "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}";
  ExpectRejected("dup_name", FileBytes(header, "ab"),
                 "duplicate tensor name 'w'");
  ExpectRejected("dup_metadata",
                 FileBytes("{\"__metadata__\":{},\"__metadata__\":{}}", ""),
                 "duplicate __metadata__");
  ExpectRejected("dup_metadata_key",
                 FileBytes("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", ""),
                 "duplicate key 'k' in __metadata__");
}

TEST(SafetensorsHostileTest, MetadataNotStrings) {
  ExpectRejected("meta_number", FileBytes("{\"__metadata__\":{\"k\":1}}", ""),
                 "__metadata__ value for key 'k' is not a string");
  ExpectRejected("meta_null", FileBytes("{\"__metadata__\":{\"k\":null}}", ""),
                 "__metadata__ value for key 'k' is not a string");
  ExpectRejected("meta_nested", FileBytes("{\"__metadata__\":{\"k\":{}}}", ""),
                 "__metadata__ value for key 'k' is not a string");
  ExpectRejected("meta_array", FileBytes("{\"__metadata__\":[]}", ""),
                 "__metadata__ is not an object");
}

TEST(SafetensorsHostileTest, DeepNesting) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  ExpectRejected(
      "deep",
      FileBytes("{\"w\":{\"x\":" + deep +
                    ",\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":"
                    "[0,1]}}",
                "x"),
      "nests deeper than");
}

TEST(SafetensorsHostileTest, ControlCharsInNameStayOnOneLine) {
  ExpectRejected("ctrl_name", FileBytes("{\"a\\nb\\u0000\":5}", ""),
                 "tensor 'a\\x0ab\\x00': entry is not an object");
}

// ---------------------------------------------------------------------------------------
// Writer misuse.

TEST(SafetensorsWriterTest, RejectsWrongByteCountAndLeavesNoFile) {
  const std::string path = TempPath("wrongcount.safetensors");
  {
    auto w = SafetensorsWriter::Create(path, {{"w", DType::kF32, {2, 3}}}, {});
    ASSERT_TRUE(w.ok()) << w.status().message();
    std::vector<uint8_t> buf(24);
    Status st = (*w)->Write("w", buf.data(), 20);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("need 24 bytes but got 20"), std::string::npos)
        << st.message();
    st = (*w)->Write("w", buf.data(), 28);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    st = (*w)->Commit();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("only 0 of 1"), std::string::npos)
        << st.message();
  }
  EXPECT_FALSE(Exists(path));
  EXPECT_FALSE(AnyFileLike(path));
}

TEST(SafetensorsWriterTest, NoFileWithoutCommit) {
  const std::string path = TempPath("nocommit.safetensors");
  {
    auto w =
        SafetensorsWriter::Create(path, {{"a", DType::kU8, {2}}}, {{"k", "v"}});
    ASSERT_TRUE(w.ok()) << w.status().message();
    const uint8_t b[2] = {1, 2};
    ASSERT_TRUE((*w)->Write("a", b, 2).ok());
    EXPECT_FALSE(Exists(path));
  }
  EXPECT_FALSE(Exists(path));
  EXPECT_FALSE(AnyFileLike(path));
}

TEST(SafetensorsWriterTest, RejectsOutOfOrderAndExtraWrites) {
  const std::string path = TempPath("order.safetensors");
  auto w = SafetensorsWriter::Create(
      path, {{"a", DType::kU8, {1}}, {"b", DType::kU8, {1}}}, {});
  ASSERT_TRUE(w.ok()) << w.status().message();
  const uint8_t x = 7;
  Status st = (*w)->Write("b", &x, 1);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("expected tensor 'a' next but got 'b'"),
            std::string::npos)
      << st.message();
  ASSERT_TRUE((*w)->Write("a", &x, 1).ok());  // a rejected call left no trace
  ASSERT_TRUE((*w)->Write("b", &x, 1).ok());
  EXPECT_EQ((*w)->Write("c", &x, 1).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE((*w)->Commit().ok());
  EXPECT_EQ((*w)->Commit().code(), StatusCode::kInvalidArgument);
  auto r = SafetensorsFile::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)->tensors().size(), 2u);
  std::filesystem::remove(path);
}

TEST(SafetensorsWriterTest, RejectsBadDescs) {
  const std::string path = TempPath("baddescs.safetensors");
  auto expect_invalid = [&](std::vector<TensorDesc> descs,
                            std::map<std::string, std::string> meta,
                            const std::string& phrase) {
    auto w = SafetensorsWriter::Create(path, std::move(descs), meta);
    ASSERT_FALSE(w.ok()) << phrase;
    EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(w.status().message().find(phrase), std::string::npos)
        << w.status().message();
    EXPECT_EQ(w.status().message().rfind(path + ": ", 0), 0u);
    EXPECT_FALSE(AnyFileLike(path));
  };
  expect_invalid({{"a", DType::kU8, {1}}, {"a", DType::kF32, {1}}}, {},
                 "duplicate tensor name 'a'");
  expect_invalid({{"q", DType::kI4, {8}}}, {},
                 "dtype i4 has no safetensors name");
  expect_invalid({{"q", DType::kU1, {8}}}, {}, "has no safetensors name");
  expect_invalid({{"__metadata__", DType::kU8, {1}}}, {}, "reserved");
  expect_invalid({{"n", DType::kU8, {-1}}}, {}, "negative dimension");
  expect_invalid({{"n", DType::kF32, {1LL << 62, 8}}}, {}, "overflows 64 bits");
  expect_invalid({{"bad\xff", DType::kU8, {1}}}, {},
                 "tensor name 'bad\\xff' is not valid UTF-8");
  expect_invalid({}, {{"k", "\xc3"}},
                 "metadata value for 'k' is not valid UTF-8");
  expect_invalid({}, {{"\x80", "v"}},
                 "metadata key '\\x80' is not valid UTF-8");
}

}  // namespace
}  // namespace lowbit
