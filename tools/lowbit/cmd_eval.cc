// lowbit eval: how well a model does. --task compare: against a reference
// model on the same inputs (pipeline/compare_outputs.h); --task ocr: a text
// recognizer's character accuracy on labelled line images
// (pipeline/eval_ocr.h).
#include <fmt/format.h>

#include "pipeline/compare_outputs.h"
#include "pipeline/eval_classifier.h"
#include "pipeline/eval_ocr.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {

Runner AddEval(CLI::App& app) {
  struct Opts {
    CompareOptions c;
    OcrEvalOptions ocr;
    ClassifierEvalOptions cls;
    std::string task;
    std::vector<std::string> inputs, shapes;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "eval",
      "Evaluate an ONNX model on lowbit's engine.\n"
      "  --task compare: run MODEL and --reference on the same inputs "
      "(--input\n"
      "  files, or seeded random values of --shape) and report, per output,\n"
      "  max |a - b| / max |b|, cosine similarity and, for probabilities, KL.\n"
      "  --task ocr: run a CTC text recognizer (PaddleOCR PP-OCR rec) on "
      "every\n"
      "  line image of --labels (file<TAB>text, default IMAGES/labels.tsv;\n"
      "  PNG or binary PGM/PPM) and report character accuracy (1 - edit\n"
      "  distance / label length, in code points), the same without spaces,\n"
      "  and exactly matching lines, as tools/ort/ocr_rec_eval.js does.\n"
      "  --task fashion-mnist: top-1 accuracy of a classifier (input\n"
      "  [N, 1, 28, 28] of pixel / 255, output 10 logits) on the 10,000 test\n"
      "  images of Debian's dataset-fashion-mnist.\n"
      "Examples:\n"
      "  lowbit eval rec.int4.onnx --task compare --reference rec.onnx \\\n"
      "      --input x=line.npy --json\n"
      "  scripts/render_ocr_lines.sh lines/\n"
      "  lowbit eval rec.int4.onnx --task ocr --images lines/ \\\n"
      "      --charset ppocr_keys_v1.txt");
  sub->add_option("MODEL", o->c.model, "the model to evaluate (.onnx)")
      ->required();
  sub->add_option("--task", o->task,
                  "what to measure: compare, ocr or fashion-mnist")
      ->required()
      ->check(CLI::IsMember({"compare", "ocr", "fashion-mnist"}));
  sub->add_option("--data-dir", o->cls.data_dir,
                  "fashion-mnist: where the dataset's files are")
      ->capture_default_str();
  AddImageCountOptions(sub, nullptr, &o->cls.test_images);
  sub->add_option("--reference", o->c.reference,
                  "compare: the reference model (.onnx)");
  sub->add_option("--input", o->inputs, "NAME=FILE.npy (repeatable)");
  sub->add_option("--shape", o->shapes,
                  "NAME=d0,d1,...: random input of this shape (repeatable)");
  sub->add_option("--seed", o->c.seed, "seed of the random inputs")
      ->capture_default_str();
  sub->add_option("--images", o->ocr.images,
                  "ocr: the folder of the line images");
  sub->add_option("--labels", o->ocr.labels,
                  "ocr: file<TAB>text per line (default IMAGES/labels.tsv)");
  sub->add_option("--charset", o->ocr.charset,
                  "ocr: the dictionary, one character per line (default: "
                  "ppocr_keys_v1.txt beside MODEL, else node_deps')");
  sub->add_option("--width", o->ocr.pad_width,
                  "ocr: pad lines with zeros to this width (0: no padding)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--verbose", o->ocr.verbose,
                "ocr: every line's prediction (text and JSON)");
  sub->add_option("--threads", o->c.threads, "threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--fast", o->c.fast, "run MODEL with int8 activations");
  sub->add_flag("--json", o->json, "print the figures as JSON");
  return [o]() -> Status {
    if (o->task != "fashion-mnist" && o->cls.test_images > 0) {
      return InvalidArgument("--test-images is for --task fashion-mnist, not " +
                             o->task);
    }
    if (o->task == "fashion-mnist") {
      o->cls.model = o->c.model;
      o->cls.threads = o->c.threads;
      o->cls.fast = o->c.fast;
      LB_ASSIGN_OR_RETURN(ClassifierEvalResult r, EvalFashionMnist(o->cls));
      fmt::print("{}", o->json ? r.report.dump(2) + "\n" : r.text);
      return Status::Ok();
    }
    if (o->task == "ocr") {
      if (o->ocr.images.empty()) {
        return InvalidArgument("--task ocr needs --images DIR");
      }
      o->ocr.model = o->c.model;
      o->ocr.threads = o->c.threads;
      o->ocr.fast = o->c.fast;
      LB_ASSIGN_OR_RETURN(OcrEvalResult r, EvalOcr(o->ocr));
      fmt::print("{}", o->json ? r.report.dump(
                                     2, ' ', false,
                                     nlohmann::json::error_handler_t::replace) +
                                     "\n"
                               : r.text);
      return Status::Ok();
    }
    if (o->c.reference.empty()) {
      return InvalidArgument("--task compare needs --reference REF.onnx");
    }
    for (const std::string& in : o->inputs) {
      const size_t eq = in.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == in.size()) {
        return InvalidArgument("--input " + in + ": expected NAME=FILE.npy");
      }
      o->c.inputs[in.substr(0, eq)] = in.substr(eq + 1);
    }
    for (const std::string& s : o->shapes) {
      const size_t eq = s.find('=');
      if (eq == std::string::npos || eq == 0) {
        return InvalidArgument("--shape " + s + ": expected NAME=d0,d1,...");
      }
      Shape dims;
      size_t p = eq + 1;
      while (p <= s.size()) {
        const size_t q = std::min(s.find(',', p), s.size());
        try {
          const long long d = std::stoll(s.substr(p, q - p));
          if (d < 1) throw std::out_of_range("");
          dims.push_back(d);
        } catch (const std::exception&) {
          return InvalidArgument("--shape " + s +
                                 ": dimensions must be positive integers");
        }
        p = q + 1;
      }
      o->c.shapes[s.substr(0, eq)] = dims;
    }
    LB_ASSIGN_OR_RETURN(CompareResult r, CompareOutputs(o->c));
    if (o->json) {
      fmt::print("{}\n", r.report.dump(2));
    } else {
      fmt::print("{}", r.text);
    }
    return Status::Ok();
  };
}

}  // namespace lowbit::cli
