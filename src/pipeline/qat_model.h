// `lowbit qat`: quantization-aware training of an ONNX model on lowbit's
// engine. Every Conv, Gemm and MatMul weight is fake-quantized
// (train/fake_quant.h: STE, or LSQ with trained steps and f16 zero points),
// per output channel or in groups, starting from lowbit's own quantization of
// it (--init mse: data-free; gptq: GPTQ on the calibration statistics, the
// latent weights its decoded ones); the model is fine-tuned, and the quantized
// weights are written as ONNX (io/onnx_quantized.h) that ONNX Runtime runs.
//   --data fashion-mnist: cross-entropy on the labels; the report gives the
//     test accuracy of the fp32 model, of the starting point and of the
//     written file.
//   --calib DIR --distill: no labels: the fp32 model's outputs on the
//     calibration samples are the targets (train/distill.h; KL per row on
//     the logits when the model ends in a Softmax over its last axis, whose
//     input is then trained on, else the mean squared error of the output).
//     The report gives the distillation loss of the starting point and of
//     the trained model on the samples, and the held-out samples' figure
//     per epoch (early stopping: the best epoch's state is written).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "train/classifier.h"
#include "train/fashion_mnist.h"

namespace lowbit {

struct QatOptions {
  std::string model, out;
  std::string scheme = "int4";  // int2..int8 or ternary
  std::string method = "lsq";   // lsq or ste
  int64_t group_size = 0;       // 0: per output channel
  bool asymmetric = false;
  std::string zero_point = "auto";  // asymmetric: f16 (auto) or code
  std::string init = "mse";         // mse, or gptq (with --calib)
  // BatchNormalization while training labeled images: "frozen" (the
  // running statistics as exported) or "train" (the batch's statistics, the
  // running ones updated and written; graph/autodiff.h).
  std::string batchnorm = "frozen";
  std::string data = "fashion-mnist";
  std::string data_dir = kFashionMnistDir;
  // Labeled runs: only the first train_images training images (0: all), and
  // the accuracies on the first test_images test images (0: all). Quick
  // checks.
  int64_t train_images = 0, test_images = 0;
  // Distillation on unlabeled samples (pipeline/calibrate.h's folders).
  std::string calib, calib_task;
  bool distill = false;
  int64_t max_samples = 0;  // 0: all
  // With --distill: the fraction of the samples held out (every k-th) to
  // choose the epoch whose state is written (the starting point included):
  // the decisions' distance to fp32's (pipeline/decisions.h) on them, ties
  // by the loss. 0: train on all, write the last epoch.
  double holdout = 0.2;
  // With --distill: what the output learns by: "auto" (KL on the logits
  // when the model ends in a Softmax, else "mse"), "kl", or "mse" (the mean
  // squared error; on the logits when the model ends in a Softmax).
  std::string distill_loss = "auto";
  // With --distill and logits: the weight of cross-entropy to fp32's
  // decisions added to the KL (train/distill.h). 0: the KL alone.
  double hard_weight = 0.0;
  // With --distill and logits: the rows (CTC frames) whose fp32 top
  // probability is below it are left out of the loss, the quantized model
  // keeping its own decision there (train/distill.h). 0: every row.
  double distill_confidence = 0.0;
  // What those rows learn: "own" (nothing: the quantized model's own
  // output) or "start" (the starting point's output: its decision kept).
  std::string distill_unsure = "own";
  // With --distill: intermediate values (by name) the quantized model also
  // learns to reproduce, feature_weight times their mean relative squared
  // error added to the loss (train/distill.h's DistillTerms).
  std::vector<std::string> features;
  double feature_weight = 1.0;
  // Epochs 2, Adam at lr 1e-3 (QatOptions() sets them): on held-out
  // training images of Fashion-MNIST, better than SGD at int3 and ternary and
  // as good at int4 (docs/benchmarks.md, 2026-12-07).
  TrainOptions train;
  int threads = 0;
  bool progress = true;
  QatOptions() {
    train.epochs = 2;
    train.optimizer.kind = "adam";
    train.lr = 1e-3;
  }
};

struct QatResult {
  nlohmann::json report;
  std::string text;
};

Result<QatResult> QatModel(const QatOptions& o);

// --distill's learning rate when none is given. Adam moves every weight by
// about lr a step whatever its gradient, so the rate is tied to the
// quantization step, which halves with each bit: 3e-4 / (levels - 1) (int2
// 1e-4, int3 4.3e-5, int4 2e-5; ternary 1.5e-4, binary 3e-4). Chosen on the
// recognizer's development lines, never the evaluation lines: at int4 per
// channel, 1e-4 changed decisions on the held-out lines after one epoch and
// read 31 errors against GPTQ's 29; 2e-5 and 3e-5 read 21 and 20 (fp32 23);
// at int3 g32, 4.3e-5 and 1e-4 read 26 and 25 (docs/benchmarks.md).
// Unknown schemes get 1e-4 (QatModel refuses them).
double DefaultDistillLr(const std::string& scheme);

}  // namespace lowbit
