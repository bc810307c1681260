// `quantize --method brecq` (block reconstruction, pipeline/brecq.h) on the
// test's tiny model: every block's output error is at most GPTQ's start, the
// learned rounding is kept (and the weights named brecq) exactly where it is
// lower, the written file computes the error the last block reports, runs
// are repeatable, and bad options are refused with nothing written.
#include <nlohmann/json.hpp>

#include "io/npy.h"
#include "tests/support/onnx_builder.h"
#include "tools/lowbit/cli_fixture.h"

namespace lowbit::testing_cli {
namespace {

class BrecqCli : public CliFixture {
 protected:
  BrecqCli() : CliFixture("q.onnx") {}
  static constexpr int kSamples = 12;
  void SetUp() override {
    CliFixture::SetUp();
    Save(TinyModel(13), P("tiny.onnx"));
    fs::create_directories(P("calib"));
    for (int i = 0; i < kSamples; ++i) {
      WriteRandom(P("calib/s" + std::to_string(100 + i) + ".npy"), {1, 4, 6, 6},
                  40 + i);
    }
  }
  // The model's output on calibration sample i.
  std::vector<float> Output(const std::string& model, int i) {
    const std::string dir = P("out_" + std::to_string(i));
    const RunResult r = Run("run " + model + " --input x=" +
                            P("calib/s" + std::to_string(100 + i) + ".npy") +
                            " --output-dir " + dir + " --threads 1 -q");
    EXPECT_EQ(r.status, 0) << r.err;
    auto t = ReadNpy(dir + "/y.npy");
    EXPECT_TRUE(t.ok()) << t.status().message();
    if (!t.ok()) return {};
    fs::remove_all(dir);
    return std::vector<float>(t->data<float>(), t->data<float>() + t->numel());
  }
};

TEST_F(BrecqCli, BlocksNeverWorseThanGptqAndTheFileMatchesTheReport) {
  const std::string base =
      "quantize " + P("tiny.onnx") +
      " --scheme int2 --per-channel --asymmetric --calib " + P("calib") +
      " --threads 2 --json";
  const nlohmann::json q = RunJson(base + " --method brecq -o " + P("q.onnx"));
  ASSERT_TRUE(q.contains("brecq")) << q.dump();
  const nlohmann::json& b = q["brecq"];
  EXPECT_EQ(b["samples"], kSamples);
  // conv1 + relu, the depthwise conv, the MatMul, the Gemm (and the Add of
  // the constant-only Gather).
  ASSERT_EQ(b["blocks"].size(), 4u) << b.dump();
  int kept = 0;
  std::map<std::string, bool> kept_weight;
  for (const auto& blk : b["blocks"]) {
    const double e0 = blk["start_error"], e = blk["error"],
                 e1 = blk["reconstructed_error"];
    EXPECT_GT(e0, 0.0) << blk.dump();
    EXPECT_LE(e, e0) << blk.dump();
    EXPECT_EQ(blk["kept"].get<bool>(), e1 < e0) << blk.dump();
    EXPECT_EQ(e, std::min(e0, e1)) << blk.dump();
    kept += blk["kept"].get<bool>();
    for (const auto& w : blk["weights"]) kept_weight[w] = blk["kept"];
  }
  EXPECT_EQ(b["kept_blocks"], kept);
  // The learning lowers the blocks' error.
  EXPECT_GE(kept, 1) << b.dump();
  EXPECT_LT(b["error_over_start"].get<double>(), 1.0) << b.dump();
  for (const auto& w : q["weights"]) {
    const std::string name = w["name"];
    ASSERT_TRUE(kept_weight.count(name)) << name;
    EXPECT_EQ(w["method"], kept_weight[name] ? "brecq" : "gptq") << name;
  }
  // The last block's output is the model's: its error, recomputed from the
  // written file's outputs against fp32's, is the one reported.
  double mse = 0.0;
  for (int i = 0; i < kSamples; ++i) {
    const std::vector<float> y = Output(P("q.onnx"), i);
    const std::vector<float> ref = Output(P("tiny.onnx"), i);
    ASSERT_EQ(y.size(), ref.size());
    ASSERT_FALSE(y.empty());
    double s = 0.0;
    for (size_t k = 0; k < y.size(); ++k) {
      s += (double{y[k]} - ref[k]) * (double{y[k]} - ref[k]);
    }
    mse += s / static_cast<double>(y.size()) / kSamples;
  }
  const double last = b["blocks"].back()["error"];
  EXPECT_NEAR(mse, last, 1e-3 * last) << b.dump();
  // The same command writes the same file.
  const nlohmann::json again =
      RunJson(base + " --method brecq -o " + P("q2.onnx"));
  EXPECT_EQ(ReadAll(P("q.onnx")), ReadAll(P("q2.onnx")));
}

// The tiny model ending in a Softmax: the logits are matched by their KL,
// a block's learned rounding is kept only where the model's decisions on the
// samples are not worse, and the whole model with the written weights gives
// the last block's error (both losses).
TEST_F(BrecqCli, WithASoftmaxKeptBlocksChangeNoMoreDecisions) {
  onnx::ModelProto m = TinyModel(13);
  onnx::GraphProto& g = *m.mutable_graph();
  g.mutable_node(g.node_size() - 1)->set_output(0, "z");
  Int(Node(g, "Softmax", {"z"}, "y"), "axis", -1);
  Save(m, P("soft.onnx"));
  for (const char* loss : {"mse", "fisher"}) {
    const nlohmann::json q = RunJson(
        "quantize " + P("soft.onnx") +
        " --scheme int2 --per-channel --asymmetric --calib " + P("calib") +
        " --threads 2 --json --method brecq --brecq-loss " + loss + " -o " +
        P("s.onnx"));
    ASSERT_TRUE(q.contains("brecq")) << loss;
    const nlohmann::json& b = q["brecq"];
    EXPECT_NE(b["matched"].get<std::string>().find("logits"),
              std::string::npos);
    EXPECT_NE(b["loss"].get<std::string>().find(
                  std::string(loss) == "fisher" ? "fisher" : "mse"),
              std::string::npos)
        << b["loss"];
    int judged = 0;
    for (const auto& blk : b["blocks"]) {
      EXPECT_LE(blk["error"].get<double>(), blk["start_error"].get<double>());
      if (!blk.contains("start_decision_errors")) {
        // Not judged: the learned rounding's error was not lower.
        EXPECT_FALSE(blk["kept"].get<bool>()) << blk.dump();
        continue;
      }
      ++judged;
      EXPECT_EQ(blk["kept"].get<bool>(),
                blk["reconstructed_decision_errors"].get<int64_t>() <=
                    blk["start_decision_errors"].get<int64_t>())
          << blk.dump();
    }
    EXPECT_GE(judged, 1) << b.dump();
    EXPECT_LE(b["decision_errors"].get<int64_t>(),
              b["start_decision_errors"].get<int64_t>())
        << "each kept block changed no more decisions than the state before "
           "it; "
        << b.dump();
    const double last = b["output_error"];
    EXPECT_NEAR(b["whole_model_output_error"].get<double>(), last,
                1e-4 * last + 1e-9)
        << loss;
  }
}

TEST_F(BrecqCli, BadOptionsAreRefused) {
  const std::string base = "quantize " + P("tiny.onnx") + " --scheme int3 ";
  ExpectBadInput(base + "--method brecq", "--calib", "--method brecq needs");
  ExpectBadInput(base + "--method brecq --calib " + P("nowhere"), "nowhere",
                 "");
  ExpectBadInput(
      base + "--method brecq --calib " + P("calib") + " --brecq-iterations 0",
      "--brecq-iterations", "");
  // No weight the learned rounding takes.
  ExpectBadInput("quantize " + P("tiny.onnx") +
                     " --scheme nf4 --method brecq --calib " + P("calib"),
                 P("tiny.onnx"), "no integer-quantized weight");
}

}  // namespace
}  // namespace lowbit::testing_cli
