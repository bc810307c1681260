// lowbit train: a short run of the Fashion-MNIST CNN learns (test accuracy
// far above chance), the same seed gives the same file byte for byte, the
// written model computes in ONNX Runtime what it computes in lowbit's engine,
// and bad options or a missing dataset are refused with nothing written.
// Skipped with a message where dataset-fashion-mnist is not installed.
#include <cmath>
#include <fstream>
#include <sstream>

#include "io/npy.h"
#include "io/onnx_import.h"
#include "tools/lowbit/cli_fixture.h"
#include "train/fashion_mnist.h"

namespace lowbit::testing_cli {
namespace {

class TrainCli : public CliFixture {
 protected:
  TrainCli() : CliFixture("m.onnx") {}
  // ONNX Runtime's top-1 accuracy of `model` on the Fashion-MNIST test set
  // (tools/ort/fmnist_eval.js), or on its first `images` (0: all); -1 when
  // the script fails.
  double OrtAccuracy(const std::string& model, int images = 0) {
    const std::string cmd =
        "NODE_PATH=" + (kSource / "node_deps/node_modules").string() +
        " node " + (kSource / "tools/ort/fmnist_eval.js").string() + " " +
        model + " --images " + std::to_string(images) + " --json > " +
        P("ort.json");
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const auto o =
        nlohmann::json::parse(ReadAll(P("ort.json")), nullptr, false);
    return o.is_object() && o.contains("accuracy") ? o["accuracy"].get<double>()
                                                   : -1.0;
  }
};

bool HaveFashionMnist() {
  return fs::exists(std::string(kFashionMnistDir) +
                    "/train-images-idx3-ubyte.gz");
}

std::string Bytes(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST_F(TrainCli, ShortRunLearnsAndRepeats) {
  if (!HaveFashionMnist())
    GTEST_SKIP() << kFashionMnistDir
                 << " missing: apt-get install dataset-fashion-mnist";
  const std::string base =
      "train --arch fmnist-cnn --data fashion-mnist --max-steps 60 --batch 32 "
      "--threads 2 --json -o ";
  const auto j = RunJson(base + P("a.onnx"));
  ASSERT_TRUE(j.contains("test_accuracy")) << j.dump();
  EXPECT_EQ(j["parameters"], 225034);
  EXPECT_EQ(j["test_images"], 10000);
  // 60 steps of 32 images: far above the 10% of chance.
  EXPECT_GT(j["test_accuracy"].get<double>(), 0.5) << j.dump();
  ASSERT_EQ(j["epochs"].size(), 1u);
  // The same seed: the same file (scoring fewer test images changes no
  // weight).
  const auto b = RunJson(base + P("b.onnx") + " --test-images 500");
  EXPECT_EQ(b["test_images"], 500) << b.dump();
  EXPECT_EQ(Bytes(P("a.onnx")), Bytes(P("b.onnx")));
  // Training on fewer images is another run: its checkpoint is not resumed.
  ExpectBadInput(
      "train --max-steps 60 --batch 32 --threads 2 --train-images "
      "1000 --resume " +
          P("a.onnx.ckpt"),
      "another run", "the first 1000 images", "c.onnx");
  // lowbit eval on the written file: the accuracy the report gave.
  const auto e =
      RunJson("eval " + P("a.onnx") + " --task fashion-mnist --json");
  ASSERT_TRUE(e.contains("accuracy")) << e.dump();
  EXPECT_EQ(e["accuracy"].get<double>(), j["test_accuracy"].get<double>());
  EXPECT_EQ(e["images"], 10000);
  // --test-images: the first 500, as the train run scored them.
  const auto e500 = RunJson("eval " + P("b.onnx") +
                            " --task fashion-mnist --test-images 500 --json");
  EXPECT_EQ(e500["images"], 500);
  EXPECT_EQ(e500["accuracy"].get<double>(), b["test_accuracy"].get<double>());
  ExpectBadInput(
      "eval " + P("a.onnx") + " --task fashion-mnist --test-images 10001",
      "--test-images", "expected 0 (all) to 10000", "");
  ExpectBadInput("eval " + P("a.onnx") + " --task ocr --test-images 5",
                 "--test-images", "fashion-mnist", "");
  // ONNX Runtime computes what lowbit's engine computes: on test images, and
  // the accuracy over the whole test set (and over the first 500) within one
  // image.
  if (HaveOrt()) {
    EXPECT_NEAR(OrtAccuracy(P("a.onnx")), e["accuracy"].get<double>(), 1.5e-4);
    EXPECT_NEAR(OrtAccuracy(P("b.onnx"), 500), e500["accuracy"].get<double>(),
                2.5e-3);
    auto test = LoadFashionMnist(kFashionMnistDir, "test");
    ASSERT_TRUE(test.ok());
    graph::Tensor x = graph::Tensor::Zeros(DType::kF32, {16, 1, 28, 28});
    std::copy_n(test->images.data(), 16 * 784, x.data<float>());
    ASSERT_TRUE(WriteNpy(P("x.npy"), x).ok());
    EXPECT_LT(AgainstOrt(P("a.onnx"), "x=" + P("x.npy"), "t"), 1e-5);
  }
}

// lowbit qat on a briefly trained model: the written file holds codes (about
// the scheme's bits per weight), computes in ONNX Runtime what lowbit's
// engine computes (the test accuracy within one image), and its accuracy is
// the report's; int4 with LSQ and ternary with STE. The runs from here on
// score the first 1,000 test images (--test-images), to keep the tests
// quick under the sanitizers.
TEST_F(TrainCli, QatWritesAQuantizedModelThatRuns) {
  if (!HaveFashionMnist())
    GTEST_SKIP() << kFashionMnistDir
                 << " missing: apt-get install dataset-fashion-mnist";
  ASSERT_EQ(
      Run("train --max-steps 60 --batch 32 --threads 2 -q --test-images 1000 "
          "-o " +
          P("fp32.onnx"))
          .status,
      0);
  for (const std::string s : {"int4 --method lsq", "ternary --method ste"}) {
    const auto j = RunJson("qat " + P("fp32.onnx") + " --scheme " + s +
                           " --max-steps 30 --batch 32 --threads 2 "
                           "--test-images 1000 --json -o " +
                           P("q.onnx"));
    ASSERT_TRUE(j.contains("qat_accuracy")) << s << j.dump();
    EXPECT_EQ(j["optimizer"], "adam") << s;  // the defaults
    EXPECT_DOUBLE_EQ(j["lr"].get<double>(), 1e-3) << s;
    EXPECT_EQ(j["quantized_weights"], 4) << s;
    const double bits = j["weight_bits_per_param"].get<double>();
    EXPECT_LT(bits, s.rfind("int4", 0) == 0 ? 4.6 : 2.6) << s;
    EXPECT_GT(j["qat_accuracy"].get<double>(), 0.3) << s << j.dump();
    EXPECT_GT(j["fp32_accuracy"].get<double>(), 0.5) << s;
    EXPECT_EQ(j["test_images"], 1000) << s;
    const auto e = RunJson("eval " + P("q.onnx") +
                           " --task fashion-mnist --test-images 1000 --json");
    EXPECT_EQ(e["accuracy"].get<double>(), j["qat_accuracy"].get<double>())
        << s;
    if (HaveOrt()) {
      EXPECT_NEAR(OrtAccuracy(P("q.onnx"), 1000), e["accuracy"].get<double>(),
                  1.5e-3)
          << s;
    }
  }
  ExpectBadInput("qat " + P("fp32.onnx") + " --scheme nf4", "--scheme nf4",
                 "int2..int8");
  ExpectBadInput("qat " + P("none.onnx") + " --scheme int4", P("none.onnx"),
                 "");
  ExpectBadInput("qat " + P("fp32.onnx") + " --scheme int4 --test-images -1",
                 "--test-images", "");
}

// --validation: the last N training images are held out; their error is
// measured before training and after every epoch, and the best state is the
// one written (the start included).
TEST_F(TrainCli, ValidationSplitChoosesTheWrittenEpoch) {
  if (!HaveFashionMnist())
    GTEST_SKIP() << kFashionMnistDir
                 << " missing: apt-get install dataset-fashion-mnist";
  const auto j = RunJson(
      "train --max-steps 40 --batch 32 --threads 2 --validation 500 "
      "--test-images 1000 --json -o " +
      P("v.onnx"));
  ASSERT_TRUE(j.contains("validation")) << j.dump();
  const auto& v = j["validation"];
  EXPECT_EQ(v["images"], 500);
  EXPECT_EQ(j["train_images"], 60000 - 500);
  // From random weights (about 90% wrong) to a trained epoch well below.
  EXPECT_GT(v["start_error"].get<double>(), 0.7) << v.dump();
  EXPECT_LT(v["best_error"].get<double>(), 0.5) << v.dump();
  EXPECT_EQ(v["written_epoch"], 1) << v.dump();
  ASSERT_EQ(j["epochs"].size(), 1u);
  EXPECT_EQ(j["epochs"][0]["validation"].get<double>(),
            v["best_error"].get<double>());
  // QAT from it: the start (the post-training model) is a candidate too.
  const auto q = RunJson("qat " + P("v.onnx") +
                         " --scheme int4 --max-steps 20 --batch 32 --threads 2 "
                         "--validation 500 --test-images 1000 --json -o " +
                         P("vq.onnx"));
  ASSERT_TRUE(q.contains("validation")) << q.dump();
  const auto& qv = q["validation"];
  EXPECT_LE(qv["best_error"].get<double>(), qv["start_error"].get<double>());
  EXPECT_GE(qv["written_epoch"].get<int>(), 0);
  EXPECT_LE(qv["written_epoch"].get<int>(), 1);
  ExpectBadInput("train --validation 60000 --max-steps 1", "60000",
                 "validation", "m.onnx");
  ExpectBadInput("train --train-images 60001 --max-steps 1", "--train-images",
                 "expected 0 (all) to 60000");
  ExpectBadInput("qat " + P("v.onnx") + " --calib " + P("lines") +
                     " --distill --validation 10",
                 "--validation", "--holdout");
  ExpectBadInput("qat " + P("v.onnx") + " --calib " + P("lines") +
                     " --distill --test-images 10",
                 "--test-images", "--distill");
  // The fp32 model's outputs as soft targets beside the labels (on the
  // first 2,000 training images: the teacher's logits are computed for all
  // the images trained on).
  const auto t = RunJson("qat " + P("v.onnx") +
                         " --scheme int4 --max-steps 20 --batch 32 --threads 2 "
                         "--teacher-weight 0.5 --train-images 2000 "
                         "--test-images 1000 --json -o " +
                         P("tq.onnx"));
  ASSERT_TRUE(t.contains("qat_accuracy")) << t.dump();
  EXPECT_EQ(t["train_images"], 2000);
  // The same run on another number of images is another run.
  ExpectBadInput(
      "qat " + P("v.onnx") +
          " --scheme int4 --max-steps 20 --batch 32 --threads 2 "
          "--teacher-weight 0.5 --train-images 1000 --test-images 100 "
          "--resume " +
          P("tq.onnx.ckpt"),
      "another run", "the first 1000 images");
  EXPECT_EQ(t["teacher_weight"].get<double>(), 0.5);
  EXPECT_GT(t["qat_accuracy"].get<double>(), 0.3) << t.dump();
  ExpectBadInput("qat " + P("v.onnx") + " --teacher-weight 0.5 --augment flip",
                 "--teacher-weight", "--augment");
  ExpectBadInput("qat " + P("v.onnx") + " --teacher-weight 2",
                 "--teacher-weight", "");
}

// --augment: seeded per step (the same options, the same file), and the
// images do change (a different file than without it).
TEST_F(TrainCli, AugmentationIsSeeded) {
  if (!HaveFashionMnist())
    GTEST_SKIP() << kFashionMnistDir
                 << " missing: apt-get install dataset-fashion-mnist";
  const std::string base =
      "train --max-steps 20 --batch 32 --threads 2 -q --checkpoint none "
      "--test-images 100 ";
  for (const std::string a : {"flip", "flip-shift"}) {
    ASSERT_EQ(Run(base + "--augment " + a + " -o " + P("a.onnx")).status, 0);
    ASSERT_EQ(Run(base + "--augment " + a + " -o " + P("b.onnx")).status, 0);
    EXPECT_EQ(Bytes(P("a.onnx")), Bytes(P("b.onnx"))) << a;
    ASSERT_EQ(Run(base + "-o " + P("c.onnx")).status, 0);
    EXPECT_NE(Bytes(P("a.onnx")), Bytes(P("c.onnx"))) << a;
  }
  ExpectBadInput(base + "--augment rotate", "--augment", "rotate");
}

// BatchNormalization in training mode: fmnist-cnn-bn trains on each batch's
// statistics and writes the running ones it updated (the file computes in
// ONNX Runtime what lowbit's engine computes, and learns); qat --batchnorm
// train trains both of its BatchNormalizations so.
TEST_F(TrainCli, BatchNormTrainsInTrainingMode) {
  if (!HaveFashionMnist())
    GTEST_SKIP() << kFashionMnistDir
                 << " missing: apt-get install dataset-fashion-mnist";
  const auto j = RunJson(
      "train --arch fmnist-cnn-bn --max-steps 40 --batch 32 --threads 2 "
      "--test-images 1000 --json -o " +
      P("bn.onnx"));
  ASSERT_TRUE(j.contains("test_accuracy")) << j.dump();
  EXPECT_EQ(j["parameters"], 225034 + 2 * (32 + 64));
  EXPECT_GT(j["test_accuracy"].get<double>(), 0.5) << j.dump();
  // The running statistics were updated from their start (mean 0, var 1).
  auto g = ImportOnnx(P("bn.onnx"));
  ASSERT_TRUE(g.ok()) << g.status().message();
  for (const char* name : {"bn1.running_mean", "bn2.running_var"}) {
    const int id = (*g)->Find(name);
    ASSERT_GE(id, 0) << name;
    const graph::Tensor& t = (*g)->constants.at(id);
    const float start = std::string(name).ends_with("mean") ? 0.0f : 1.0f;
    int moved = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
      moved += std::fabs(t.data<float>()[i] - start) > 1e-3f;
    }
    EXPECT_GT(moved, t.numel() / 2) << name;
  }
  // The written running statistics are used: ONNX Runtime agrees.
  if (HaveOrt()) {
    auto test = LoadFashionMnist(kFashionMnistDir, "test");
    ASSERT_TRUE(test.ok());
    graph::Tensor x = graph::Tensor::Zeros(DType::kF32, {8, 1, 28, 28});
    std::copy_n(test->images.data(), 8 * 784, x.data<float>());
    ASSERT_TRUE(WriteNpy(P("x.npy"), x).ok());
    EXPECT_LT(AgainstOrt(P("bn.onnx"), "x=" + P("x.npy"), "bn"), 1e-4);
  }
  std::string frozen;
  for (const std::string mode : {"frozen", "train"}) {
    const auto q =
        RunJson("qat " + P("bn.onnx") +
                " --scheme int4 --max-steps 10 --batch 32 "
                "--threads 2 --test-images 1000 --json --batchnorm " +
                mode + " -o " + P("q" + mode + ".onnx"));
    ASSERT_TRUE(q.contains("qat_accuracy")) << q.dump();
    EXPECT_EQ(q["batchnorm_nodes_trained"], mode == "train" ? 2 : 0);
    EXPECT_GT(q["qat_accuracy"].get<double>(), 0.3) << q.dump();
  }
  EXPECT_NE(Bytes(P("qfrozen.onnx")), Bytes(P("qtrain.onnx")));
  ExpectBadInput("qat " + P("bn.onnx") + " --batchnorm train --resume " +
                     P("bn.onnx.ckpt"),
                 "--batchnorm train", "running statistics");
}

TEST_F(TrainCli, RefusesBadInput) {
  ExpectBadInput("train --data-dir " + P("nowhere"), P("nowhere"),
                 "dataset-fashion-mnist");
  ExpectBadInput("train --arch resnet", "--arch resnet", "fmnist-cnn");
  ExpectBadInput("train --data cifar", "--data cifar", "fashion-mnist");
  ExpectBadInput("train --epochs 0", "--epochs", "");
  ExpectBadInput("train", "-o " + P("m.txt"), ".onnx", "m.txt");
  ExpectBadInput("eval " + P("m.onnx") + " --task fashion-mnist --data-dir " +
                     P("nowhere"),
                 P("nowhere"), "dataset-fashion-mnist", "");
}

}  // namespace
}  // namespace lowbit::testing_cli
