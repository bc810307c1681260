// Training checkpoints: what a run needs to go on after an interruption,
// written after every epoch (safetensors, temporary file + rename, so that an
// interrupted run keeps its last whole checkpoint) and read back by
// --resume. The file holds
//   - the trained tensors in the training loop's step order ("value/K");
//   - the optimiser's moments ("first/K", "second/K") and step count;
//   - the epochs done, the steps done and their reports;
//   - the run's fingerprint (the model and the options that shape the
//     tensors and the data order): a checkpoint of another run is refused
//     with both named.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "graph/tensor.h"
#include "train/classifier.h"

namespace lowbit {

// TrainState: train/classifier.h.
Status WriteCheckpoint(const std::string& path, const std::string& fingerprint,
                       const TrainState& s);

// BadInput naming the file when it is not a checkpoint, is malformed, or
// belongs to another run (its fingerprint differs from `fingerprint`).
Result<TrainState> ReadCheckpoint(const std::string& path,
                                  const std::string& fingerprint);

// Where a run writing `out` keeps its checkpoint (TrainOptions::checkpoint):
// OUT.ckpt by default, "" for none.
std::string CheckpointPath(const TrainOptions& t, const std::string& out);

// Checkpoints for a run: with `resume` a file, its state (checked) into
// *state and hooks->resume; hooks->on_epoch then writes `path` after every
// epoch ("" : none). `state` must outlive the training.
Status UseCheckpoints(const std::string& path, const std::string& resume,
                      const std::string& fingerprint, TrainState* state,
                      TrainHooks* hooks);

}  // namespace lowbit
