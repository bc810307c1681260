// The training loop every trainer shares (train/classifier.h, train/distill.h):
// epochs over n samples in a seeded shuffle (identical runs), mini-batches,
// the learning-rate schedule, an optimiser step on the tape's parameters or
// on what TrainHooks says, progress per step, a checkpoint state per epoch,
// --resume (the finished epochs' shuffles replayed), and early stopping
// (TrainHooks::validate: the best epoch's state, the start included, is what
// the run leaves in the tensors). What a batch computes is the caller's.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/autodiff.h"
#include "train/classifier.h"

namespace lowbit {

// What one batch gave: its mean loss, how many of its samples were right
// (classifiers; 0 otherwise), and the gradients of the tape's parameters by
// name (the loss's, averaged over the batch).
struct BatchResult {
  double loss = 0.0;
  int64_t correct = 0;
  std::map<std::string, graph::Tensor>* grads = nullptr;
};

// Samples idx[0 .. count) as one batch: forward, loss, backward; `step`
// counts the run's steps from 0 (a resumed run's too: per-step randomness
// seeded from it repeats). Called after TrainHooks::before_forward.
using BatchFn = std::function<Result<BatchResult>(const int64_t* idx,
                                                  int64_t count, int64_t step)>;

// Adds one sample's gradients (by name) into `sum`; `restart` (the batch's
// first sample) replaces what `sum` held instead. For batches run a sample
// at a time.
void AddGradients(std::map<std::string, graph::Tensor>&& grads, bool restart,
                  std::map<std::string, graph::Tensor>& sum);

Result<std::vector<EpochReport>> TrainLoop(
    graph::Tape& tape, int64_t n, const BatchFn& batch, const TrainOptions& o,
    const std::function<void(const StepInfo&)>& on_step,
    const TrainHooks& hooks);

}  // namespace lowbit
