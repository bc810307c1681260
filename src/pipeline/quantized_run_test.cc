// The ONNX files `lowbit quantize` writes, run on lowbit's engine: every
// quantized weight stays codes (lowbit's decode subgraph recognised from its
// metadata record, DequantizeLinear, MatMulNBits), and exact mode gives the
// outputs of the `--onnx-format float` file (lowbit's dequantized weights).
// An edited decode subgraph is not recognised, and still runs.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "graph/session.h"
#include "io/onnx_import.h"
#include "io/onnx_model.h"
#include "pipeline/quantize_model.h"
#include "tests/support/onnx_builder.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

struct Ran {
  graph::RunStats stats;
  std::vector<graph::Tensor> out;
};

Ran RunFile(const std::string& path, bool fast) {
  Ran r;
  auto g = ImportOnnx(path);
  EXPECT_TRUE(g.ok()) << g.status().message();
  if (!g.ok()) return r;
  graph::SessionOptions o;
  o.threads = 1;
  o.fast = fast;
  auto s = graph::Session::Create(*g, o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  if (!s.ok()) return r;
  graph::Tensor x = graph::Tensor::Zeros(DType::kF32, {1, 4, 6, 6});
  std::mt19937 rng(5);
  std::normal_distribution<float> d;
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = d(rng);
  auto out = (*s)->Run({{"x", x}});
  EXPECT_TRUE(out.ok()) << out.status().message();
  if (out.ok()) r.out = *out;
  r.stats = (*s)->stats();
  return r;
}

double MaxRel(const graph::Tensor& a, const graph::Tensor& b) {
  double err = 0, ref = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    err = std::max<double>(err,
                           std::fabs(a.data<float>()[i] - b.data<float>()[i]));
    ref = std::max<double>(ref, std::fabs(b.data<float>()[i]));
  }
  return ref > 0 ? err / ref : err;
}

class QuantizedRun : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lowbit_qrun_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    testing_cli::Save(testing_cli::TinyModel(13), dir_ / "tiny.onnx");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string P(const std::string& f) const { return (dir_ / f).string(); }
  int64_t Quantize(const std::string& scheme, int64_t group,
                   const std::string& format, const std::string& out,
                   bool asym = false, const std::string& zero = "auto") {
    QuantizeModelOptions o;
    o.model = P("tiny.onnx");
    o.out = out;
    o.scheme = scheme;
    o.group_size = group;
    o.asymmetric = asym;
    o.zero_point = zero;
    o.onnx_format = format;
    o.threads = 1;
    auto r = QuantizeModel(o);
    EXPECT_TRUE(r.ok()) << scheme << ": " << r.status().message();
    return r.ok() ? r->quantized : -1;
  }
  fs::path dir_;
};

TEST_F(QuantizedRun, EveryWeightStaysCodesAndExactModeIsTheFloatFile) {
  struct Case {
    std::string scheme;
    int64_t group;
    std::string format;
    bool asym;
    std::string zero = "auto";
  };
  const std::vector<Case> cases = {
      {"int4", 16, "decode", false},   {"int4", 0, "decode", true},
      {"int3", 16, "auto", false},     {"int2", 16, "auto", true, "code"},
      {"int2", 16, "decode", true},  // f16 zero points: decoded in fast mode
      {"nf4", 16, "auto", false},      {"kmeans3", 0, "auto", false},
      {"ternary", 0, "auto", false},   {"binary", 0, "auto", false},
      {"fp4_e2m1", 16, "auto", false}, {"int8", 0, "auto", true},
      {"int8", 0, "qdq", false},       {"int4", 16, "matmulnbits", false}};
  int k = 0;
  for (const Case& c : cases) {
    const std::string what = c.scheme + " / " + c.format;
    const std::string q = P("q" + std::to_string(k) + ".onnx");
    const std::string f = P("f" + std::to_string(k) + ".onnx");
    ++k;
    const int64_t n = Quantize(c.scheme, c.group, c.format, q, c.asym, c.zero);
    ASSERT_GT(n, 0) << what;
    ASSERT_EQ(Quantize(c.scheme, c.group, "float", f, c.asym, c.zero), n);
    const Ran rq = RunFile(q, false), rf = RunFile(f, false);
    EXPECT_EQ(rq.stats.quantized_weights, n) << what;
    EXPECT_EQ(rf.stats.quantized_weights, 0) << what;
    ASSERT_EQ(rq.out.size(), 1u) << what;
    ASSERT_EQ(rf.out.size(), 1u) << what;
    EXPECT_LT(MaxRel(rq.out[0], rf.out[0]), 1e-6) << what;
    // Fast mode: integer codes on int8 activations where QGemm runs them.
    const Ran fast = RunFile(q, true);
    ASSERT_EQ(fast.out.size(), 1u) << what;
    // The integer kernels take code zero points (int2's default is f16).
    const bool integer = c.scheme.rfind("int", 0) == 0 &&
                         !(c.scheme == "int2" && c.zero == "auto");
    if (integer) EXPECT_GT(fast.stats.fast_weights, 0) << what;
    if (!integer) EXPECT_EQ(fast.stats.fast_weights, 0) << what;
    EXPECT_LT(MaxRel(fast.out[0], rf.out[0]), 0.05) << what;
  }
}

TEST_F(QuantizedRun, AnEditedDecodeSubgraphIsNotRecognisedAndStillRuns) {
  const int64_t n = Quantize("int4", 16, "decode", P("q.onnx"));
  ASSERT_GT(n, 1);
  auto m = OnnxModel::Open(P("q.onnx"));
  ASSERT_TRUE(m.ok());
  onnx::ModelProto proto = (*m)->proto();
  // One weight's scale multiplication becomes a division: that weight must
  // now run as nodes, the others stay codes.
  std::string edited;
  for (onnx::NodeProto& node : *proto.mutable_graph()->mutable_node()) {
    if (node.op_type() == "Mul" &&
        node.output(0).find("/lowbit_values") != std::string::npos) {
      node.set_op_type("Div");
      edited = node.output(0).substr(0, node.output(0).find("/lowbit_"));
      break;
    }
  }
  ASSERT_FALSE(edited.empty());
  testing_cli::Save(proto, dir_ / "edited.onnx");
  auto em = OnnxModel::Open(P("edited.onnx"));
  ASSERT_TRUE(em.ok());
  const Ran r = RunFile(P("edited.onnx"), false);
  EXPECT_EQ(r.stats.quantized_weights, n - 1) << "edited: " << edited;
  ASSERT_EQ(r.out.size(), 1u);
  for (int64_t i = 0; i < r.out[0].numel(); ++i) {
    ASSERT_TRUE(std::isfinite(r.out[0].data<float>()[i]));
  }
}

}  // namespace
}  // namespace lowbit
