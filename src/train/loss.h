// Losses on a batch of logits [B, C]: the mean over the batch, and its
// gradient with respect to the logits (what Tape::Backward takes).
//   SoftmaxCrossEntropy: -log softmax(z)[label], with labels;
//   DistillKl: KL(softmax(t / T) || softmax(z / T)) T^2 against a teacher's
//     logits t (Hinton et al., arXiv 1503.02531), no labels.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "graph/tensor.h"

namespace lowbit {

struct LossResult {
  double loss = 0.0;    // mean over the batch
  graph::Tensor grad;   // d loss / d logits, the logits' shape
  int64_t correct = 0;  // arg max equal to the label (cross-entropy)
};

Result<LossResult> SoftmaxCrossEntropy(const graph::Tensor& logits,
                                       const int32_t* labels);
Result<LossResult> DistillKl(const graph::Tensor& logits,
                             const graph::Tensor& teacher,
                             double temperature = 1.0);

}  // namespace lowbit
