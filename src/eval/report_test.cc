// CompareModels: per-tensor and total statistics of a model against itself,
// against its quantization, and errors for missing or reshaped tensors.
#include "eval/report.h"

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
#include "eval/synthetic.h"
#include "io/quantized_safetensors.h"
#include "quant/quantize.h"
#include "tests/support/quantized_safetensors_test_util.h"

namespace lowbit {
namespace {

using namespace testing_util;

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
