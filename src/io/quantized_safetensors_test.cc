// Round trips of the lowbit convention for quantized tensors in safetensors
// files: every scheme family written with WriteSafetensorsModel and read back
// with SafetensorsModel::Open gives the same arrays and bit-identical
// dequantized values.
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
#include "tests/support/quantized_safetensors_test_util.h"

namespace lowbit {
namespace {

using namespace testing_util;

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

}  // namespace
}  // namespace lowbit
