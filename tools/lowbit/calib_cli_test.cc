// `lowbit stats` and calibrated `quantize` (--calib, --stats, --method gptq)
// on the test's tiny model: the statistics cover its four weight layers, GPTQ
// lowers their layer-output error against round-to-nearest, --calib and
// --stats give the same file, and bad calibration input is refused by name
// with nothing written.
#include <onnx/onnx_pb.h>

#include <map>
#include <nlohmann/json.hpp>

#include "io/npy.h"
#include "tests/support/onnx_builder.h"
#include "tools/lowbit/cli_fixture.h"

namespace lowbit::testing_cli {
namespace {

class CalibCli : public CliFixture {
 protected:
  CalibCli() : CliFixture("") {}
  // The tiny model and `n` random inputs in DIR/calib.
  void Prepare(int n) {
    Save(TinyModel(13), P("tiny.onnx"));
    fs::create_directories(P("calib"));
    for (int i = 0; i < n; ++i) {
      WriteRandom(P("calib/s" + std::to_string(100 + i) + ".npy"), {1, 4, 6, 6},
                  10 + i);
    }
  }
};

TEST_F(CalibCli, StatsThenGptqLowersTheLayerError) {
  Prepare(24);
  const nlohmann::json st =
      RunJson("stats " + P("tiny.onnx") + " --calib " + P("calib") + " -o " +
              P("s.safetensors") + " --json --threads 1");
  EXPECT_EQ(st["samples"], 24);
  EXPECT_EQ(st["layers"], 4);  // conv1.w, dw.w (8 groups), fc.w, out.w
  for (const char* scheme :
       {"--scheme int3 --per-channel", "--scheme int4 --group-size 16",
        "--scheme int2 --per-channel --asymmetric"}) {
    const nlohmann::json q = RunJson(
        "quantize " + P("tiny.onnx") + " -o " + P("q.onnx") + " " + scheme +
        " --method gptq --stats " + P("s.safetensors") + " --json --threads 2");
    ASSERT_TRUE(q.contains("layer_error_over_rtn")) << scheme;
    EXPECT_LT(q["layer_error_over_rtn"].get<double>(), 1.0) << scheme;
    EXPECT_EQ(q["calibration"]["weights_with_statistics"], 4) << scheme;
    int gptq = 0;
    for (const auto& w : q["weights"]) {
      if (w["method"] == "gptq") {
        ++gptq;
        EXPECT_LE(w["layer_error"].get<double>(),
                  w["layer_error_by_method"]["mse (weighted)"].get<double>())
            << scheme << " " << w["name"];
      }
    }
    EXPECT_EQ(gptq, 4) << scheme;  // emb.w is not quantized without --gather
  }
  // AdaRound (on GPTQ's scales): no layer's error above GPTQ's, nor the
  // mse fit's; the total below.
  for (const char* scheme :
       {"--scheme int3 --per-channel", "--scheme int2 --group-size 16"}) {
    const nlohmann::json q =
        RunJson("quantize " + P("tiny.onnx") + " -o " + P("q.onnx") + " " +
                scheme + " --method adaround --stats " + P("s.safetensors") +
                " --json --threads 2");
    EXPECT_LT(q["layer_error_over_rtn"].get<double>(), 1.0) << scheme;
    for (const auto& w : q["weights"]) {
      EXPECT_EQ(w["method"], "adaround") << scheme;
      EXPECT_LE(w["layer_error"].get<double>(),
                w["layer_error_by_method"]["gptq"].get<double>())
          << scheme << " " << w["name"];
      EXPECT_LE(w["layer_error"].get<double>(),
                w["layer_error_by_method"]["mse (weighted)"].get<double>())
          << scheme << " " << w["name"];
    }
  }
  // AWQ: never above round-to-nearest's layer error; each reader of a scaled
  // weight gets a Mul on its input, and the file still computes the model.
  const nlohmann::json awq =
      RunJson("quantize " + P("tiny.onnx") + " -o " + P("awq.onnx") +
              " --scheme int3 --per-channel --method awq --stats " +
              P("s.safetensors") + " --json");
  for (const auto& w : awq["weights"]) {
    if (!w.contains("layer_error")) continue;
    EXPECT_EQ(w["method"], "awq") << w.dump();
    EXPECT_LE(w["layer_error"].get<double>(),
              w["layer_error_by_method"]["mse (weighted)"].get<double>())
        << w.dump();
  }
  WriteRandom(P("xa.npy"), {1, 4, 6, 6}, 98);
  const nlohmann::json ca =
      RunJson("eval " + P("awq.onnx") + " --task compare --reference " +
              P("tiny.onnx") + " --input x=" + P("xa.npy") + " --json");
  EXPECT_GT(ca["outputs"][0]["cosine"].get<double>(), 0.9) << ca.dump();
  // auto keeps, per layer, the method of lowest layer-output error.
  const nlohmann::json a =
      RunJson("quantize " + P("tiny.onnx") + " -o " + P("auto.onnx") +
              " --scheme int3 --group-size 16 --method auto --stats " +
              P("s.safetensors") + " --json");
  int layers = 0;
  for (const auto& w : a["weights"]) {
    if (!w.contains("layer_error")) continue;
    ++layers;
    double lowest = 1e300;
    for (const auto& [name, e] : w["layer_error_by_method"].items()) {
      lowest = std::min(lowest, e.get<double>());
    }
    EXPECT_EQ(w["layer_error"].get<double>(), lowest) << w.dump();
    EXPECT_EQ(w["layer_error_by_method"].size(), 4u) << w.dump();
    EXPECT_EQ(w["layer_error_by_method"][w["method"].get<std::string>()],
              w["layer_error"])
        << w.dump();
  }
  EXPECT_EQ(layers, 4);
  // Collecting on the fly gives the same file as the statistics file.
  ASSERT_EQ(Run("quantize " + P("tiny.onnx") + " -o " + P("a.onnx") +
                " --scheme int3 --per-channel --method gptq --stats " +
                P("s.safetensors") + " -q --threads 1")
                .status,
            0);
  ASSERT_EQ(Run("quantize " + P("tiny.onnx") + " -o " + P("b.onnx") +
                " --scheme int3 --per-channel --method gptq --calib " +
                P("calib") + " -q --threads 1")
                .status,
            0);
  EXPECT_EQ(ReadAll(P("a.onnx")), ReadAll(P("b.onnx")));
  // The file runs, and its outputs are near the float model's.
  WriteRandom(P("x.npy"), {1, 4, 6, 6}, 99);
  const nlohmann::json cmp =
      RunJson("eval " + P("a.onnx") + " --task compare --reference " +
              P("tiny.onnx") + " --input x=" + P("x.npy") + " --json");
  EXPECT_GT(cmp["outputs"][0]["cosine"].get<double>(), 0.9) << cmp.dump();
}

// Sensitivity ranks layers by measured output error, and fewer bits never
// help; --target-bpw never exceeds its budget, in the file as written.
// Sequential calibration: pass 2 takes each layer's inputs from the model
// quantized with pass 1's statistics, which differ from the fp32 ones; the
// report says so, and no intermediate file is left.
TEST_F(CalibCli, SequentialPassesTakeTheQuantizedModelsInputs) {
  Prepare(12);
  const std::string base = "quantize " + P("tiny.onnx") +
                           " --scheme int2 --group-size 16 --method gptq "
                           "--threads 2 --json --calib " +
                           P("calib");
  const nlohmann::json one = RunJson(base + " -o " + P("one.onnx"));
  const nlohmann::json two =
      RunJson(base + " --calib-passes 2 -o " + P("two.onnx"));
  EXPECT_EQ(one["calibration"]["mode"], "fp32");
  EXPECT_NE(two["calibration"]["mode"].get<std::string>().find(
                "sequential, pass 2 of 2"),
            std::string::npos)
      << two["calibration"].dump();
  EXPECT_EQ(two["calibration"]["weights_with_statistics"], 4);
  // Different statistics give different codes somewhere.
  EXPECT_NE(ReadAll(dir_ / "one.onnx"), ReadAll(dir_ / "two.onnx"));
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().string().find("lowbit-pass"), std::string::npos)
        << e.path();
  }
  // Only with --calib (the samples are run again), 1 to 8 passes.
  for (const std::string& bad :
       {std::string("--stats ") + P("none.safetensors"), std::string("")}) {
    const RunResult r =
        Run("quantize " + P("tiny.onnx") + " --scheme int4 --calib-passes 2 " +
            bad + " -o " + P("x.onnx"));
    EXPECT_EQ(r.status, 2) << bad << "\n" << r.err;
  }
  EXPECT_EQ(Run(base + " --calib-passes 9 -o " + P("x.onnx")).status, 2);
  EXPECT_FALSE(fs::exists(dir_ / "x.onnx"));
}

// Distillation QAT without labels: the quantized model learns the fp32
// model's outputs on the calibration samples (KL on the logits when the model
// ends in a Softmax, else the mean squared error); the loss falls below the
// starting point's, runs repeat byte for byte, and the written file computes
// the same in ONNX Runtime as on lowbit's engine, close to fp32.
TEST_F(CalibCli, DistillationQatLearnsTheFp32Outputs) {
  Prepare(12);
  onnx::ModelProto soft = TinyModel(13);
  onnx::GraphProto& g = *soft.mutable_graph();
  g.mutable_node(g.node_size() - 1)->set_output(0, "logits");
  g.mutable_node(g.node_size() - 1)->set_name("logits");
  Int(Node(g, "Softmax", {"logits"}, "y"), "axis", -1);
  Save(soft, P("soft.onnx"));
  for (const std::string model : {"tiny.onnx", "soft.onnx"}) {
    std::map<std::string, double> start;
    for (const std::string init : {"mse", "gptq", "brecq"}) {
      const std::string cmd =
          "qat " + P(model) +
          " --scheme int3 --group-size 16 --asymmetric --calib " + P("calib") +
          " --distill --holdout 0 --init " + init +
          " --epochs 12 --batch 4 --optimizer adam --lr 1e-3 --threads 2 "
          "--json -o ";
      const nlohmann::json j = RunJson(cmd + P("q.onnx"));
      ASSERT_TRUE(j.contains("distill")) << j.dump();
      EXPECT_EQ(j["quantized_weights"], 4) << model;
      EXPECT_EQ(j["distill"]["samples"], 12);
      EXPECT_EQ(j["distill"]["loss"],
                model == "soft.onnx" ? "kl on the logits" : "mse");
      const double before = j["distill"]["ptq_loss"].get<double>();
      const double after = j["distill"]["qat_loss"].get<double>();
      start[init] = before;
      // BRECQ's start is closer already: training still lowers the loss.
      EXPECT_LT(after, (init == "brecq" ? 1.0 : 0.8) * before)
          << model << " " << init << j.dump();
      EXPECT_EQ(j["epochs"].size(), 12u);
      // Fixed seeds: the same file again.
      RunJson(cmd + P("q2.onnx"));
      EXPECT_TRUE(ReadAll(dir_ / "q.onnx") == ReadAll(dir_ / "q2.onnx"))
          << model;
      const nlohmann::json cmp =
          RunJson("eval " + P("q.onnx") + " --task compare --reference " +
                  P(model) + " --input x=" + P("calib/s100.npy") + " --json");
      EXPECT_GT(cmp["outputs"][0]["cosine"].get<double>(), 0.9)
          << model << " " << init << cmp.dump();
      if (HaveOrt()) {
        EXPECT_LT(
            AgainstOrt(P("q.onnx"), "x=" + P("calib/s100.npy"), model + init),
            1e-4)
            << model << " " << init;
      }
    }
    // --init brecq starts from GPTQ's codes with every block's rounding
    // learned on the samples: closer to fp32 there.
    EXPECT_LT(start["brecq"], start["gptq"]) << model;
  }
  // Early stopping: a fifth of the samples held out; the state written is
  // the epoch (the starting point included) of the least held-out figure.
  {
    const nlohmann::json j =
        RunJson("qat " + P("soft.onnx") +
                " --scheme int2 --group-size 16 --calib " + P("calib") +
                " --distill --epochs 6 --batch 2 --optimizer adam --lr 3e-3 "
                "--threads 2 --json -o " +
                P("h.onnx"));
    ASSERT_TRUE(j.contains("distill") && j["distill"].contains("held_out"))
        << j.dump();
    const auto& h = j["distill"]["held_out"];
    EXPECT_EQ(h["samples"], 2);
    EXPECT_EQ(j["distill"]["samples"], 10);
    double best = h["start"].get<double>();
    int best_epoch = 0;
    for (const auto& e : j["epochs"]) {
      if (e["validation"].get<double>() < best) {
        best = e["validation"].get<double>();
        best_epoch = e["epoch"].get<int>();
      }
    }
    EXPECT_EQ(h["written_epoch"].get<int>(), best_epoch) << j.dump();
    EXPECT_DOUBLE_EQ(h["best"].get<double>(), best);
  }
  // Binary and ternary weights per channel: written, and run alike in ONNX
  // Runtime.
  for (const std::string scheme : {"binary", "ternary"}) {
    const nlohmann::json j = RunJson("qat " + P("soft.onnx") + " --scheme " +
                                     scheme + " --calib " + P("calib") +
                                     " --distill --holdout 0 --epochs 12 "
                                     "--batch 4 --optimizer adam --lr 1e-3 "
                                     "--threads 2 --json -o " +
                                     P("b.onnx"));
    EXPECT_LT(j["distill"]["qat_loss"].get<double>(),
              j["distill"]["ptq_loss"].get<double>())
        << scheme;
    EXPECT_LT(j["weight_bits_per_param"].get<double>(), 2.6) << scheme;
    if (HaveOrt()) {
      EXPECT_LT(AgainstOrt(P("b.onnx"), "x=" + P("calib/s100.npy"), scheme),
                1e-4)
          << scheme;
    }
  }
  // The defaults: Adam, and without --lr distillation's own step, tied to
  // the quantization step: 3e-4 / (levels - 1).
  for (const auto& [scheme, lr] : std::vector<std::pair<std::string, double>>{
           {"int4", 2e-5}, {"int2", 1e-4}, {"ternary", 1.5e-4}}) {
    const nlohmann::json j =
        RunJson("qat " + P("tiny.onnx") + " --scheme " + scheme + " --calib " +
                P("calib") + " --distill --holdout 0 --epochs 1 --batch 4 " +
                "--threads 2 --json -o " + P("d.onnx"));
    EXPECT_EQ(j["optimizer"], "adam") << j.dump();
    EXPECT_DOUBLE_EQ(j["lr"].get<double>(), lr) << j.dump();
  }
  // Checkpoints: two epochs, then --resume to four, write the file four
  // epochs in one run write (a constant learning rate: a cosine schedule
  // depends on the run's length); a checkpoint of another run is refused by
  // name.
  const std::string run = "qat " + P("tiny.onnx") +
                          " --scheme int4 --group-size 16 --calib " +
                          P("calib") +
                          " --distill --batch 4 --optimizer adam --lr 1e-3 "
                          "--schedule constant --threads 2 -q";
  ASSERT_EQ(Run(run + " --epochs 4 -o " + P("four.onnx")).status, 0);
  EXPECT_TRUE(fs::exists(P("four.onnx.ckpt")));
  ASSERT_EQ(Run(run + " --epochs 2 -o " + P("two.onnx")).status, 0);
  const RunResult resumed = Run(run + " --epochs 4 --resume " +
                                P("two.onnx.ckpt") + " -o " + P("more.onnx"));
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_TRUE(ReadAll(dir_ / "more.onnx") == ReadAll(dir_ / "four.onnx"));
  ExpectBadInput("qat " + P("tiny.onnx") + " --scheme int3 --calib " +
                     P("calib") + " --distill --resume " + P("two.onnx.ckpt"),
                 P("two.onnx.ckpt"), "another run", "x.onnx");
  ExpectBadInput(run + " --resume " + P("calib/s100.npy"), P("calib/s100.npy"),
                 "", "x.onnx");
  // --distill takes --calib; --init gptq takes --calib.
  ExpectBadInput("qat " + P("tiny.onnx") + " --distill", "--distill", "--calib",
                 "x.onnx");
  ExpectBadInput(
      "qat " + P("tiny.onnx") + " --init gptq --data-dir " + P("calib"),
      "--init gptq", "--calib", "x.onnx");
  ExpectBadInput(
      "qat " + P("tiny.onnx") + " --init brecq --data-dir " + P("calib"),
      "--init brecq", "--calib", "x.onnx");
  ExpectBadInput("qat " + P("tiny.onnx") + " --scheme ternary --init brecq " +
                     "--calib " + P("calib") + " --distill",
                 "--init brecq", "ternary", "x.onnx");
}

TEST_F(CalibCli, SensitivityAndMixedPrecisionWithinBudget) {
  Prepare(6);
  const nlohmann::json s = RunJson(
      "sensitivity " + P("tiny.onnx") + " --calib " + P("calib") +
      " --scheme int8:channel,int4:g16,int2:g16:asym:zcode --method gptq "
      "--samples 4 --json");
  ASSERT_EQ(s["layers"].size(), 4u);
  for (const auto& l : s["layers"]) {
    ASSERT_EQ(l["candidates"].size(), 3u);
    const double e8 = l["candidates"][0]["output_error"].get<double>();
    const double e2 = l["candidates"][2]["output_error"].get<double>();
    EXPECT_GE(e8, 0.0);
    EXPECT_LT(e8, e2) << l.dump();
    EXPECT_GT(l["candidates"][0]["stored_bytes"].get<int64_t>(),
              l["candidates"][2]["stored_bytes"].get<int64_t>());
  }
  double previous_error = 1e300;
  for (double target : {4.0, 5.0, 6.5, 9.0}) {
    const nlohmann::json q = RunJson(
        "quantize " + P("tiny.onnx") + " -o " + P("mixed.onnx") +
        " --scheme int4 --method gptq --calib " + P("calib") +
        " --target-bpw " + std::to_string(target) +
        " --candidates int8:channel,int4:g16,int2:g16:asym:zcode --json");
    ASSERT_TRUE(q.contains("mixed_precision")) << target;
    const auto& mp = q["mixed_precision"];
    EXPECT_LE(mp["chosen_bytes"].get<int64_t>(),
              mp["budget_bytes"].get<int64_t>());
    EXPECT_LE(q["weight_bits_per_param"].get<double>(), target) << q.dump();
    EXPECT_NEAR(q["weight_bits_per_param"].get<double>(),
                mp["chosen_bpw"].get<double>(), 1e-9);
    // The trials: greedy choices from candidate subsets, each within the
    // budget and tried once; the one written has the fewest argmax changes
    // on the calibration samples, so no more than any uniform scheme
    // within the budget (a one-candidate trial).
    const auto& trials = mp["trials"];
    ASSERT_GE(trials.size(), 1u) << mp.dump();
    int chosen = 0;
    double whole = -1.0;
    for (const auto& t : trials) {
      EXPECT_LE(t["bpw"].get<double>(), target) << t.dump();
      if (t["chosen"].get<bool>()) {
        EXPECT_EQ(t["argmax_changes"], mp["decision_error"]["argmax_changes"]);
      }
      EXPECT_GE(t["argmax_changes"].get<int64_t>(),
                mp["decision_error"]["argmax_changes"].get<int64_t>())
          << t.dump();
      chosen += t["chosen"].get<bool>();
      if (t["candidates"].size() == 3) {
        whole = t["estimated_output_error"].get<double>();
      }
    }
    EXPECT_EQ(chosen, 1) << mp.dump();
    EXPECT_EQ(mp["decision_samples"], 6);
    // A larger budget never estimates a larger error for the greedy choice
    // among all the candidates (tried unless equal to a smaller subset's).
    if (whole >= 0.0) {
      EXPECT_LE(whole, previous_error * (1 + 1e-12)) << target;
      previous_error = whole;
    }
  }
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().string().find("lowbit-trial"), std::string::npos)
        << e.path();
  }
  ExpectBadInput("quantize " + P("tiny.onnx") + " -o " + P("m.onnx") +
                     " --scheme int4 --calib " + P("calib") +
                     " --target-bpw 1 --candidates int8:channel,int4:g16",
                 "--target-bpw 1", "the smallest candidates already take", "");
  ExpectBadInput("quantize " + P("tiny.onnx") + " -o " + P("m.onnx") +
                     " --scheme int4 --target-bpw 4",
                 "--target-bpw", "--calib", "");
  ExpectBadInput("sensitivity " + P("tiny.onnx") + " --calib " + P("calib") +
                     " --scheme int4:q7",
                 "int4:q7", "unknown part 'q7'", "");
}

TEST_F(CalibCli, BadCalibrationInputIsRefusedByName) {
  Prepare(3);
  const std::string tiny = P("tiny.onnx");
  fs::create_directories(P("empty"));
  ExpectBadInput(
      "stats " + tiny + " --calib " + P("empty") + " -o " + P("s.safetensors"),
      "empty", "no samples", "");
  ExpectBadInput("stats " + tiny + " --calib " + P("nowhere") + " -o " +
                     P("s.safetensors"),
                 "nowhere", "not a folder", "");
  ExpectBadInput(
      "stats " + tiny + " --calib " + P("calib") + " -o " + P("s.bin"), "s.bin",
      ".safetensors", "");
  // A sample of the wrong shape: named, nothing written.
  fs::create_directories(P("wrong"));
  WriteRandom(P("wrong/a.npy"), {1, 3, 6, 6}, 1);
  ExpectBadInput(
      "stats " + tiny + " --calib " + P("wrong") + " -o " + P("s.safetensors"),
      "wrong/a.npy", "x", "");
  ExpectBadInput("quantize " + tiny + " -o " + P("q.onnx") +
                     " --scheme int4 --method gptq --calib " + P("wrong"),
                 "wrong/a.npy", "x", "");
  // Images without a task.
  fs::create_directories(P("img"));
  std::ofstream(P("img/a.png")) << "png";
  ExpectBadInput(
      "stats " + tiny + " --calib " + P("img") + " -o " + P("s.safetensors"),
      "img", "--calib-task ocr", "");
  ExpectBadInput("quantize " + tiny + " -o " + P("q.onnx") +
                     " --scheme int4 --method gptq",
                 "--method gptq", "--calib", "");
  // Statistics of another model, and a file that is not statistics.
  ASSERT_EQ(Run("stats " + tiny + " --calib " + P("calib") + " -o " +
                P("s.safetensors") + " -q")
                .status,
            0);
  onnx::ModelProto other = TinyModel(13);
  *other.mutable_graph()->mutable_initializer(1) =
      Tensor("fc.w", {288, 12}, 3, false);  // 12 outputs instead of 16
  other.mutable_graph()->mutable_initializer(2)->clear_dims();
  *other.mutable_graph()->mutable_initializer(2) =
      Tensor("out.w", {10, 12}, 4, true);
  Save(other, P("other.onnx"));
  const auto before = Listing();
  const RunResult mismatch =
      Run("quantize " + P("other.onnx") + " -o " + P("q.onnx") +
          " --scheme int4 --method gptq --stats " + P("s.safetensors"));
  EXPECT_EQ(mismatch.status, 2) << mismatch.err;
  EXPECT_NE(mismatch.err.find("does not match"), std::string::npos)
      << mismatch.err;
  EXPECT_EQ(Listing(), before);
  ASSERT_EQ(Run("quantize " + tiny + " -o " + P("plain.safetensors") +
                " --scheme int4 -q")
                .status,
            2);  // ONNX models are written to .onnx
  ExpectBadInput("quantize " + tiny + " -o " + P("q.onnx") +
                     " --scheme int4 --method gptq --stats " + tiny,
                 "tiny.onnx", "not a safetensors file", "");
}

}  // namespace
}  // namespace lowbit::testing_cli
