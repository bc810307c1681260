// `lowbit qat`: quantization-aware training of an ONNX classifier on lowbit's
// engine. Every Conv, Gemm and MatMul weight is fake-quantized per output
// channel (train/fake_quant.h: STE, or LSQ with trained steps), the model is
// fine-tuned on the task's data with cross-entropy, and the quantized weights
// are written as ONNX (the decode form of io/onnx_quantized.h: codes and f16
// steps) that ONNX Runtime runs. The report gives the fp32 model's test
// accuracy, the post-training (the initial steps, no training) one, and the
// trained one, measured on the written file. Today: Fashion-MNIST.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "train/classifier.h"
#include "train/fashion_mnist.h"

namespace lowbit {

struct QatOptions {
  std::string model, out;
  std::string scheme = "int4";  // int2..int8 or ternary, per channel
  std::string method = "lsq";   // lsq or ste
  std::string data = "fashion-mnist";
  std::string data_dir = kFashionMnistDir;
  TrainOptions train;  // epochs 2, lr 0.01 (QatOptions() sets them)
  int threads = 0;
  bool progress = true;
  QatOptions() {
    train.epochs = 2;
    train.lr = 0.01;
  }
};

struct QatResult {
  nlohmann::json report;
  std::string text;
};

Result<QatResult> QatModel(const QatOptions& o);

}  // namespace lowbit
