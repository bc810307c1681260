// Malformed quantized safetensors files (built with SafetensorsWriter directly)
// are rejected with a one-line message naming the file and the tensor.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "eval/error_stats.h"
#include "eval/report.h"
#include "eval/synthetic.h"
#include "io/quantized_safetensors.h"
#include "quant/quantize.h"
#include "tests/support/quantized_safetensors_test_util.h"

namespace lowbit {
namespace {

using namespace testing_util;

// One tensor of a file, owned, for rewriting.
struct RawTensor {
  std::string name;
  DType dtype;
  Shape shape;
  std::vector<uint8_t> bytes;
};

struct RawFile {
  std::vector<RawTensor> tensors;
  std::map<std::string, std::string> metadata;
  RawTensor* Find(const std::string& name) {
    for (RawTensor& t : tensors) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }
  void Erase(const std::string& name) {
    std::erase_if(tensors, [&](const RawTensor& t) { return t.name == name; });
  }
};

// A valid file: "bias" (f32) then "w" quantized with `c`, read back raw.
RawFile ValidRaw(const SchemeCase& c) {
  const std::vector<float> x = TestData({6, 100}, 11);
  auto q = Quantize(x.data(), {6, 100}, ConfigFor(c), Pool());
  EXPECT_TRUE(q.ok()) << q.status().message();
  std::vector<OutputTensor> out;
  out.push_back(Plain("bias", DType::kF32, {2}, F32Bytes({1.0f, 2.0f})));
  out.push_back(
      Quantized("w", std::make_shared<QuantizedTensor>(std::move(q).value())));
  const std::string path = TempPath("valid_" + c.label);
  EXPECT_TRUE(WriteSafetensorsModel(path, out, {{"user", "data"}}).ok());
  RawFile raw;
  auto f = SafetensorsFile::Open(path);
  EXPECT_TRUE(f.ok());
  for (const SafetensorsEntry& e : (*f)->tensors()) {
    raw.tensors.push_back({e.name, e.dtype, e.shape,
                           std::vector<uint8_t>(e.data, e.data + e.nbytes)});
  }
  raw.metadata = (*f)->metadata();
  std::filesystem::remove(path);
  return raw;
}

const SchemeCase kInt4{"int4", "int4", kG, 32, 1, ScaleType::kF16};
const SchemeCase kInt3Asym{"int3a", "int3", kG, 16, 0, ScaleType::kF32};
const SchemeCase kKmeans3{"km3", "kmeans3", kC, 0, 1, ScaleType::kF16};
const SchemeCase kMxfp4{"mxfp4", "mxfp4", -1, 0, -1, ScaleType::kAuto};

Status WriteRaw(const std::string& path, const RawFile& raw) {
  std::vector<TensorDesc> descs;
  for (const RawTensor& t : raw.tensors) {
    descs.push_back({t.name, t.dtype, t.shape});
  }
  LB_ASSIGN_OR_RETURN(auto w,
                      SafetensorsWriter::Create(path, descs, raw.metadata));
  for (const RawTensor& t : raw.tensors) {
    LB_RETURN_IF_ERROR(w->Write(t.name, t.bytes.data(), t.bytes.size()));
  }
  return w->Commit();
}

// Writes `raw` (after `mutate`), opens it as a model and expects BadInput with
// a single-line message starting with the path and containing `phrase`.
void ExpectRejected(const std::string& test_name, const SchemeCase& c,
                    const std::function<void(RawFile&)>& mutate,
                    const std::string& phrase) {
  SCOPED_TRACE(test_name);
  RawFile raw = ValidRaw(c);
  {
    // Unmutated, the file is accepted (so the mutation is what is rejected).
    const std::string ok_path = TempPath(test_name + "_unmutated");
    ASSERT_TRUE(WriteRaw(ok_path, raw).ok());
    auto m = SafetensorsModel::Open(ok_path);
    ASSERT_TRUE(m.ok()) << m.status().message();
    std::filesystem::remove(ok_path);
  }
  mutate(raw);
  const std::string path = TempPath(test_name);
  const Status w = WriteRaw(path, raw);
  ASSERT_TRUE(w.ok()) << w.message();
  auto m = SafetensorsModel::Open(path);
  std::filesystem::remove(path);  // the mapping, if any, stays valid
  ASSERT_FALSE(m.ok()) << test_name << ": accepted";
  EXPECT_EQ(m.status().code(), StatusCode::kBadInput) << m.status().message();
  const std::string& msg = m.status().message();
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find(phrase), std::string::npos)
      << "message: " << msg << "\nwanted: " << phrase;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

// Replaces the value of `field` in the description of "w".
void SetField(RawFile& raw, const std::string& field, nlohmann::json value) {
  auto j = nlohmann::json::parse(raw.metadata.at("lowbit.q.w"));
  j[field] = std::move(value);
  raw.metadata["lowbit.q.w"] = j.dump();
}

TEST(QuantizedSafetensorsHostile, MissingCodes) {
  ExpectRejected(
      "missing_codes", kInt4, [](RawFile& r) { r.Erase("w.qcodes"); },
      "component 'w.qcodes' is missing");
}

TEST(QuantizedSafetensorsHostile, MissingScale) {
  ExpectRejected(
      "missing_scale", kInt4, [](RawFile& r) { r.Erase("w.qscale"); },
      "component 'w.qscale' is missing");
}

TEST(QuantizedSafetensorsHostile, MissingZeroOfAsymmetric) {
  ExpectRejected(
      "missing_zero", kInt3Asym, [](RawFile& r) { r.Erase("w.qzero"); },
      "component 'w.qzero' is missing");
}

TEST(QuantizedSafetensorsHostile, MissingCodebookOfKmeans) {
  ExpectRejected(
      "missing_codebook", kKmeans3, [](RawFile& r) { r.Erase("w.qcodebook"); },
      "component 'w.qcodebook' is missing");
}

TEST(QuantizedSafetensorsHostile, DescriptionNotJson) {
  ExpectRejected(
      "not_json", kInt4,
      [](RawFile& r) { r.metadata["lowbit.q.w"] = "{\"scheme\": \"int4\""; },
      "description is not a JSON object");
  ExpectRejected(
      "json_array", kInt4,
      [](RawFile& r) { r.metadata["lowbit.q.w"] = "[1, 2]"; },
      "description is not a JSON object");
  ExpectRejected(
      "empty_description", kInt4,
      [](RawFile& r) { r.metadata["lowbit.q.w"] = ""; },
      "description is not a JSON object");
}

TEST(QuantizedSafetensorsHostile, UnknownScheme) {
  ExpectRejected(
      "unknown_scheme", kInt4,
      [](RawFile& r) { SetField(r, "scheme", "int9"); }, "unknown scheme");
  ExpectRejected(
      "scheme_not_string", kInt4, [](RawFile& r) { SetField(r, "scheme", 4); },
      "bad description");
}

TEST(QuantizedSafetensorsHostile, BadDescriptionFields) {
  ExpectRejected(
      "missing_field", kInt4,
      [](RawFile& r) {
        auto j = nlohmann::json::parse(r.metadata.at("lowbit.q.w"));
        j.erase("group_size");
        r.metadata["lowbit.q.w"] = j.dump();
      },
      "bad description");
  ExpectRejected(
      "bad_granularity", kInt4,
      [](RawFile& r) { SetField(r, "granularity", "row"); }, "bad granularity");
  ExpectRejected(
      "bad_scale_type", kInt4,
      [](RawFile& r) { SetField(r, "scale_type", "f64"); }, "bad scale_type");
  ExpectRejected(
      "bad_dtype", kInt4, [](RawFile& r) { SetField(r, "dtype", "i64"); },
      "bad source dtype");
  ExpectRejected(
      "negative_dim", kInt4,
      [](RawFile& r) {
        SetField(r, "shape", {6, -100});
      },
      "is negative or over 2^40");
  // A zero dimension does not hide huge ones (their product, the row length,
  // would overflow).
  ExpectRejected(
      "zero_and_huge_dims", kInt4,
      [](RawFile& r) {
        SetField(r, "shape", {0, int64_t{1} << 32, int64_t{1} << 32});
      },
      "is negative or over 2^40");
  // A group size near 2^63 is refused before the group count is computed.
  ExpectRejected(
      "huge_group_size", kInt4,
      [](RawFile& r) {
        SetField(r, "group_size", int64_t{0x7FFFFFFFFFFFFFF0});
      },
      "group size");
  // A shape that disagrees with the arrays.
  ExpectRejected(
      "shape_mismatch", kInt4,
      [](RawFile& r) {
        SetField(r, "shape", {7, 100});
      },
      "component 'w.qcodes' has shape [6, 50], the layout needs [7, 50]");
  // A group size that disagrees with the scales.
  ExpectRejected(
      "group_mismatch", kInt4,
      [](RawFile& r) { SetField(r, "group_size", 64); },
      "component 'w.qscale' has shape [6, 4], the layout needs [6, 2]");
}

TEST(QuantizedSafetensorsHostile, CodesOfTheWrongSize) {
  ExpectRejected(
      "codes_short", kInt4,
      [](RawFile& r) {
        RawTensor* t = r.Find("w.qcodes");
        t->shape = {6, 49};  // 50 bytes a row are needed
        t->bytes.resize(6 * 49);
      },
      "component 'w.qcodes' has shape [6, 49], the layout needs [6, 50]");
  ExpectRejected(
      "codes_long", kInt4,
      [](RawFile& r) {
        RawTensor* t = r.Find("w.qcodes");
        t->shape = {7, 50};
        t->bytes.resize(7 * 50);
      },
      "component 'w.qcodes' has shape [7, 50], the layout needs [6, 50]");
}

TEST(QuantizedSafetensorsHostile, CodesNotU8) {
  ExpectRejected(
      "codes_i8", kInt4,
      [](RawFile& r) { r.Find("w.qcodes")->dtype = DType::kI8; },
      "codes must be U8");
}

TEST(QuantizedSafetensorsHostile, ScaleOfTheWrongDtype) {
  // f16 scales stored as bf16 (same size, so only the dtype is wrong).
  ExpectRejected(
      "scale_bf16", kInt4,
      [](RawFile& r) { r.Find("w.qscale")->dtype = DType::kBF16; },
      "'w.qscale' has dtype bf16, scale_type needs f16");
  // f16 scales declared f32 in the description.
  ExpectRejected(
      "scale_type_f32", kInt4,
      [](RawFile& r) { SetField(r, "scale_type", "f32"); },
      "'w.qscale' has dtype f16, scale_type needs f32");
  // mxfp4 E8M0 codes stored as f16.
  ExpectRejected(
      "e8m0_as_f16", kMxfp4,
      [](RawFile& r) { SetField(r, "scale_type", "f16"); },
      "scale_type needs f16");
  // A k-means codebook in the wrong dtype.
  ExpectRejected(
      "codebook_f32", kKmeans3,
      [](RawFile& r) { SetField(r, "scale_type", "f32"); },
      "'w.qcodebook' has dtype f16, scale_type needs f32");
}

TEST(QuantizedSafetensorsHostile, ZerosOfTheWrongSizeOrType) {
  ExpectRejected(
      "zeros_i8", kInt3Asym,
      [](RawFile& r) { r.Find("w.qzero")->dtype = DType::kI8; },
      "zero points must be U8");
  ExpectRejected(
      "zeros_short", kInt3Asym,
      [](RawFile& r) {
        RawTensor* t = r.Find("w.qzero");
        t->shape = {6, 2};
        t->bytes.resize(12);
      },
      "component 'w.qzero' has shape [6, 2], the layout needs [6, 3]");
}

TEST(QuantizedSafetensorsHostile, NonFiniteScales) {
  ExpectRejected(
      "scale_inf", kInt4,
      [](RawFile& r) {
        RawTensor* t = r.Find("w.qscale");
        t->bytes[2] = 0x00;  // second f16 scale := +inf (0x7c00)
        t->bytes[3] = 0x7c;
      },
      "a scale is not finite");
  ExpectRejected(
      "e8m0_nan", kMxfp4,
      [](RawFile& r) { r.Find("w.qscale")->bytes[0] = 255; },
      "a scale is not finite");
  ExpectRejected(
      "codebook_nan", kKmeans3,
      [](RawFile& r) {
        RawTensor* t = r.Find("w.qcodebook");
        t->bytes[0] = 0x00;  // f16 NaN 0x7e00
        t->bytes[1] = 0x7e;
      },
      "a codebook level is not finite");
}

TEST(QuantizedSafetensorsHostile, StoredBothPlainAndQuantized) {
  ExpectRejected(
      "plain_and_quantized", kInt4,
      [](RawFile& r) {
        r.tensors.push_back(
            {"w", DType::kF32, {6, 100}, std::vector<uint8_t>(2400, 0)});
      },
      "tensor 'w' is stored both plain and quantized");
}

// A shape whose element count overflows int64 must not pass validation with
// empty arrays (rows * cols wraps to 0): 2^40 rows of 2^24 int8 codes need 2^64
// bytes, and the wrapped sizes let a zero-byte code array through, so a later
// Dequantize would index far outside it.
// DISABLED: SafetensorsModel::Open currently accepts this file (see the
// report); enable once the element count is checked without overflow.
TEST(QuantizedSafetensorsHostile, ElementCountOverflow) {
  ExpectRejected(
      "overflow_shape", {"int8t", "int8", kT, 0, 1, ScaleType::kF32},
      [](RawFile& r) {
        SetField(r, "shape", {int64_t{1} << 40, int64_t{1} << 24});
        SetField(r, "group_size", int64_t{1} << 24);
        RawTensor* t = r.Find("w.qcodes");
        t->shape = {0};
        t->bytes.clear();
      },
      "");
}

// ---- 3. CompareModels
// ------------------------------------------------------------------

TEST(QuantizedSafetensorsHostile, ComponentThatDoesNotBelong) {
  // A k-means tensor has no scale: a stray W.qscale is not silently swallowed.
  ExpectRejected(
      "stray_scale", kKmeans3,
      [](RawFile& r) {
        RawTensor t = *r.Find("w.qcodes");
        t.name = "w.qscale";
        r.tensors.push_back(t);
      },
      "component 'w.qscale' does not belong to scheme kmeans3");
}

TEST(QuantizedSafetensorsHostile, Fp8CodeThatIsNaN) {
  const SchemeCase fp8{"fp8", "fp8_e4m3", kC, 0, 1, ScaleType::kF32};
  ExpectRejected(
      "fp8_nan", fp8, [](RawFile& r) { r.Find("w.qcodes")->bytes[7] = 0x7F; },
      "row 0 holds code 127, which is not a value of the scheme");
}

TEST(QuantizedSafetensorsWriter, RejectsReservedMetadataAndInvalidTensors) {
  const std::string path = TempPath("writer_reserved");
  std::vector<float> x = TestData({4, 32}, 3);
  auto q = Quantize(x.data(), {4, 32}, ConfigFor(kMxfp4), Pool());
  ASSERT_TRUE(q.ok());
  auto shared = std::make_shared<QuantizedTensor>(*q);
  Status st = WriteSafetensorsModel(path, {Quantized("w", shared)},
                                    {{"lowbit.q.note", "hello"}});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("is reserved"), std::string::npos)
      << st.message();
  EXPECT_FALSE(std::filesystem::exists(path));
  // An E8M0 scale that is not a power of two cannot be written.
  auto bad = std::make_shared<QuantizedTensor>(*q);
  bad->scales[0] = 3.0f;
  st = WriteSafetensorsModel(path, {Quantized("w", bad)}, {});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("power of two"), std::string::npos)
      << st.message();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(QuantizedSafetensorsWriter, ForcedF16ScalesThatOverflowAreAnError) {
  std::vector<float> x(64, 1e9f);
  QuantConfig c = ConfigFor(kInt4);  // f16 scales forced
  auto q = Quantize(x.data(), {2, 32}, c, Pool());
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("overflows f16"), std::string::npos)
      << q.status().message();
  c.scale_type = ScaleType::kAuto;  // auto falls back to f32
  q = Quantize(x.data(), {2, 32}, c, Pool());
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->scale_type, ScaleType::kF32);
  EXPECT_EQ(Dequantize(*q), x);
}

}  // namespace
}  // namespace lowbit
