// Training and evaluating an image classifier on lowbit's engine: mini-batches
// of a shuffled dataset (fixed seed: identical runs), the model's forward and
// backward passes on the Tape (graph/autodiff.h), softmax cross-entropy on its
// logits, an optimiser step on every parameter. The pool parallelises each
// node (a batch's images split over the threads in the convolutions).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/autodiff.h"
#include "train/fashion_mnist.h"
#include "train/optimizer.h"

namespace lowbit {

struct TrainOptions {
  int epochs = 5;
  int64_t batch = 64;
  double lr = 0.05;
  std::string schedule = "cosine";
  OptimizerOptions optimizer;
  uint64_t seed = 1;
  int64_t max_steps = 0;  // > 0: stop after this many steps (tests)
};

struct StepInfo {
  int epoch = 0;
  int64_t step = 0, steps = 0;  // this step, and the run's total
  double loss = 0.0, lr = 0.0, images_per_second = 0.0;
};

struct EpochReport {
  int epoch = 0;
  double loss = 0.0;            // mean over the epoch's batches
  double train_accuracy = 0.0;  // on the batches as they were trained
  double seconds = 0.0;
};

// Trains the tape's parameters (all of them) on `data`, feeding input
// `input`, the graph's first output being the logits [batch, classes].
Result<std::vector<EpochReport>> TrainClassifier(
    graph::Tape& tape, const std::string& input, const ImageDataset& data,
    const TrainOptions& o,
    const std::function<void(const StepInfo&)>& on_step = nullptr);

// Top-1 accuracy of `logits_of` (a batch of images [B, C, H, W] -> logits
// [B, classes]) on the whole dataset, batches of `batch`.
Result<double> ClassifierAccuracy(
    const ImageDataset& data, int64_t batch,
    const std::function<Result<graph::Tensor>(const graph::Tensor&)>&
        logits_of);

}  // namespace lowbit
