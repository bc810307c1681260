// lowbit qat: quantization-aware training of an ONNX classifier
// (pipeline/qat_model.h), written as a quantized ONNX file.
#include <fmt/format.h>

#include "pipeline/qat_model.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {

Runner AddQat(CLI::App& app) {
  struct Opts {
    QatOptions q;
    bool json = false, quiet = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "qat",
      "Quantization-aware training on lowbit's engine: every Conv, Gemm and\n"
      "MatMul weight of MODEL is fake-quantized per output channel (the\n"
      "forward pass sees s * clamp(round(w / s)); gradients reach the float\n"
      "weights straight through, and with --method lsq the steps s too,\n"
      "arXiv 1902.08153), the model is fine-tuned on the task's data, and the\n"
      "quantized weights are written as ONNX (codes and f16 steps) that ONNX\n"
      "Runtime runs. The report gives the test accuracy of the fp32 model,\n"
      "of the quantized model before training (the mse search's steps) and\n"
      "of the written file. Progress per step on stderr.\n"
      "Example:\n"
      "  lowbit train --epochs 5 -o fmnist.onnx\n"
      "  lowbit qat fmnist.onnx --scheme int4 --epochs 2 -o fmnist.int4.onnx");
  sub->add_option("MODEL", o->q.model, "the fp32 classifier (.onnx)")
      ->required();
  sub->add_option("-o,--output", o->q.out, "the quantized model (.onnx)")
      ->required();
  sub->add_option("--scheme", o->q.scheme,
                  "int2..int8 (symmetric) or ternary, per output channel")
      ->capture_default_str();
  sub->add_option("--method", o->q.method,
                  "lsq (steps trained) or ste (steps fixed)")
      ->check(CLI::IsMember({"lsq", "ste"}))
      ->capture_default_str();
  sub->add_option("--data", o->q.data, "the dataset: fashion-mnist")
      ->capture_default_str();
  sub->add_option("--data-dir", o->q.data_dir, "where the dataset's files are")
      ->capture_default_str();
  AddTrainOptions(sub, &o->q.train);
  sub->add_option("--threads", o->q.threads, "threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--json", o->json, "print the report as JSON");
  sub->add_flag("-q,--quiet", o->quiet, "print nothing on success");
  return [o]() -> Status {
    o->q.progress = !o->quiet && !o->json;
    LB_ASSIGN_OR_RETURN(QatResult r, QatModel(o->q));
    if (o->json) {
      fmt::print("{}\n", r.report.dump(2));
    } else if (!o->quiet) {
      fmt::print("{}", r.text);
    }
    return Status::Ok();
  };
}

}  // namespace lowbit::cli
