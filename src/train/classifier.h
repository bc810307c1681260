// Training and evaluating an image classifier on lowbit's engine: mini-batches
// of a shuffled dataset (the loop is train/loop.h's), the model's forward and
// backward passes on the Tape (graph/autodiff.h), softmax cross-entropy on its
// logits, an optimiser step on every parameter. The pool parallelises each
// node (a batch's images split over the threads in the convolutions). The
// options, hooks and reports of every trainer are declared here.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
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
  bool shuffle = true;    // false: the data in order (reference tests)
  // Classifiers: the last `validation` training images are held out (not
  // trained on); their error rate after every epoch chooses the epoch whose
  // state the run writes (TrainHooks::validate; the start included).
  int64_t validation = 0;
  // Classifiers: random changes to each training image, drawn from their own
  // seeded stream (identical runs): "none", "flip" (mirrored left-right
  // with probability 1/2) or "flip-shift" (and moved by up to `shift`
  // pixels each way, the border filled with the image's corner value).
  std::string augment = "none";
  int shift = 2;
  // Classifiers with teacher logits (TrainClassifier's `teacher`): the loss
  // is (1 - w) cross-entropy + w KL(softmax(teacher) || softmax(logits)),
  // w = teacher_weight (Hinton et al., arXiv 1503.02531; for quantized
  // students, Mishra and Marr, arXiv 1711.05852).
  double teacher_weight = 0.0;
  // A checkpoint after every epoch (train/checkpoint.h): "" : OUT.ckpt,
  // "none": no checkpoint. resume: a checkpoint to go on from.
  std::string checkpoint, resume;
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
  double validation = -1.0;  // TrainHooks::validate after the epoch; -1: none
};

// Early stopping (TrainHooks::validate): the figure before training, and the
// epoch whose state the run returns (0: the starting point).
struct ValidationResult {
  double start = -1.0, best = -1.0;
  int best_epoch = 0;
};

// What a run has done: the state a checkpoint keeps (train/checkpoint.h).
struct TrainState {
  int epochs_done = 0;
  int64_t steps_done = 0;
  std::vector<EpochReport> epochs;
  std::vector<graph::Tensor> values;  // the trained tensors, in step order
  std::vector<std::vector<float>> first, second;  // the optimiser's moments
  int64_t optimizer_steps = 0;
  // With validation: the best state so far, and the figures.
  ValidationResult validation;
  std::vector<graph::Tensor> best_values;
};

// What the optimiser steps, for training schemes that are not the tape's
// parameters themselves (quantization-aware training: latent weights and
// steps behind fake-quantized ones, train/fake_quant.h).
struct TrainHooks {
  // Before every forward pass (e.g. the fake-quantized weights into the
  // graph).
  std::function<Status()> before_forward;
  // From the tape's gradients (by parameter name), the tensors to step and
  // their gradients, in the same order every step.
  std::function<Status(std::map<std::string, graph::Tensor>& grads,
                       std::vector<graph::Tensor*>* params,
                       std::vector<const graph::Tensor*>* g)>
      step_targets;
  // The tensors step_targets gives, in its order, without gradients (for
  // checkpoints); unset: the tape's parameters.
  std::function<std::vector<graph::Tensor*>()> state_tensors;
  // The state to go on from (--resume): its tensors are copied in, its
  // epochs skipped (their shuffles replayed, so the data order is the
  // uninterrupted run's); null: from the start.
  const TrainState* resume = nullptr;
  // After every epoch, the run's state (to write a checkpoint).
  std::function<Status(const TrainState&)> on_epoch;
  // A figure on held-out data (lower is better), measured
  // before training and after every epoch; the run returns the state of the
  // best (the earliest on ties), the starting point included, and says
  // which in *validation_out.
  std::function<Result<double>()> validate;
  ValidationResult* validation_out = nullptr;
};

namespace train_internal {
// What TrainClassifier and TrainDistill share: the tensors a state holds,
// copying a state in (shapes checked), and taking one.
std::vector<graph::Tensor*> StateTensors(graph::Tape& tape,
                                         const TrainHooks& hooks);
Status RestoreState(const TrainState& s,
                    const std::vector<graph::Tensor*>& tensors, Optimizer& opt);
TrainState CaptureState(int epochs_done, int64_t steps_done,
                        const std::vector<EpochReport>& epochs,
                        const std::vector<graph::Tensor*>& tensors,
                        Optimizer& opt);
// Copies of the tensors' values.
std::vector<graph::Tensor> CopyValues(
    const std::vector<graph::Tensor*>& tensors);
}  // namespace train_internal

// Trains on `data`, feeding input `input`, the graph's first output being the
// logits [batch, classes]: the tape's parameters (all of them), or what
// `hooks` says. teacher: logits per image of `data` (n x classes), used
// with TrainOptions::teacher_weight > 0.
Result<std::vector<EpochReport>> TrainClassifier(
    graph::Tape& tape, const std::string& input, const ImageDataset& data,
    const TrainOptions& o,
    const std::function<void(const StepInfo&)>& on_step = nullptr,
    const TrainHooks& hooks = {}, const std::vector<float>* teacher = nullptr);

// The last n images of *d, taken out of it: a validation split. n must be
// below d->n.
Result<ImageDataset> HoldOutLast(ImageDataset* d, int64_t n);

// Keeps the first n images of *d (and their labels); n = 0 keeps them all.
// n past d->n (or negative) is refused and *d left as it was. Smoke runs
// score a part of a test set with it (--test-images).
Status KeepFirst(ImageDataset* d, int64_t n);

// A TrainHooks::validate for classifiers: the error rate (1 - top-1
// accuracy) of the tape's graph on `val`, input `input`; BatchNormalization
// in training mode is switched to the running statistics for it (and back).
std::function<Result<double>()> ClassifierValidation(graph::Tape& tape,
                                                     const std::string& input,
                                                     const ImageDataset& val,
                                                     int64_t batch);

// The report of a run with a validation split of `images` images: JSON and
// a text line.
nlohmann::json ValidationJson(const ValidationResult& v, int64_t images);
std::string ValidationText(const ValidationResult& v, int64_t images);

// The epochs as JSON and as text lines (the reports of train and qat).
nlohmann::json EpochsJson(const std::vector<EpochReport>& epochs);
std::string EpochsText(const std::vector<EpochReport>& epochs);

// Progress on stderr: a line per step rewritten in place on a terminal, else
// every 100th step and the last; nothing when `enabled` is false. Finish()
// ends the terminal's line.
class StepPrinter {
 public:
  explicit StepPrinter(bool enabled);
  void operator()(const StepInfo& s) const;
  void Finish() const;

 private:
  bool enabled_, tty_;
};

// Top-1 accuracy of `logits_of` (a batch of images [B, C, H, W] -> logits
// [B, classes]) on the whole dataset, batches of `batch`.
Result<double> ClassifierAccuracy(
    const ImageDataset& data, int64_t batch,
    const std::function<Result<graph::Tensor>(const graph::Tensor&)>&
        logits_of);

}  // namespace lowbit
