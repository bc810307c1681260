// Tests of the lowbit convention for quantized tensors in safetensors files:
// every scheme family written with WriteSafetensorsModel and read back with
// SafetensorsModel::Open must give the same arrays and bit-identical
// dequantized values; malformed files (built with SafetensorsWriter directly)
// must be rejected with a message naming the file; CompareModels must report
// consistent statistics.
#include "io/quantized_safetensors.h"

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
#include "quant/quantize.h"

namespace lowbit {
namespace {

ThreadPool& Pool() {
  static ThreadPool pool(2);
  return pool;
}

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/lowbit_qst_" + std::to_string(::getpid()) +
         "_" + name + ".safetensors";
}

constexpr int kT = static_cast<int>(Granularity::kTensor);
constexpr int kC = static_cast<int>(Granularity::kChannel);
constexpr int kG = static_cast<int>(Granularity::kGroup);

struct SchemeCase {
  std::string label;  // test-name friendly
  std::string scheme;
  int gran;  // -1: the scheme's default
  int64_t group;
  int sym;  // -1: default
  ScaleType scale_type;
};

std::vector<SchemeCase> AllSchemeCases() {
  return {
      {"int4_sym_g32", "int4", kG, 32, 1, ScaleType::kAuto},
      {"int3_asym_g16", "int3", kG, 16, 0, ScaleType::kAuto},
      {"int8_channel_f32", "int8", kC, 0, 1, ScaleType::kF32},
      {"int4_tensor_asym", "int4", kT, 0, 0, ScaleType::kAuto},
      {"int2_asym_g16_f32", "int2", kG, 16, 0, ScaleType::kF32},
      {"binary", "binary", -1, 0, -1, ScaleType::kAuto},
      {"ternary", "ternary", -1, 0, -1, ScaleType::kAuto},
      {"nf4", "nf4", -1, 0, -1, ScaleType::kAuto},
      {"nf4_f16", "nf4", kG, 16, 1, ScaleType::kF16},
      {"fp8_e4m3", "fp8_e4m3", -1, 0, -1, ScaleType::kAuto},
      {"fp8_e5m2", "fp8_e5m2", -1, 0, -1, ScaleType::kF32},
      {"fp4_e2m1", "fp4_e2m1", -1, 0, -1, ScaleType::kAuto},
      {"mxfp4", "mxfp4", -1, 0, -1, ScaleType::kAuto},
      {"kmeans3_channel", "kmeans3", kC, 0, 1, ScaleType::kAuto},
      {"kmeans4_tensor", "kmeans4", kT, 0, 1, ScaleType::kAuto},
      {"kmeans2_channel_f32", "kmeans2", kC, 0, 1, ScaleType::kF32},
  };
}

QuantConfig ConfigFor(const SchemeCase& c) {
  QuantConfig cfg;
  cfg.scheme = *ParseScheme(c.scheme);
  cfg.granularity = c.gran;
  cfg.group_size = c.group;
  cfg.symmetric = c.sym;
  cfg.method = ParseMethod("mse").value();
  cfg.scale_type = c.scale_type;
  return cfg;
}

// Seeded data with an all-zero stretch (the whole of row 1 and 40 values of
// the last row) and one outlier, so groups with a zero scale and extreme
// scales both occur.
std::vector<float> TestData(const Shape& shape, uint64_t seed) {
  int64_t rows = 0, cols = 0;
  RowsCols(shape, &rows, &cols);
  std::vector<float> x = GaussianValues(rows * cols, seed);
  for (float& v : x) v *= 0.05f;
  if (rows > 2) {
    for (int64_t i = 0; i < cols; ++i) x[cols + i] = 0.0f;
    for (int64_t i = 0; i < std::min<int64_t>(cols, 40); ++i) {
      x[(rows - 1) * cols + i] = 0.0f;
    }
  }
  x[3] = 1.5f;
  return x;
}

std::vector<uint8_t> F32Bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

OutputTensor Plain(const std::string& name, DType dt, Shape shape,
                   std::vector<uint8_t> bytes) {
  OutputTensor t;
  t.name = name;
  t.dtype = dt;
  t.shape = std::move(shape);
  t.owned = std::move(bytes);
  return t;
}

OutputTensor Quantized(const std::string& name,
                       std::shared_ptr<const QuantizedTensor> q) {
  OutputTensor t;
  t.name = name;
  t.dtype = q->source_dtype;
  t.shape = q->shape;
  t.q = std::move(q);
  return t;
}

std::vector<uint8_t> I64Bytes(const std::vector<int64_t>& v) {
  std::vector<uint8_t> b(v.size() * 8);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Bitwise float vector equality (distinguishes -0 from +0, NaN payloads).
::testing::AssertionResult SameBits(const std::vector<float>& a,
                                    const std::vector<float>& b) {
  if (a.size() != b.size()) {
    return ::testing::AssertionFailure()
           << "sizes differ: " << a.size() << " vs " << b.size();
  }
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    if (x != y) {
      return ::testing::AssertionFailure()
             << "element " << i << ": " << a[i] << " vs " << b[i];
    }
  }
  return ::testing::AssertionSuccess();
}

// ---- 1. round trips of every scheme family
// ---------------------------------------------

class QuantizedSafetensorsRoundTrip
    : public ::testing::TestWithParam<SchemeCase> {};

TEST_P(QuantizedSafetensorsRoundTrip, ArraysAndValuesSurvive) {
  const SchemeCase& c = GetParam();
  const Shape lin = {6, 100};       // partial last group for every group size
  const Shape conv = {8, 3, 3, 3};  // 4-D: cols = 27
  const std::vector<float> xl = TestData(lin, 7);
  const std::vector<float> xc = TestData(conv, 8);
  auto ql = Quantize(xl.data(), lin, ConfigFor(c), Pool());
  ASSERT_TRUE(ql.ok()) << ql.status().message();
  auto qc = Quantize(xc.data(), conv, ConfigFor(c), Pool());
  ASSERT_TRUE(qc.ok()) << qc.status().message();
  qc->source_dtype = DType::kBF16;  // the source dtype must survive too
  auto lin_q = std::make_shared<QuantizedTensor>(std::move(ql).value());
  auto conv_q = std::make_shared<QuantizedTensor>(std::move(qc).value());
  if (c.scheme == "mxfp4") {
    EXPECT_EQ(lin_q->scale_type, ScaleType::kE8M0);
  }

  const std::vector<float> bias = {0.5f, -1.25f, 3.0f, 0.0f, -0.0f, 1e-30f};
  const std::vector<int64_t> ids = {0, 1, -2, int64_t{1} << 40, 7};
  std::vector<OutputTensor> out;
  out.push_back(Plain("bias", DType::kF32, {6}, F32Bytes(bias)));
  out.push_back(Quantized("layer.weight", lin_q));
  out.push_back(Plain("position_ids", DType::kI64, {5}, I64Bytes(ids)));
  out.push_back(Quantized("conv.weight", conv_q));
  const std::map<std::string, std::string> meta = {
      {"description", "round trip " + c.label}, {"format", "pt"}};
  const std::string path = TempPath("rt_" + c.label);
  ASSERT_TRUE(WriteSafetensorsModel(path, out, meta).ok());

  auto m = SafetensorsModel::Open(path);
  ASSERT_TRUE(m.ok()) << m.status().message();
  const SafetensorsModel& model = **m;

  // Order, kinds and user metadata.
  ASSERT_EQ(model.tensors().size(), 4u);
  const char* names[] = {"bias", "layer.weight", "position_ids", "conv.weight"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(model.tensors()[i].name, names[i]);
    EXPECT_EQ(model.Find(names[i]), &model.tensors()[i]);
  }
  EXPECT_EQ(model.Find("layer.weight.qcodes"), nullptr);
  EXPECT_EQ(model.Find("nothing"), nullptr);
  EXPECT_EQ(model.metadata(), meta);

  // Quantized tensors: same arrays and description fields.
  for (const auto& [name, orig] :
       {std::pair{std::string("layer.weight"), lin_q},
        std::pair{std::string("conv.weight"), conv_q}}) {
    SCOPED_TRACE(name);
    const ModelTensor* t = model.Find(name);
    ASSERT_NE(t, nullptr);
    ASSERT_TRUE(t->quantized());
    EXPECT_EQ(t->plain, nullptr);
    EXPECT_EQ(t->shape, orig->shape);
    EXPECT_EQ(t->dtype, orig->source_dtype);
    const QuantizedTensor& q = *t->q;
    EXPECT_EQ(q.scheme.kind, orig->scheme.kind);
    EXPECT_EQ(q.scheme.bits, orig->scheme.bits);
    EXPECT_EQ(q.granularity, orig->granularity);
    EXPECT_EQ(q.group_size, orig->group_size);
    EXPECT_EQ(q.symmetric, orig->symmetric);
    EXPECT_EQ(q.scale_type, orig->scale_type);
    EXPECT_EQ(q.method, orig->method);
    EXPECT_EQ(q.source_dtype, orig->source_dtype);
    EXPECT_EQ(q.shape, orig->shape);
    EXPECT_EQ(q.rows, orig->rows);
    EXPECT_EQ(q.cols, orig->cols);
    EXPECT_EQ(q.codes, orig->codes);
    EXPECT_TRUE(SameBits(q.scales, orig->scales)) << "scales";
    EXPECT_EQ(q.zeros, orig->zeros);
    EXPECT_TRUE(SameBits(q.codebook, orig->codebook)) << "codebook";
    EXPECT_TRUE(q.Validate().ok());
    // The side arrays that exist are exactly the ones the scheme needs.
    const bool kmeans = q.scheme.kind == SchemeKind::kKmeans;
    EXPECT_EQ(q.scales.empty(), kmeans);
    EXPECT_EQ(q.codebook.empty(), !kmeans);
    EXPECT_EQ(q.zeros.empty(),
              !(q.scheme.kind == SchemeKind::kInt && !q.symmetric));

    const std::vector<float> want = Dequantize(*orig);
    EXPECT_TRUE(SameBits(Dequantize(q), want)) << "Dequantize";
    auto f = model.ReadFloat(*t);
    ASSERT_TRUE(f.ok()) << f.status().message();
    EXPECT_TRUE(SameBits(*f, want)) << "ReadFloat";
    EXPECT_EQ(t->stored_bytes, static_cast<uint64_t>(orig->StoredBytes()));
    EXPECT_NEAR(q.BitsPerWeight(), orig->BitsPerWeight(), 0.0);
  }

  // Plain tensors are unchanged.
  const ModelTensor* b = model.Find("bias");
  ASSERT_NE(b, nullptr);
  EXPECT_FALSE(b->quantized());
  EXPECT_EQ(b->dtype, DType::kF32);
  EXPECT_EQ(b->shape, Shape{6});
  ASSERT_NE(b->plain, nullptr);
  EXPECT_EQ(
      std::vector<uint8_t>(b->plain->data, b->plain->data + b->plain->nbytes),
      F32Bytes(bias));
  auto bf = model.ReadFloat(*b);
  ASSERT_TRUE(bf.ok());
  EXPECT_TRUE(SameBits(*bf, bias));
  const ModelTensor* p = model.Find("position_ids");
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(p->quantized());
  EXPECT_EQ(p->dtype, DType::kI64);
  ASSERT_NE(p->plain, nullptr);
  EXPECT_EQ(
      std::vector<uint8_t>(p->plain->data, p->plain->data + p->plain->nbytes),
      I64Bytes(ids));
  auto pf = model.ReadFloat(*p);
  ASSERT_FALSE(pf.ok());
  EXPECT_EQ(pf.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(pf.status().message().find(path), std::string::npos);
  EXPECT_NE(pf.status().message().find("position_ids"), std::string::npos);

  // stored_bytes: each tensor's components, and all of them together are every
  // byte of the data section.
  auto raw = SafetensorsFile::Open(path);
  ASSERT_TRUE(raw.ok());
  uint64_t raw_total = 0;
  for (const SafetensorsEntry& e : (*raw)->tensors()) raw_total += e.nbytes;
  uint64_t total = 0;
  for (const ModelTensor& t : model.tensors()) total += t.stored_bytes;
  EXPECT_EQ(total, raw_total);
  EXPECT_EQ(b->stored_bytes, 6u * 4);
  EXPECT_EQ(p->stored_bytes, 5u * 8);
  // The lowbit.q.* descriptions are in the raw metadata, not the model's.
  EXPECT_EQ((*raw)->metadata().count("lowbit.q.layer.weight"), 1u);
  EXPECT_EQ((*raw)->metadata().count("lowbit.q.conv.weight"), 1u);
  EXPECT_EQ(model.file_size(), std::filesystem::file_size(path));
  EXPECT_EQ(model.path(), path);
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(QuantizedSafetensors, QuantizedSafetensorsRoundTrip,
                         ::testing::ValuesIn(AllSchemeCases()),
                         [](const ::testing::TestParamInfo<SchemeCase>& info) {
                           return info.param.label;
                         });

// A file written twice from the same inputs is byte-identical.
TEST(QuantizedSafetensorsTest, WritingIsDeterministic) {
  const std::vector<float> x = TestData({6, 100}, 3);
  auto q = Quantize(x.data(), {6, 100}, ConfigFor(AllSchemeCases()[1]), Pool());
  ASSERT_TRUE(q.ok());
  auto qp = std::make_shared<QuantizedTensor>(std::move(q).value());
  std::vector<OutputTensor> out;
  out.push_back(Quantized("w", qp));
  const std::string a = TempPath("det_a"), b = TempPath("det_b");
  ASSERT_TRUE(WriteSafetensorsModel(a, out, {{"k", "v"}}).ok());
  ASSERT_TRUE(WriteSafetensorsModel(b, out, {{"k", "v"}}).ok());
  auto ma = MappedFile::Open(a);
  auto mb = MappedFile::Open(b);
  ASSERT_TRUE(ma.ok() && mb.ok());
  ASSERT_EQ((*ma)->size(), (*mb)->size());
  EXPECT_EQ(std::memcmp((*ma)->data(), (*mb)->data(), (*ma)->size()), 0);
  std::filesystem::remove(a);
  std::filesystem::remove(b);
}

// ---- 2. malformed files
// ----------------------------------------------------------------

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
      "bad shape");
  // A shape that disagrees with the arrays.
  ExpectRejected(
      "shape_mismatch", kInt4,
      [](RawFile& r) {
        SetField(r, "shape", {7, 100});
      },
      "codes has");
  // A group size that disagrees with the scales.
  ExpectRejected(
      "group_mismatch", kInt4,
      [](RawFile& r) { SetField(r, "group_size", 64); }, "scales has");
}

TEST(QuantizedSafetensorsHostile, CodesOfTheWrongSize) {
  ExpectRejected(
      "codes_short", kInt4,
      [](RawFile& r) {
        RawTensor* t = r.Find("w.qcodes");
        t->shape = {6, 49};  // 50 bytes a row are needed
        t->bytes.resize(6 * 49);
      },
      "codes has 294 entries, layout needs 300");
  ExpectRejected(
      "codes_long", kInt4,
      [](RawFile& r) {
        RawTensor* t = r.Find("w.qcodes");
        t->shape = {7, 50};
        t->bytes.resize(7 * 50);
      },
      "codes has 350 entries");
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
      "zeros has 12 entries");
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
TEST(QuantizedSafetensorsHostile, DISABLED_ElementCountOverflow) {
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

struct Models {
  std::string orig, quant, missing;
  std::map<std::string, std::vector<float>> values;  // originals, as f32
  std::map<std::string, std::shared_ptr<QuantizedTensor>> q;
};

// An original model (two f32 matrices, an f16 matrix, a 1-D f32 and an i64
// tensor), its int4 quantization (the three matrices) and a copy of the
// original lacking one matrix.
Models MakeModels() {
  Models m;
  m.orig = TempPath("cmp_orig");
  m.quant = TempPath("cmp_quant");
  m.missing = TempPath("cmp_missing");
  std::vector<OutputTensor> orig, quant, missing;
  const std::vector<std::pair<std::string, Shape>> mats = {
      {"a.weight", {16, 64}},
      {"b.weight", {8, 3, 3, 3}},
      {"c.weight", {6, 100}}};
  uint64_t seed = 100;
  for (const auto& [name, shape] : mats) {
    std::vector<float> x = TestData(shape, ++seed);
    const DType dt = name == "c.weight" ? DType::kF16 : DType::kF32;
    std::vector<uint8_t> bytes(
        static_cast<size_t>(StorageBytes(dt, NumElements(shape))));
    FromFloat(dt, x.data(), NumElements(shape), bytes.data());
    ToFloat(dt, bytes.data(), NumElements(shape), x.data());  // as stored
    orig.push_back(Plain(name, dt, shape, bytes));
    if (name != "b.weight") missing.push_back(Plain(name, dt, shape, bytes));
    auto q = Quantize(x.data(), shape, ConfigFor(AllSchemeCases()[0]), Pool());
    EXPECT_TRUE(q.ok());
    q->source_dtype = dt;
    m.q[name] = std::make_shared<QuantizedTensor>(std::move(q).value());
    quant.push_back(Quantized(name, m.q[name]));
    m.values[name] = x;
  }
  const std::vector<float> norm = {1.0f, 0.5f, -2.0f};
  const std::vector<int64_t> ids = {3, 1, 4, 1, 5};
  for (auto* v : {&orig, &quant, &missing}) {
    v->push_back(Plain("norm", DType::kF32, {3}, F32Bytes(norm)));
    v->push_back(Plain("ids", DType::kI64, {5}, I64Bytes(ids)));
  }
  m.values["norm"] = norm;
  EXPECT_TRUE(WriteSafetensorsModel(m.orig, orig, {}).ok());
  EXPECT_TRUE(WriteSafetensorsModel(m.quant, quant, {}).ok());
  EXPECT_TRUE(WriteSafetensorsModel(m.missing, missing, {}).ok());
  return m;
}

std::unique_ptr<SafetensorsModel> MustOpen(const std::string& path) {
  auto m = SafetensorsModel::Open(path);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : nullptr;
}

TEST(QuantizedSafetensorsCompare, ModelAgainstItself) {
  const Models m = MakeModels();
  auto a = MustOpen(m.orig);
  auto b = MustOpen(m.orig);
  ASSERT_TRUE(a && b);
  auto r = CompareModels(*a, *b, Pool());
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->tensors.size(), 5u);
  for (const TensorReport& t : r->tensors) {
    SCOPED_TRACE(t.name);
    EXPECT_FALSE(t.quantized);
    EXPECT_EQ(t.bytes_in, t.bytes_out);
    if (t.name == "ids") {
      EXPECT_EQ(t.stats.count, 0);
      EXPECT_EQ(t.scheme, "i64");
      continue;
    }
    EXPECT_EQ(t.stats.count, t.numel);
    EXPECT_EQ(t.stats.rel_rmse(), 0.0);
    EXPECT_EQ(t.stats.sum_sq_err, 0.0);
    EXPECT_EQ(t.stats.max_abs_err, 0.0);
    EXPECT_DOUBLE_EQ(t.stats.cosine(), 1.0);
    EXPECT_TRUE(std::isinf(t.stats.sqnr_db()));
  }
  EXPECT_EQ(r->total.rel_rmse(), 0.0);
  EXPECT_DOUBLE_EQ(r->total.cosine(), 1.0);
  EXPECT_EQ(r->params_quantized, 0);
  EXPECT_EQ(r->total_quantized.count, 0);
  EXPECT_EQ(r->bytes_in, r->bytes_out);
  // JSON has no infinity: an exact match reads 999 dB.
  const nlohmann::json j = ReportToJson(*r);
  EXPECT_EQ(j["total"]["sqnr_db"].get<double>(), 999.0);
  EXPECT_EQ(j["total"]["rel_rmse"].get<double>(), 0.0);
  for (const auto& p : {m.orig, m.quant, m.missing}) std::filesystem::remove(p);
}

TEST(QuantizedSafetensorsCompare, ModelAgainstItsInt4Quantization) {
  const Models m = MakeModels();
  auto a = MustOpen(m.orig);
  auto b = MustOpen(m.quant);
  ASSERT_TRUE(a && b);
  auto r = CompareModels(*a, *b, Pool());
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->tensors.size(), 5u);
  EXPECT_EQ(r->original, m.orig);
  EXPECT_EQ(r->quantized, m.quant);
  EXPECT_EQ(r->bytes_in, std::filesystem::file_size(m.orig));
  EXPECT_EQ(r->bytes_out, std::filesystem::file_size(m.quant));

  ErrorStats total, total_q;
  int64_t params = 0, params_q = 0;
  double bits_q = 0.0;
  for (const TensorReport& t : r->tensors) {
    SCOPED_TRACE(t.name);
    params += t.numel;
    const ModelTensor* ta = a->Find(t.name);
    const ModelTensor* tb = b->Find(t.name);
    ASSERT_TRUE(ta && tb);
    EXPECT_EQ(t.bytes_in, ta->stored_bytes);
    EXPECT_EQ(t.bytes_out, tb->stored_bytes);
    EXPECT_EQ(t.shape, ta->shape);
    if (t.name == "ids") {
      EXPECT_EQ(t.stats.count, 0);
      continue;
    }
    // Per-tensor statistics agree with an independent computation.
    ErrorStats want;
    const std::vector<float>& x = m.values.at(t.name);
    const std::vector<float> y = t.quantized ? Dequantize(*m.q.at(t.name)) : x;
    want.Add(x.data(), y.data(), static_cast<int64_t>(x.size()));
    EXPECT_EQ(t.stats.count, want.count);
    EXPECT_NEAR(t.stats.sum_sq_err, want.sum_sq_err,
                1e-9 * want.sum_sq_err + 1e-300);
    EXPECT_NEAR(t.stats.sum_sq_ref, want.sum_sq_ref, 1e-9 * want.sum_sq_ref);
    EXPECT_EQ(t.stats.max_abs_err, want.max_abs_err);
    EXPECT_NEAR(t.stats.rel_rmse(), want.rel_rmse(), 1e-9);
    EXPECT_NEAR(t.stats.cosine(), want.cosine(), 1e-9);
    total.Merge(t.stats);
    if (t.quantized) {
      EXPECT_EQ(t.scheme, "int4");
      EXPECT_EQ(t.granularity, "group:32");
      EXPECT_EQ(t.method, "mse");
      EXPECT_EQ(t.bits_per_weight, m.q.at(t.name)->BitsPerWeight());
      EXPECT_GT(t.stats.rel_rmse(), 0.0);
      EXPECT_LT(t.stats.rel_rmse(), 0.2);
      EXPECT_GT(t.stats.cosine(), 0.98);
      EXPECT_LT(t.stats.cosine(), 1.0);
      total_q.Merge(t.stats);
      params_q += t.numel;
      bits_q += t.bits_per_weight * static_cast<double>(t.numel);
    } else {
      EXPECT_EQ(t.stats.rel_rmse(), 0.0);
    }
  }
  EXPECT_EQ(r->params, params);
  EXPECT_EQ(r->params_quantized, params_q);
  EXPECT_EQ(params_q, 16 * 64 + 8 * 27 + 6 * 100);
  EXPECT_NEAR(r->bits_quantized, bits_q, 1e-9 * bits_q);
  EXPECT_EQ(r->total.count, total.count);
  EXPECT_NEAR(r->total.sum_sq_err, total.sum_sq_err, 1e-9 * total.sum_sq_err);
  EXPECT_NEAR(r->total.rel_rmse(), total.rel_rmse(), 1e-9);
  EXPECT_NEAR(r->total.cosine(), total.cosine(), 1e-9);
  EXPECT_EQ(r->total_quantized.count, total_q.count);
  EXPECT_EQ(r->total_quantized.count, params_q);
  EXPECT_NEAR(r->total_quantized.rel_rmse(), total_q.rel_rmse(), 1e-9);
  // Adding the exact tensors only lowers the relative error.
  EXPECT_LE(r->total.rel_rmse(), r->total_quantized.rel_rmse());
  EXPECT_EQ(r->total.max_abs_err, r->total_quantized.max_abs_err);

  const nlohmann::json j = ReportToJson(*r);
  EXPECT_EQ(j["tensors"].size(), 5u);
  EXPECT_EQ(j["total"]["params_quantized"].get<int64_t>(), params_q);
  EXPECT_NEAR(j["total"]["bits_per_quantized_weight"].get<double>(),
              bits_q / static_cast<double>(params_q), 1e-9);
  EXPECT_NEAR(j["total"]["rel_rmse"].get<double>(), total.rel_rmse(), 1e-9);
  for (const auto& p : {m.orig, m.quant, m.missing}) std::filesystem::remove(p);
}

TEST(QuantizedSafetensorsCompare, MissingTensorIsAnError) {
  const Models m = MakeModels();
  auto a = MustOpen(m.orig);
  auto b = MustOpen(m.missing);
  ASSERT_TRUE(a && b);
  auto r = CompareModels(*a, *b, Pool());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kBadInput);
  const std::string& msg = r.status().message();
  EXPECT_EQ(msg.rfind(m.missing + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find("'b.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(m.orig), std::string::npos) << msg;
  EXPECT_NE(msg.find("is missing"), std::string::npos) << msg;
  // The other way round every tensor is found (extra tensors are ignored).
  auto back = CompareModels(*b, *a, Pool());
  EXPECT_TRUE(back.ok()) << back.status().message();
  for (const auto& p : {m.orig, m.quant, m.missing}) std::filesystem::remove(p);
}

TEST(QuantizedSafetensorsCompare, ShapeMismatchIsAnError) {
  const Models m = MakeModels();
  const std::string other = TempPath("cmp_shape");
  std::vector<OutputTensor> out;
  out.push_back(Plain("a.weight", DType::kF32, {64, 16},
                      std::vector<uint8_t>(16 * 64 * 4, 0)));
  ASSERT_TRUE(WriteSafetensorsModel(other, out, {}).ok());
  auto a = MustOpen(m.orig);
  auto b = MustOpen(other);
  ASSERT_TRUE(a && b);
  auto r = CompareModels(*a, *b, Pool());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kBadInput);
  EXPECT_EQ(r.status().message().rfind(other + ": ", 0), 0u);
  EXPECT_NE(r.status().message().find("[64, 16]"), std::string::npos)
      << r.status().message();
  for (const auto& p : {m.orig, m.quant, m.missing, other}) {
    std::filesystem::remove(p);
  }
}

}  // namespace
}  // namespace lowbit
