// quantize --method gptq --stats on GGUF models (issue 14): statistics by
// tensor name give GPTQ on ggml's block types (quant/gptq_ggml.h) and, with
// the default method, the blocks' search weighted by E[x^2]; the written
// tensors have a lower layer-output error tr(D H D^T) than plain quantization.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "graph/calib_stats.h"
#include "io/calib_stats_file.h"
#include "io/gguf_model.h"
#include "kernels/linalg.h"
#include "tools/lowbit/cli_fixture.h"

namespace lowbit {
namespace {

using namespace testing_cli;

// H = X^T X / n of n = 2 cols inputs x_j = s_j (z_j + 0.7 z_(j-1)): columns
// of very different scales, each correlated with its neighbour (cheap for
// wide layers, unlike a dense mixing matrix).
std::vector<float> BandedHessian(int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> scale(cols);
  for (float& v : scale) v = std::exp(1.5f * nd(rng));
  const int64_t n = 2 * cols;
  std::vector<float> x(static_cast<size_t>(n * cols)), z(cols);
  for (int64_t s = 0; s < n; ++s) {
    for (float& v : z) v = nd(rng);
    for (int64_t j = 0; j < cols; ++j) {
      x[s * cols + j] = scale[j] * (z[j] + (j > 0 ? 0.7f * z[j - 1] : 0.0f));
    }
  }
  std::vector<float> h(static_cast<size_t>(cols * cols), 0.0f);
  AccumulateGram(x.data(), n, cols, h.data());
  SymmetrizeFromUpper(h.data(), cols);
  for (float& v : h) v /= static_cast<float>(n);
  return h;
}

class GgufGptqCli : public CliFixture {
 protected:
  GgufGptqCli() : CliFixture("out.gguf") {}

  void SetUp() override {
    CliFixture::SetUp();
    RunResult r =
        Run("synth -o " + P("m.safetensors") + " --layers 1 --dim 256");
    ASSERT_EQ(r.status, 0) << r.err;
    r = Run("convert " + P("m.safetensors") + " -o " + P("m.gguf"));
    ASSERT_EQ(r.status, 0) << r.err;
    auto m = GgufModel::Open(P("m.gguf"));
    ASSERT_TRUE(m.ok()) << m.status().message();
    model_ = std::move(m).value();
  }

  // A statistics file with correlated inputs for `names` (cols_extra added to
  // the columns of `bad`).
  void WriteStats(const std::string& file,
                  const std::vector<std::string>& names,
                  const std::string& bad = "") {
    std::mt19937 rng(11);
    std::map<std::string, graph::LayerStats> layers;
    for (const std::string& name : names) {
      const ModelTensor* t = model_->Find(name);
      ASSERT_NE(t, nullptr) << name;
      const int64_t cols = t->shape.back() + (name == bad ? 1 : 0);
      const std::vector<float> h = BandedHessian(cols, rng);
      graph::LayerStats s;
      s.weight = name;
      s.op = "MatMul";
      s.node = name;
      s.cols = cols;
      s.rows = 1;  // the sums are the means
      s.h.assign(h.begin(), h.end());
      s.sum_abs.resize(cols);
      s.sum_sq.resize(cols);
      for (int64_t i = 0; i < cols; ++i) {
        s.sum_sq[i] = h[i * cols + i];
        s.sum_abs[i] = std::sqrt(h[i * cols + i]);
      }
      s.outputs = NumElements(t->shape) / t->shape.back();
      s.out_count = 1;
      s.out_sum.assign(s.outputs, 0.0);
      s.out_sq.assign(s.outputs, 1.0);
      h_[name] = h;
      layers[name] = std::move(s);
    }
    CalibInfo info;
    info.model = "m.gguf";
    info.samples = 1;
    ASSERT_TRUE(WriteCalibStats(P(file), layers, info).ok());
  }

  // tr(D H D^T) of tensor `name` of `file` against m.gguf; with `diagonal`,
  // sum_i H_ii D_i^2 (the weighted search's own error).
  double LayerError(const std::string& file, const std::string& name,
                    bool diagonal = false) {
    auto q = GgufModel::Open(P(file));
    EXPECT_TRUE(q.ok());
    const ModelTensor* t = model_->Find(name);
    const ModelTensor* tq = (*q)->Find(name);
    auto x = model_->ReadFloat(*t);
    auto y = (*q)->ReadFloat(*tq);
    EXPECT_TRUE(x.ok() && y.ok());
    const int64_t cols = t->shape.back(), rows = x->size() / cols;
    const std::vector<float>& h = h_.at(name);
    double e = 0.0;
    std::vector<double> d(cols);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i < cols; ++i) {
        d[i] = double((*x)[r * cols + i]) - (*y)[r * cols + i];
      }
      for (int64_t i = 0; i < cols; ++i) {
        double acc = 0.0;
        for (int64_t j = 0; j < cols; ++j) {
          if (!diagonal || i == j) acc += h[i * cols + j] * d[j];
        }
        e += d[i] * acc;
      }
    }
    return e;
  }

  std::unique_ptr<GgufModel> model_;
  std::map<std::string, std::vector<float>> h_;
};

const char* const kQ = "layers.0.attn.q.weight";
const char* const kDown = "layers.0.mlp.down.weight";

TEST_F(GgufGptqCli, GptqAndWeightedSearchLowerTheLayerOutputError) {
  WriteStats("s.safetensors", {kQ, kDown});
  const std::string only = " --include 'attn\\.q|mlp\\.down'";
  for (const char* scheme : {"q4_k", "q3_k"}) {
    const std::string base =
        "quantize " + P("m.gguf") + " --scheme " + scheme + only;
    ASSERT_EQ(Run(base + " -q -o " + P("plain.gguf")).status, 0);
    ASSERT_EQ(
        Run(base + " --stats " + P("s.safetensors") + " -q -o " + P("w.gguf"))
            .status,
        0);
    const auto j = RunJson(base + " --method gptq --stats " +
                           P("s.safetensors") + " --json -o " + P("g.gguf"));
    ASSERT_TRUE(j.contains("gptq")) << j.dump();
    for (const char* name : {kQ, kDown}) {
      ASSERT_TRUE(j["gptq"].contains(name)) << j.dump();
      const double plain = LayerError("plain.gguf", name);
      const double weighted = LayerError("w.gguf", name);
      const double gptq = LayerError("g.gguf", name);
      // The report's figure is the file's (float sums against double).
      EXPECT_NEAR(j["gptq"][name]["gptq_error"].get<double>(), gptq,
                  1e-3 * gptq)
          << scheme << " " << name;
      // The weighted search: never worse under its own error (diag H).
      EXPECT_LE(LayerError("w.gguf", name, true),
                LayerError("plain.gguf", name, true) * (1 + 1e-9))
          << scheme << " " << name;
      EXPECT_LT(gptq, 0.8 * weighted) << scheme << " " << name;
      EXPECT_LT(gptq, 0.5 * plain) << scheme << " " << name;
      std::printf(
          "%s %s: layer-output error plain %.4g, weighted %.4g, "
          "gptq %.4g\n",
          scheme, name, plain, weighted, gptq);
    }
  }
}

TEST_F(GgufGptqCli, BadStatisticsAreRefusedByName) {
  WriteStats("bad.safetensors", {kQ}, kQ);  // one column too many
  ExpectBadInput("quantize " + P("m.gguf") +
                     " --scheme q4_k --method gptq --stats " +
                     P("bad.safetensors"),
                 P("bad.safetensors"), kQ);
  WriteStats("other.safetensors", {kDown});
  ExpectBadInput("quantize " + P("m.gguf") +
                     " --scheme q4_k --method gptq --include 'attn\\.q' "
                     "--stats " +
                     P("other.safetensors"),
                 P("other.safetensors"), "no statistics");
  // Options that do not apply: exit 2, nothing written.
  for (const std::string& args :
       {std::string("--method gptq"),
        std::string("--method awq --stats ") + P("other.safetensors"),
        std::string("--calib ") + P("")}) {
    const RunResult r = Run("quantize " + P("m.gguf") + " --scheme q4_k " +
                            args + " -o " + P("x.gguf"));
    EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
  }
}

}  // namespace
}  // namespace lowbit
