// Distillation training on unlabeled samples: the student (the Tape's graph)
// learns to reproduce a teacher's outputs (the fp32 model's, computed once).
// The output is read as rows over its last axis ([..., C] -> [rows, C]):
//   kKl: KL(softmax(teacher) || softmax(student)) per row, averaged (Hinton
//     et al., arXiv 1503.02531), for logits: a classifier's, or a CTC
//     recognizer's per frame;
//   kMse: the mean squared difference, for any output.
// With kKl, `hard_weight` w > 0 adds w times the cross-entropy of each row to
// the teacher's decision (its arg max): hard-label distillation (Touvron et
// al., arXiv 2012.12877), which keeps the decisions whose teacher margin is
// thin (a CTC frame between "space" and "blank") where the KL barely sees
// them.
// On logits, `min_confidence` p > 0 leaves out the rows whose teacher is
// unsure: where the teacher's top softmax probability is below p, the row's
// target is the student's own row, so it adds no loss and no gradient (the
// confidence threshold of pseudo-labels, FixMatch, Sohn et al., arXiv
// 2001.07685). A quantized model then keeps its own decision where fp32
// takes one by a thin margin (a CTC space fp32 half sees), and learns
// fp32's where fp32 is sure. With `unsure_target`, an unsure row's target
// is that tensor's row instead (the starting point's output: keep the
// start's decision there). Not with hard_weight.
// A step takes `batch` samples one at a time (their shapes may differ, such
// as text lines of different widths), sums their gradients and averages
// them; fixed seeds give identical runs.
#pragma once

#include <functional>
#include <vector>

#include "core/status.h"
#include "graph/autodiff.h"
#include "train/classifier.h"
#include "train/loss.h"

namespace lowbit {

enum class DistillLoss { kKl, kMse };

struct DistillSample {
  graph::Tensor x;        // the model's input
  graph::Tensor teacher;  // the teacher's output for it
  // The teacher's intermediate values (features), when the student is also
  // trained to reproduce them (DistillTerms::first_feature), in order.
  std::vector<graph::Tensor> features;
  // With DistillTerms::min_confidence: the output the rows the teacher is
  // unsure of learn (DistillLossOf's unsure_target); none: the student's own.
  graph::Tensor unsure_target;
  const graph::Tensor* UnsureTarget() const {
    return unsure_target.bytes() ? &unsure_target : nullptr;
  }
};

// What a distillation step minimizes: the output's loss (kind, with
// hard_weight as DistillLossOf takes it), plus feature_weight times the mean
// over the features of FeatureLossOf (FitNets' hint loss, Romero et al.,
// arXiv 1412.6550, as quantization-aware training uses it: the quantized
// model's intermediate values pulled towards fp32's).
struct DistillTerms {
  DistillLoss kind = DistillLoss::kKl;
  double hard_weight = 0.0;
  double feature_weight = 0.0;
  // The graph output that holds the first feature (features k: output
  // first_feature + k); the model's own outputs before it.
  size_t first_feature = 1;
  // Rows whose teacher's top probability is below it add nothing (on
  // logits; DistillLossOf). 0: every row.
  double min_confidence = 0.0;
};

// One sample's loss and d loss / d output (the output's shape).
Result<LossResult> DistillLossOf(const graph::Tensor& out,
                                 const graph::Tensor& teacher, DistillLoss kind,
                                 double hard_weight = 0.0,
                                 double min_confidence = 0.0,
                                 const graph::Tensor* unsure_target = nullptr);

// The rows (over the last axis) of logits whose softmax's top probability
// is below p.
std::vector<bool> UnsureRows(const graph::Tensor& logits, double p);

// One feature's relative squared error, sum (out - teacher)^2 / sum
// teacher^2 (scale-free: features of any size and magnitude weigh alike),
// and its gradient (the output's shape).
Result<LossResult> FeatureLossOf(const graph::Tensor& out,
                                 const graph::Tensor& teacher);

// Where the model ends in a Softmax over its last axis, removes it (its
// input becomes the first output, the logits) and returns true; else leaves
// the graph unchanged.
bool CutFinalSoftmax(graph::Graph& g);

// What a step trains on in place of sample i: a changed copy of it and the
// teacher's output for the copy (train/line_augment.h), drawn from `seed`.
using DistillView =
    std::function<Result<DistillSample>(int64_t i, uint64_t seed)>;

// Trains as TrainClassifier does (the tape's parameters, or what `hooks`
// says), the graph's first output against each sample's teacher output (and
// with terms.feature_weight > 0, the outputs from terms.first_feature on
// against its features), or
// with `view`, against what it gives per step (a seed per step and place in
// the batch: a resumed run draws what the whole run drew).
// EpochReport::train_accuracy is 0.
Result<std::vector<EpochReport>> TrainDistill(
    graph::Tape& tape, const std::string& input,
    const std::vector<DistillSample>& samples, const DistillTerms& terms,
    const TrainOptions& o,
    const std::function<void(const StepInfo&)>& on_step = nullptr,
    const TrainHooks& hooks = {}, const DistillView& view = nullptr);

}  // namespace lowbit
