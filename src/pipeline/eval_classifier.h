// `lowbit eval --task fashion-mnist`: top-1 accuracy of an image classifier
// (input [N, 1, 28, 28] of pixel / 255, output the 10 logits) on the 10,000
// test images of Debian's dataset-fashion-mnist, on lowbit's engine.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/ir.h"
#include "train/classifier.h"
#include "train/fashion_mnist.h"

namespace lowbit {

struct ClassifierEvalOptions {
  std::string model;
  std::string data_dir = kFashionMnistDir;
  int64_t test_images = 0;  // the first N test images (0: all)
  int threads = 0;
  bool fast = false;  // int8 activations for quantized weights
  int64_t batch = 500;
};

struct ClassifierEvalResult {
  double accuracy = 0.0;
  int64_t images = 0;
  double seconds = 0.0;
  nlohmann::json report;
  std::string text;
};

Result<ClassifierEvalResult> EvalFashionMnist(const ClassifierEvalOptions& o);

// Top-1 accuracy of a classifier graph (one input, logits first) on `data`,
// in a Session of its own over a copy of the graph (its constants shared);
// errors prefixed with `what` (the model's file).
Result<double> GraphAccuracy(std::shared_ptr<graph::Graph> g,
                             const ImageDataset& data, int threads, bool fast,
                             const std::string& what, int64_t batch = 500);

// The logits of a classifier graph on every image of `data` (n x classes,
// row i image i), as GraphAccuracy runs it: the targets of distillation.
Result<std::vector<float>> GraphLogits(std::shared_ptr<graph::Graph> g,
                                       const ImageDataset& data, int threads,
                                       const std::string& what,
                                       int64_t batch = 500);

// Fashion-MNIST's "train" or "test" split (LoadFashionMnist), only its first
// `first` images (0: all); a count past the split is refused naming the
// option (--train-images, --test-images).
Result<ImageDataset> LoadFashionMnistFirst(const std::string& dir,
                                           const std::string& split,
                                           int64_t first);

}  // namespace lowbit
