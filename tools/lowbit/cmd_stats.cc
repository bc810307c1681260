// lowbit stats: calibration statistics of an ONNX model's weight layers over
// sample inputs (pipeline/calibrate.h), written for `quantize --stats`.
#include <fmt/format.h>

#include "pipeline/calibrate.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {

Runner AddStats(CLI::App& app) {
  struct Opts {
    CalibOptions c;
    std::string out;
    bool json = false, quiet = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "stats",
      "Run calibration samples through an ONNX model on lowbit's engine and\n"
      "write, for every Conv, Gemm and MatMul with a constant weight, what\n"
      "calibration-aware quantization needs: the input second moments\n"
      "H = E[x x^T] (a Conv's im2col patches, per group), E|x| and E[x^2] per\n"
      "input column, and each output channel's mean and mean square.\n"
      "`lowbit quantize --method gptq --stats FILE` reads them. Samples: a\n"
      "folder of .npy files (one model input each), or line images with\n"
      "--calib-task ocr (PaddleOCR's recognizer preprocessing; a labels.tsv\n"
      "in the folder limits it to the images listed).\n"
      "Example:\n"
      "  lowbit stats rec.onnx --calib lines/ --calib-task ocr -o "
      "rec.stats.safetensors");
  sub->add_option("MODEL", o->c.model, "the fp32 model (.onnx)")->required();
  sub->add_option("--calib", o->c.calib_dir, "the folder of samples")
      ->required();
  sub->add_option("--calib-task", o->c.task,
                  "how to read images: ocr (text lines); none: .npy files");
  sub->add_option("--max-samples", o->c.max_samples,
                  "use at most N samples (0: all)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("-o,--output", o->out, "the statistics (.safetensors)")
      ->required();
  sub->add_option("--threads", o->c.threads, "threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--json", o->json, "print the report as JSON");
  sub->add_flag("-q,--quiet", o->quiet, "print nothing on success");
  return [o]() -> Status {
    o->c.progress = !o->quiet && !o->json;
    LB_ASSIGN_OR_RETURN(CalibResult r, WriteModelStats(o->c, o->out));
    if (o->json) {
      fmt::print("{}\n", r.report.dump(2));
    } else if (!o->quiet) {
      fmt::print(
          "{}: {} layers over {} samples in {:.2f} s (forward passes {:.2f} "
          "s, statistics {:.2f} s) -> {}\n",
          o->c.model, r.report["layers"].get<int64_t>(), r.info.samples,
          r.seconds, r.forward_seconds,
          r.report["statistics_seconds"].get<double>(), o->out);
    }
    return Status::Ok();
  };
}

}  // namespace lowbit::cli
