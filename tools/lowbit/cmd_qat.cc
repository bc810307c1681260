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
      "MatMul weight of MODEL is fake-quantized, per output channel or in\n"
      "groups (the forward pass sees s * (clamp(round(w / s + z)) - z));\n"
      "gradients reach the float weights straight through, and with --method\n"
      "lsq the steps s (and f16 zero points z) too, arXiv 1902.08153; the\n"
      "model is fine-tuned, and the quantized weights are written as ONNX\n"
      "(codes, f16 steps) that ONNX Runtime runs. With --data fashion-mnist\n"
      "the report gives the test accuracy of the fp32 model, of the starting\n"
      "point (lowbit's own quantization: --init) and of the written file.\n"
      "Without labels, --calib DIR --distill trains the quantized model to\n"
      "reproduce the fp32 model's outputs on the samples (any model: a CTC\n"
      "recognizer too), holding out a fifth to choose the epoch written.\n"
      "Defaults: Adam at lr 1e-3 cosine for 2 epochs (chosen on held-out\n"
      "training images, --validation, for int4, int3 and ternary: see\n"
      "docs/benchmarks.md); with --distill, lr 3e-4 / (levels - 1): int2\n"
      "1e-4, int3 4.3e-5, int4 2e-5 (Adam moves each weight by about lr a\n"
      "step; the quantization step halves with each bit).\n"
      "Progress per step on stderr; a checkpoint after every epoch\n"
      "(--resume goes on from it).\n"
      "Examples:\n"
      "  lowbit train --epochs 5 -o fmnist.onnx\n"
      "  lowbit qat fmnist.onnx --scheme int4 --epochs 2 -o fmnist.int4.onnx\n"
      "  lowbit qat rec.onnx --scheme int2 --group-size 32 --asymmetric \\\n"
      "      --calib lines/ --calib-task ocr --distill --init gptq \\\n"
      "      --epochs 6 --batch 4 -o rec.int2.onnx\n"
      "  lowbit qat rec.onnx --scheme int4 --asymmetric --zero-point code \\\n"
      "      --calib lines/ --calib-task ocr --distill --init brecq \\\n"
      "      --distill-loss mse --distill-confidence 0.99 --epochs 6 \\\n"
      "      --batch 4 -o rec.int4.onnx\n"
      "  (at int4 the recognizer read best from BRECQ's start with the MSE\n"
      "  on the logits, the frames fp32 is unsure of left out; at int2 the\n"
      "  KL: docs/benchmarks.md)");
  sub->add_option("MODEL", o->q.model, "the fp32 model (.onnx)")->required();
  sub->add_option("-o,--output", o->q.out, "the quantized model (.onnx)")
      ->required();
  sub->add_option("--scheme", o->q.scheme, "int2..int8, ternary or binary")
      ->capture_default_str();
  sub->add_option("--group-size", o->q.group_size,
                  "steps per group of N weights along a row (0: one per "
                  "output channel)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_flag("--asymmetric", o->q.asymmetric,
                "asymmetric codes with a zero point per group (default "
                "symmetric)");
  sub->add_option("--zero-point", o->q.zero_point,
                  "asymmetric: f16 zero points (auto; trained with lsq) or "
                  "code ones (fixed)")
      ->check(CLI::IsMember({"auto", "f16", "code"}))
      ->capture_default_str();
  sub->add_option("--batchnorm", o->q.batchnorm,
                  "BatchNormalization while training labeled images: frozen "
                  "(the running statistics as exported) or train (each "
                  "batch's statistics, the running ones updated by its "
                  "momentum and written)")
      ->check(CLI::IsMember({"frozen", "train"}))
      ->capture_default_str();
  sub->add_option("--init", o->q.init,
                  "the starting point: mse (data-free clipping search) or "
                  "gptq (on --calib's statistics; the latent weights start "
                  "at its decoded ones), or brecq (GPTQ, then every block's "
                  "rounding learned on --calib's samples, as quantize "
                  "--method brecq; integer schemes); gptq and brecq see every "
                  "--calib sample, the held-out ones too")
      ->check(CLI::IsMember({"mse", "gptq", "brecq"}))
      ->capture_default_str();
  sub->add_option("--method", o->q.method,
                  "lsq (steps trained) or ste (steps fixed)")
      ->check(CLI::IsMember({"lsq", "ste"}))
      ->capture_default_str();
  sub->add_option("--data", o->q.data, "the dataset: fashion-mnist")
      ->capture_default_str();
  sub->add_option("--data-dir", o->q.data_dir, "where the dataset's files are")
      ->capture_default_str();
  sub->add_option("--calib", o->q.calib,
                  "a folder of unlabeled samples (.npy, or line images with "
                  "--calib-task ocr): what --distill learns on, and the "
                  "statistics --init gptq takes");
  sub->add_option("--calib-task", o->q.calib_task,
                  "how --calib's images are read: ocr (PaddleOCR's "
                  "recognizer preprocessing, padded to 320 wide)")
      ->check(CLI::IsMember({"", "ocr"}));
  sub->add_flag("--distill", o->q.distill,
                "learn the fp32 model's outputs on --calib's samples (no "
                "labels): KL per row on the logits when the model ends in "
                "a Softmax, else the mean squared error");
  sub->add_option("--distill-loss", o->q.distill_loss,
                  "with --distill: the output's loss: auto (kl when the "
                  "model ends in a Softmax, else mse), kl (per row on the "
                  "logits), or mse (the mean squared error; on the logits, "
                  "before the Softmax, when there is one)")
      ->check(CLI::IsMember({"auto", "kl", "mse"}))
      ->capture_default_str();
  sub->add_option("--holdout", o->q.holdout,
                  "with --distill: the fraction of the samples held out to "
                  "choose the epoch written (early stopping, the starting "
                  "point included; 0: train on all, write the last)")
      ->capture_default_str();
  sub->add_option("--hard-weight", o->q.hard_weight,
                  "with --distill on logits: add W times the cross-entropy "
                  "to the fp32 model's decision (arg max) of each row to "
                  "the KL, keeping decisions fp32 takes by a thin margin "
                  "(hard distillation, arXiv 2012.12877)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--distill-confidence", o->q.distill_confidence,
                  "with --distill on logits: leave out of the loss the rows "
                  "(CTC frames) whose fp32 top probability is below P; "
                  "there the quantized model keeps its own decision, where "
                  "fp32 decides by a thin margin (a space it half sees). 0: "
                  "every row (the confidence threshold of arXiv 2001.07685)")
      ->type_name("P")
      ->capture_default_str();
  sub->add_option("--distill-unsure", o->q.distill_unsure,
                  "what the rows --distill-confidence leaves out learn: own "
                  "(nothing: the quantized model's own output) or start "
                  "(the starting point's output: --init's decision kept "
                  "where fp32 is unsure)")
      ->check(CLI::IsMember({"own", "start"}))
      ->capture_default_str();
  sub->add_option("--features", o->q.features,
                  "with --distill: intermediate values (by name, comma "
                  "separated) the quantized model also learns to "
                  "reproduce: their relative squared error to fp32's, "
                  "averaged, is added to the loss (arXiv 1412.6550)")
      ->delimiter(',');
  sub->add_option("--feature-weight", o->q.feature_weight,
                  "the weight of --features' term")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--samples", o->q.max_samples,
                  "with --calib: at most this many samples (0: all)")
      ->check(CLI::NonNegativeNumber);
  AddTrainOptions(sub, &o->q.train);
  AddImageCountOptions(sub, &o->q.train_images, &o->q.test_images);
  sub->add_option("--teacher-weight", o->q.train.teacher_weight,
                  "qat on labeled images: the weight w of the fp32 model's "
                  "outputs as soft targets; the loss is (1 - w) "
                  "cross-entropy + w KL to fp32 (0: the labels alone)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();

  sub->add_option("--threads", o->q.threads, "threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--json", o->json, "print the report as JSON");
  sub->add_flag("-q,--quiet", o->quiet, "print nothing on success");
  return [o, sub]() -> Status {
    o->q.progress = !o->quiet && !o->json;
    if (sub->count("--feature-weight") > 0 && o->q.features.empty()) {
      return InvalidArgument(
          "--feature-weight weighs --features' term: name the features");
    }
    // Distillation's own default step, by the scheme's levels.
    if (o->q.distill && sub->count("--lr") == 0) {
      o->q.train.lr = DefaultDistillLr(o->q.scheme);
    }
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
