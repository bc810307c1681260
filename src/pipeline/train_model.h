// `lowbit train`: an fp32 model of a known architecture trained from scratch
// on lowbit's engine (train/classifier.h) and written as ONNX. Today: the
// Fashion-MNIST CNN (train/fmnist_cnn.h) on Debian's dataset-fashion-mnist.
// The report gives every epoch's loss, training accuracy and time, and the
// test accuracy of the written model on lowbit's engine.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "train/classifier.h"
#include "train/fashion_mnist.h"

namespace lowbit {

struct TrainModelOptions {
  std::string arch = "fmnist-cnn";
  std::string data = "fashion-mnist";
  std::string data_dir = kFashionMnistDir;
  std::string out;
  // Only the first train_images training images (0: all; --validation holds
  // out the last of them), and the test accuracy on the first test_images
  // test images (0: all). Quick checks.
  int64_t train_images = 0, test_images = 0;
  // SGD with momentum at lr 0.03 cosine by default: the least error on
  // held-out training images among the recipes tried (--validation 5000;
  // docs/benchmarks.md, 2026-12-06 night).
  TrainOptions train;
  int threads = 0;
  bool progress = true;  // a line per step on stderr when a terminal
  TrainModelOptions() { train.lr = 0.03; }
};

struct TrainModelResult {
  nlohmann::json report;
  std::string text;
};

Result<TrainModelResult> TrainModel(const TrainModelOptions& o);

}  // namespace lowbit
