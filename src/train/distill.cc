#include "train/distill.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "train/loop.h"

namespace lowbit {

std::vector<bool> UnsureRows(const graph::Tensor& logits, double p) {
  const int64_t c = logits.rank() > 0 ? logits.shape().back() : 0;
  const int64_t rows = c > 0 ? logits.numel() / c : 0;
  std::vector<bool> unsure(static_cast<size_t>(rows), false);
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits.data<float>() + r * c;
    const float top = *std::max_element(z, z + c);
    double sum = 0.0;  // the top probability is 1 / sum exp(z - top)
    for (int64_t k = 0; k < c; ++k) sum += std::exp(double{z[k]} - top);
    unsure[r] = 1.0 / sum < p;
  }
  return unsure;
}

Result<LossResult> DistillLossOf(const graph::Tensor& out,
                                 const graph::Tensor& teacher, DistillLoss kind,
                                 double hard_weight, double min_confidence,
                                 const graph::Tensor* unsure_target) {
  if (out.dtype() != DType::kF32 || out.shape() != teacher.shape() ||
      out.rank() < 1 || out.numel() < 1) {
    return InvalidArgument("the output " + out.Describe() +
                           " does not match the teacher's " +
                           teacher.Describe());
  }
  if (min_confidence > 0.0 && hard_weight > 0.0) {
    return InvalidArgument(
        "a confidence threshold leaves rows out; the hard decisions' weight "
        "would still count them");
  }
  if (min_confidence > 0.0) {
    // An unsure row's target is the student's own row, or unsure_target's.
    if (unsure_target && unsure_target->shape() != out.shape()) {
      return InvalidArgument("the target of unsure rows " +
                             unsure_target->Describe() +
                             " does not match the output " + out.Describe());
    }
    const graph::Tensor& own = unsure_target ? *unsure_target : out;
    const int64_t c = out.shape().back();
    const std::vector<bool> unsure = UnsureRows(teacher, min_confidence);
    graph::Tensor target = graph::Tensor::Zeros(DType::kF32, out.shape());
    std::copy_n(teacher.data<float>(), out.numel(), target.data<float>());
    for (size_t r = 0; r < unsure.size(); ++r) {
      if (!unsure[r]) continue;
      const int64_t at = static_cast<int64_t>(r) * c;
      std::copy_n(own.data<float>() + at, c, target.data<float>() + at);
    }
    return DistillLossOf(out, target, kind, hard_weight, 0.0);
  }
  if (kind == DistillLoss::kMse) {
    LossResult r;
    r.grad = graph::Tensor::Zeros(DType::kF32, out.shape());
    const double n = static_cast<double>(out.numel());
    for (int64_t i = 0; i < out.numel(); ++i) {
      const double d =
          static_cast<double>(out.data<float>()[i]) - teacher.data<float>()[i];
      r.loss += d * d / n;
      r.grad.data<float>()[i] = static_cast<float>(2.0 * d / n);
    }
    return r;
  }
  const int64_t c = out.shape().back(), rows = out.numel() / c;
  graph::Tensor z = graph::Tensor::Zeros(DType::kF32, {rows, c});
  graph::Tensor t = graph::Tensor::Zeros(DType::kF32, {rows, c});
  std::copy_n(out.data<float>(), out.numel(), z.data<float>());
  std::copy_n(teacher.data<float>(), out.numel(), t.data<float>());
  LB_ASSIGN_OR_RETURN(LossResult r, DistillKl(z, t));
  if (hard_weight > 0.0) {
    std::vector<int32_t> decision(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) {
      const float* ti = t.data<float>() + i * c;
      decision[i] = static_cast<int32_t>(std::max_element(ti, ti + c) - ti);
    }
    LB_ASSIGN_OR_RETURN(LossResult ce, SoftmaxCrossEntropy(z, decision.data()));
    r.loss += hard_weight * ce.loss;
    const float w = static_cast<float>(hard_weight);
    for (int64_t k = 0; k < rows * c; ++k) {
      r.grad.data<float>()[k] += w * ce.grad.data<float>()[k];
    }
  }
  graph::Tensor g = graph::Tensor::Zeros(DType::kF32, out.shape());
  std::copy_n(r.grad.data<float>(), out.numel(), g.data<float>());
  r.grad = std::move(g);
  return r;
}

Result<LossResult> FeatureLossOf(const graph::Tensor& out,
                                 const graph::Tensor& teacher) {
  if (out.dtype() != DType::kF32 || teacher.dtype() != DType::kF32 ||
      out.shape() != teacher.shape() || out.numel() < 1) {
    return InvalidArgument("the feature " + out.Describe() +
                           " does not match the teacher's " +
                           teacher.Describe());
  }
  const float* s = out.data<float>();
  const float* t = teacher.data<float>();
  double energy = 0.0, err = 0.0;
  for (int64_t i = 0; i < out.numel(); ++i) {
    const double d = static_cast<double>(s[i]) - t[i];
    energy += static_cast<double>(t[i]) * t[i];
    err += d * d;
  }
  // A feature that is zero for this sample: its plain squared error.
  const double norm = energy > 0.0 ? energy : 1.0;
  LossResult r;
  r.loss = err / norm;
  r.grad = graph::Tensor::Zeros(DType::kF32, out.shape());
  float* g = r.grad.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) {
    g[i] = static_cast<float>(2.0 * (static_cast<double>(s[i]) - t[i]) / norm);
  }
  return r;
}

bool CutFinalSoftmax(graph::Graph& g) {
  if (g.output_ids.empty()) return false;
  const int y = g.output_ids[0];
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const graph::Node& n = g.nodes[i];
    if (n.outputs.empty() || n.outputs[0] != y) continue;
    if (n.op != "Softmax" || n.inputs.empty()) return false;
    const int64_t axis = n.Int("axis", g.opset() >= 13 ? -1 : 1);
    const graph::ValueInfo& vi = g.outputs[0];
    const int64_t rank =
        vi.has_shape ? static_cast<int64_t>(vi.dims.size()) : -1;
    if (axis != -1 && axis != rank - 1) return false;
    const int x = n.inputs[0];
    g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
    g.output_ids[0] = x;
    g.outputs[0] = graph::ValueInfo{};
    g.outputs[0].name = g.value_names[x];
    return true;
  }
  return false;
}

Result<std::vector<EpochReport>> TrainDistill(
    graph::Tape& tape, const std::string& input,
    const std::vector<DistillSample>& samples, const DistillTerms& terms,
    const TrainOptions& o, const std::function<void(const StepInfo&)>& on_step,
    const TrainHooks& hooks, const DistillView& view) {
  std::map<std::string, graph::Tensor> sum;
  // The samples one at a time (their shapes may differ), the gradients of
  // the batch's mean loss summed.
  DistillSample changed;
  auto batch = [&](const int64_t* idx, int64_t count,
                   int64_t step) -> Result<BatchResult> {
    double batch_loss = 0.0;
    for (int64_t i = 0; i < count; ++i) {
      if (view) {
        const uint64_t seed = o.seed * 0x9e3779b97f4a7c15ULL +
                              static_cast<uint64_t>(step) * 65537u +
                              static_cast<uint64_t>(i);
        LB_ASSIGN_OR_RETURN(changed, view(idx[i], seed));
      }
      const DistillSample& s = view ? changed : samples[idx[i]];
      LB_ASSIGN_OR_RETURN(std::vector<graph::Tensor> out,
                          tape.Forward({{input, s.x}}));
      LB_ASSIGN_OR_RETURN(
          LossResult loss,
          DistillLossOf(out[0], s.teacher, terms.kind, terms.hard_weight,
                        terms.min_confidence, s.UnsureTarget()));
      batch_loss += loss.loss / static_cast<double>(count);
      const float inv = 1.0f / static_cast<float>(count);
      for (int64_t k = 0; k < loss.grad.numel(); ++k) {
        loss.grad.data<float>()[k] *= inv;
      }
      std::vector<graph::Tensor> seeds(out.size());
      seeds[0] = std::move(loss.grad);
      if (terms.feature_weight > 0.0) {
        const size_t nf = s.features.size(), first = terms.first_feature;
        if (nf == 0 || first < 1 || out.size() != first + nf) {
          return InvalidArgument("feature distillation: the model gives " +
                                 std::to_string(out.size()) +
                                 " outputs, the sample " + std::to_string(nf) +
                                 " features after output " +
                                 std::to_string(first));
        }
        const double w = terms.feature_weight / static_cast<double>(nf);
        for (size_t f = 0; f < nf; ++f) {
          LB_ASSIGN_OR_RETURN(LossResult fl,
                              FeatureLossOf(out[first + f], s.features[f]));
          batch_loss += w * fl.loss / static_cast<double>(count);
          const float scale = static_cast<float>(w) * inv;
          for (int64_t k = 0; k < fl.grad.numel(); ++k) {
            fl.grad.data<float>()[k] *= scale;
          }
          seeds[first + f] = std::move(fl.grad);
        }
      }
      LB_ASSIGN_OR_RETURN(auto grads, tape.Backward(seeds));
      AddGradients(std::move(grads), i == 0, sum);
    }
    return BatchResult{batch_loss, 0, &sum};
  };
  return TrainLoop(tape, static_cast<int64_t>(samples.size()), batch, o,
                   on_step, hooks);
}

}  // namespace lowbit
