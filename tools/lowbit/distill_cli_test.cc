// qat --distill's line views and hard decisions on a small line recognizer
// (x [1, 3, 48, W] -> Conv 48x8 stride 8 -> [1, 1, W/8, 6] -> MatMul ->
// Softmax over 5 classes): --augment text-line trains on changed lines whose
// fp32 outputs are computed on the same change (seeded: the same file twice,
// another without it); --hard-weight adds cross-entropy to fp32's decisions;
// --features learns intermediate values; --distill-loss mse learns the logits
// by the MSE (and a checkpoint of a KL run is not resumed by it);
// --distill-confidence leaves fp32's unsure rows out; each is refused where
// it does not apply.
#include <nlohmann/json.hpp>

#include "tests/support/onnx_builder.h"
#include "tools/lowbit/cli_fixture.h"

namespace lowbit::testing_cli {
namespace {

class DistillCli : public CliFixture {
 protected:
  DistillCli() : CliFixture("q.onnx") {}
  // The recognizer; without the Softmax, its output is the logits.
  static onnx::ModelProto LineModel(bool softmax) {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(13);
    onnx::GraphProto& g = *m.mutable_graph();
    g.set_name("line");
    auto* x = g.add_input();
    ValueInfo(x, "x", {1, 3, 48, 1});
    x->mutable_type()
        ->mutable_tensor_type()
        ->mutable_shape()
        ->mutable_dim(3)
        ->set_dim_param("w");
    *g.add_initializer() = Tensor("conv.w", {6, 3, 48, 8}, 1, true);
    *g.add_initializer() = Tensor("conv.b", {6}, 2, true);
    auto& c = Node(g, "Conv", {"x", "conv.w", "conv.b"}, "c");
    Ints(c, "strides", {48, 8});
    Node(g, "Relu", {"c"}, "r");
    Ints(Node(g, "Transpose", {"r"}, "t"), "perm", {0, 2, 3, 1});
    *g.add_initializer() = Tensor("fc.w", {6, 5}, 3, true);
    Node(g, "MatMul", {"t", "fc.w"}, "logits");
    if (softmax) Int(Node(g, "Softmax", {"logits"}, "y"), "axis", -1);
    auto* y = g.add_output();
    y->set_name(softmax ? "y" : "logits");
    y->mutable_type()->mutable_tensor_type()->set_elem_type(
        onnx::TensorProto::FLOAT);
    return m;
  }
  void SetUp() override {
    CliFixture::SetUp();
    Save(LineModel(true), P("line.onnx"));
    Save(LineModel(false), P("logits.onnx"));
    // Eight gray lines 40 high: dark bars of different widths and gaps.
    fs::create_directories(P("lines"));
    for (int i = 0; i < 8; ++i) {
      const int w = 120 + 10 * i, h = 40;
      std::string px(static_cast<size_t>(w * h), static_cast<char>(235));
      for (int yy = 10; yy < 30; ++yy) {
        for (int xx = 8; xx < w - 8; ++xx) {
          if ((xx / (3 + i % 4)) % 3 == 0) px[yy * w + xx] = 15;
        }
      }
      std::ofstream(P("lines/l" + std::to_string(i) + ".pgm"), std::ios::binary)
          << "P5 " << w << " " << h << " 255\n"
          << px;
    }
  }
  std::string Qat(const std::string& extra, const std::string& out) {
    return "qat " + P("line.onnx") + " --scheme int2 --calib " + P("lines") +
           " --calib-task ocr --distill --holdout 0 --epochs 12 --batch 2 "
           "--lr 3e-3 --threads 2 --json " +
           extra + " -o " + P(out);
  }
};

TEST_F(DistillCli, LineViewsAndHardDecisions) {
  const nlohmann::json plain = RunJson(Qat("", "plain.onnx"));
  const nlohmann::json a = RunJson(Qat("--augment text-line", "a.onnx"));
  RunJson(Qat("--augment text-line", "a2.onnx"));
  EXPECT_EQ(a["augment"], "text-line");
  EXPECT_EQ(a["distill"]["samples"], 8);
  EXPECT_EQ(a["epochs"].size(), 12u);
  // Seeded: the same file again; the views changed what was learned.
  EXPECT_TRUE(ReadAll(dir_ / "a.onnx") == ReadAll(dir_ / "a2.onnx"));
  EXPECT_FALSE(ReadAll(dir_ / "a.onnx") == ReadAll(dir_ / "plain.onnx"));
  // Learning from the changed lines still brings the unchanged ones closer
  // to fp32 than the start.
  EXPECT_LT(a["distill"]["qat_loss"].get<double>(),
            a["distill"]["ptq_loss"].get<double>())
      << a.dump();
  // --hard-weight: reported, in the loss (the start's loss is larger by the
  // cross-entropy), and another file.
  const nlohmann::json h = RunJson(Qat("--hard-weight 1", "h.onnx"));
  EXPECT_DOUBLE_EQ(h["hard_weight"].get<double>(), 1.0);
  EXPECT_GT(h["distill"]["ptq_loss"].get<double>(),
            plain["distill"]["ptq_loss"].get<double>());
  EXPECT_FALSE(ReadAll(dir_ / "h.onnx") == ReadAll(dir_ / "plain.onnx"));
}

// --features r: the Relu's output is learned too (its error to fp32's
// falls), the KL of the start is the same as without it, the file differs,
// and the written model keeps the one output it had.
TEST_F(DistillCli, IntermediateFeatures) {
  const nlohmann::json plain = RunJson(Qat("", "plain.onnx"));
  const nlohmann::json f =
      RunJson(Qat("--features r --feature-weight 2", "f.onnx"));
  EXPECT_EQ(f["features"], nlohmann::json::array({"r"}));
  EXPECT_DOUBLE_EQ(f["feature_weight"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(plain["feature_weight"].get<double>(), 0.0);
  const double before = f["distill"]["ptq_feature_error"].get<double>(),
               after = f["distill"]["qat_feature_error"].get<double>();
  EXPECT_GT(before, 0.0);
  EXPECT_LT(after, before) << f.dump();
  EXPECT_FALSE(plain["distill"].contains("ptq_feature_error"));
  EXPECT_DOUBLE_EQ(f["distill"]["ptq_loss"].get<double>(),
                   plain["distill"]["ptq_loss"].get<double>());
  EXPECT_FALSE(ReadAll(dir_ / "f.onnx") == ReadAll(dir_ / "plain.onnx"));
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(ReadAll(dir_ / "f.onnx")));
  ASSERT_EQ(m.graph().output_size(), 1);
  EXPECT_EQ(m.graph().output(0).name(), "y");
  // With line views and held-out lines: the features' targets come with
  // each changed line, and the held-out lines are judged by the output.
  std::string held = Qat("--features r --augment text-line", "v.onnx");
  held.replace(held.find("--holdout 0 "), 12, "--holdout 0.25 ");
  const nlohmann::json v = RunJson(held);
  EXPECT_EQ(v["distill"]["held_out"]["samples"], 2) << v.dump();
  EXPECT_LT(v["distill"]["qat_feature_error"].get<double>(),
            v["distill"]["ptq_feature_error"].get<double>())
      << v.dump();
  // Refused: a name no node computes, the output itself, features without
  // --distill, a weight without features.
  ExpectBadInput(Qat("--features nope", "bad.onnx"), P("line.onnx"),
                 "--features 'nope'", "");
  ExpectBadInput(Qat("--features logits", "bad.onnx"), P("line.onnx"),
                 "an output already", "");
  ExpectBadInput("qat " + P("line.onnx") + " --scheme int4 --features r",
                 "--features", "--distill");
  ExpectBadInput(Qat("--feature-weight 2", "bad.onnx"), "--feature-weight",
                 "--features", "");
}

// --distill-loss mse on a model that ends in a Softmax learns the logits by
// the mean squared error: the same losses, and the same quantized weights,
// as distilling the same model cut before its Softmax (whose output is
// learned by the MSE); the written file keeps its Softmax. kl is what auto
// chooses there: the same file as without the option.
TEST_F(DistillCli, MseOnTheLogits) {
  const nlohmann::json plain = RunJson(Qat("", "plain.onnx"));
  EXPECT_EQ(plain["distill"]["loss"], "kl on the logits");
  RunJson(Qat("--distill-loss kl", "kl.onnx"));
  EXPECT_TRUE(ReadAll(dir_ / "kl.onnx") == ReadAll(dir_ / "plain.onnx"));
  const nlohmann::json m = RunJson(Qat("--distill-loss mse", "m.onnx"));
  EXPECT_EQ(m["distill"]["loss"], "mse on the logits");
  std::string cut = Qat("", "cut.onnx");
  cut.replace(cut.find(P("line.onnx")), P("line.onnx").size(),
              P("logits.onnx"));
  const nlohmann::json c = RunJson(cut);
  EXPECT_EQ(c["distill"]["loss"], "mse");
  for (const char* k : {"ptq_loss", "qat_loss"}) {
    EXPECT_DOUBLE_EQ(m["distill"][k].get<double>(),
                     c["distill"][k].get<double>())
        << k;
  }
  EXPECT_LT(m["distill"]["qat_loss"].get<double>(),
            m["distill"]["ptq_loss"].get<double>())
      << m.dump();
  EXPECT_NE(m["distill"]["ptq_loss"].get<double>(),
            plain["distill"]["ptq_loss"].get<double>());
  onnx::ModelProto a, b;
  ASSERT_TRUE(a.ParseFromString(ReadAll(dir_ / "m.onnx")));
  ASSERT_TRUE(b.ParseFromString(ReadAll(dir_ / "cut.onnx")));
  ASSERT_EQ(a.graph().initializer_size(), b.graph().initializer_size());
  for (int i = 0; i < a.graph().initializer_size(); ++i) {
    EXPECT_EQ(a.graph().initializer(i).SerializeAsString(),
              b.graph().initializer(i).SerializeAsString())
        << a.graph().initializer(i).name();
  }
  EXPECT_EQ(a.graph().output(0).name(), "y");
  EXPECT_FALSE(ReadAll(dir_ / "m.onnx") == ReadAll(dir_ / "plain.onnx"));
  // A KL run's checkpoint is another run's.
  std::string resume = Qat("--distill-loss mse --checkpoint " + P("r.ckpt") +
                               " --resume " + P("k.ckpt"),
                           "r.onnx");
  RunJson(Qat("--checkpoint " + P("k.ckpt"), "k.onnx"));
  ExpectBadInput(resume, P("k.ckpt"), "another run", "");
  // Refused: an unknown loss, kl without logits, the hard decisions (a
  // cross-entropy added to the KL) with mse, the option without --distill.
  ExpectBadInput(Qat("--distill-loss l1", "bad.onnx"), "--distill-loss", "l1",
                 "");
  ExpectBadInput(
      "qat " + P("logits.onnx") + " --scheme int2 --calib " + P("lines") +
          " --calib-task ocr --distill --distill-loss kl -o " + P("bad.onnx"),
      P("logits.onnx"), "--distill-loss kl needs logits", "");
  ExpectBadInput(Qat("--distill-loss mse --hard-weight 1", "bad.onnx"),
                 "--hard-weight", "mse", "");
  ExpectBadInput("qat " + P("line.onnx") +
                     " --scheme int4 --distill-loss mse -o " + P("bad.onnx"),
                 "--distill-loss", "--distill", "");
}

// --distill-confidence P leaves out the rows (frames) whose fp32 top
// probability is below P: the report counts them; the start's loss is lower
// than without (the left-out rows add nothing); where every row is unsure
// nothing is learned (ten times the rate writes the same file);
// with --distill-unsure start they learn the start's output instead (the
// same loss at the start, then another loss and file); the threshold is part of
// the checkpoint's fingerprint; refused out of (0, 1), without --distill, with
// --hard-weight, without logits; --distill-unsure without the threshold or
// with changing samples.
TEST_F(DistillCli, ConfidenceLeavesOutUnsureRows) {
  const nlohmann::json plain = RunJson(Qat("", "plain.onnx"));
  const nlohmann::json c = RunJson(
      Qat("--distill-confidence 0.5 --checkpoint " + P("c.ckpt"), "c.onnx"));
  EXPECT_EQ(c["distill"]["confidence"].get<double>(), 0.5);
  const int64_t rows = c["distill"]["rows"].get<int64_t>();
  const int64_t unsure = c["distill"]["unsure_rows"].get<int64_t>();
  EXPECT_GT(rows, 0);
  EXPECT_GT(unsure, 0) << c.dump();
  EXPECT_LT(unsure, rows) << c.dump();
  EXPECT_LT(c["distill"]["ptq_loss"].get<double>(),
            plain["distill"]["ptq_loss"].get<double>());
  EXPECT_LT(c["distill"]["qat_loss"].get<double>(),
            c["distill"]["ptq_loss"].get<double>());
  EXPECT_FALSE(ReadAll(dir_ / "c.onnx") == ReadAll(dir_ / "plain.onnx"));
  // Every row unsure: no loss, no step.
  const nlohmann::json all =
      RunJson(Qat("--distill-confidence 0.9999", "all.onnx"));
  EXPECT_EQ(all["distill"]["unsure_rows"], all["distill"]["rows"]);
  EXPECT_EQ(all["distill"]["ptq_loss"].get<double>(), 0.0);
  EXPECT_EQ(all["distill"]["qat_loss"].get<double>(), 0.0);
  // Nothing moves: ten times the rate writes the same file.
  std::string fast = Qat("--distill-confidence 0.9999", "fast.onnx");
  fast.replace(fast.find("--lr 3e-3"), 9, "--lr 3e-2");
  RunJson(fast);
  EXPECT_TRUE(ReadAll(dir_ / "all.onnx") == ReadAll(dir_ / "fast.onnx"));
  ExpectBadInput(
      Qat("--checkpoint " + P("r.ckpt") + " --resume " + P("c.ckpt"), "r.onnx"),
      P("c.ckpt"), "another run", "");
  // --distill-unsure start: those rows learn the start's output instead.
  const nlohmann::json st = RunJson(
      Qat("--distill-confidence 0.5 --distill-unsure start", "st.onnx"));
  EXPECT_EQ(st["distill"]["unsure_learn"], "start");
  EXPECT_EQ(c["distill"]["unsure_learn"], "own");
  EXPECT_EQ(st["distill"]["unsure_rows"].get<int64_t>(), unsure);
  // At the start the model is the start: the same loss; then they part.
  EXPECT_EQ(st["distill"]["ptq_loss"].get<double>(),
            c["distill"]["ptq_loss"].get<double>());
  EXPECT_NE(st["distill"]["qat_loss"].get<double>(),
            c["distill"]["qat_loss"].get<double>());
  EXPECT_FALSE(ReadAll(dir_ / "st.onnx") == ReadAll(dir_ / "c.onnx"));
  ExpectBadInput(Qat("--distill-unsure start", "bad.onnx"), "--distill-unsure",
                 "--distill-confidence", "");
  ExpectBadInput(Qat("--distill-confidence 0.5 --distill-unsure start "
                     "--augment text-line",
                     "bad.onnx"),
                 "--distill-unsure start", "--augment", "");
  ExpectBadInput(Qat("--distill-confidence 1", "bad.onnx"),
                 "--distill-confidence", "(0, 1)", "");
  ExpectBadInput(Qat("--distill-confidence -0.5", "bad.onnx"),
                 "--distill-confidence", "(0, 1)", "");
  ExpectBadInput(Qat("--distill-confidence 0.5 --hard-weight 1", "bad.onnx"),
                 "--distill-confidence", "--hard-weight", "");
  ExpectBadInput("qat " + P("line.onnx") +
                     " --scheme int4 --distill-confidence 0.5 -o " +
                     P("bad.onnx"),
                 "--distill-confidence", "--distill", "");
  ExpectBadInput(
      "qat " + P("logits.onnx") + " --scheme int2 --calib " + P("lines") +
          " --calib-task ocr --distill --distill-confidence 0.5 -o " +
          P("bad.onnx"),
      P("logits.onnx"), "--distill-confidence needs logits", "");
}

TEST_F(DistillCli, RefusedWhereTheyDoNotApply) {
  // Text-line views need line images; labeled images take flip(-shift),
  // and distillation no other change.
  fs::create_directories(P("npy"));
  ExpectBadInput("qat " + P("line.onnx") + " --scheme int4 --calib " +
                     P("lines") + " --distill --augment text-line",
                 "--augment text-line", "--calib-task ocr");
  ExpectBadInput("qat " + P("line.onnx") + " --scheme int4 --augment text-line",
                 "--augment text-line", "flip");
  ExpectBadInput("qat " + P("line.onnx") + " --scheme int4 --calib " +
                     P("lines") + " --calib-task ocr --distill --augment flip",
                 "--augment flip", "text-line");
  // Hard decisions need --distill, and logits (a model without a final
  // Softmax learns by the mean squared error).
  Save(TinyModel(13), P("tiny.onnx"));
  for (int i = 0; i < 6; ++i) {
    WriteRandom(P("npy/s" + std::to_string(i) + ".npy"), {1, 4, 6, 6}, 20 + i);
  }
  ExpectBadInput("qat " + P("tiny.onnx") + " --scheme int4 --calib " +
                     P("npy") + " --distill --hard-weight 1",
                 P("tiny.onnx"), "--hard-weight needs logits");
  ExpectBadInput("qat " + P("line.onnx") + " --scheme int4 --hard-weight 1",
                 "--hard-weight", "--distill");
  ExpectBadInput("qat " + P("line.onnx") + " --scheme int4 --calib " +
                     P("lines") + " --distill --hard-weight -1",
                 "--hard-weight", "");
}

}  // namespace
}  // namespace lowbit::testing_cli
