#include "train/distill.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <numeric>
#include <random>

namespace lowbit {

Result<LossResult> DistillLossOf(const graph::Tensor& out,
                                 const graph::Tensor& teacher,
                                 DistillLoss kind) {
  if (out.dtype() != DType::kF32 || out.shape() != teacher.shape() ||
      out.rank() < 1 || out.numel() < 1) {
    return InvalidArgument("the output " + out.Describe() +
                           " does not match the teacher's " +
                           teacher.Describe());
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
  graph::Tensor g = graph::Tensor::Zeros(DType::kF32, out.shape());
  std::copy_n(r.grad.data<float>(), out.numel(), g.data<float>());
  r.grad = std::move(g);
  return r;
}

Result<std::vector<EpochReport>> TrainDistill(
    graph::Tape& tape, const std::string& input,
    const std::vector<DistillSample>& samples, DistillLoss kind,
    const TrainOptions& o, const std::function<void(const StepInfo&)>& on_step,
    const TrainHooks& hooks) {
  if (o.epochs < 1 || o.batch < 1 || !(o.lr > 0.0)) {
    return InvalidArgument("epochs, batch and learning rate must be positive");
  }
  const int64_t n = static_cast<int64_t>(samples.size());
  if (n < 1) return InvalidArgument("no sample to train on");
  LB_ASSIGN_OR_RETURN(Optimizer opt, Optimizer::Create(o.optimizer));
  const int64_t per_epoch = (n + o.batch - 1) / o.batch;
  int64_t total = per_epoch * o.epochs;
  if (o.max_steps > 0) total = std::min(total, o.max_steps);
  std::mt19937_64 rng(o.seed);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::vector<EpochReport> reports;
  std::map<std::string, graph::Tensor> sum;
  int64_t step = 0;
  const std::vector<graph::Tensor*> state =
      train_internal::StateTensors(tape, hooks);
  ValidationResult val;
  std::vector<graph::Tensor> best_values;
  if (hooks.resume != nullptr) {
    LB_RETURN_IF_ERROR(train_internal::RestoreState(*hooks.resume, state, opt));
    step = hooks.resume->steps_done;
    reports = hooks.resume->epochs;
    val = hooks.resume->validation;
    best_values = hooks.resume->best_values;
    if (hooks.validate && best_values.size() != state.size()) {
      return InvalidArgument("the checkpoint has no validated state");
    }
  } else if (hooks.validate) {
    if (hooks.before_forward) LB_RETURN_IF_ERROR(hooks.before_forward());
    LB_ASSIGN_OR_RETURN(val.start, hooks.validate());
    val.best = val.start;
    val.best_epoch = 0;
    best_values = train_internal::CopyValues(state);
  }
  for (int e = 0; e < o.epochs && step < total; ++e) {
    std::iota(idx.begin(), idx.end(), 0);
    if (o.shuffle) std::shuffle(idx.begin(), idx.end(), rng);
    if (hooks.resume != nullptr && e < hooks.resume->epochs_done) continue;
    EpochReport rep;
    rep.epoch = e + 1;
    int64_t batches = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t b0 = 0; b0 < n && step < total; b0 += o.batch) {
      const auto s0 = std::chrono::steady_clock::now();
      const int64_t b1 = std::min(n, b0 + o.batch);
      if (hooks.before_forward) LB_RETURN_IF_ERROR(hooks.before_forward());
      double batch_loss = 0.0;
      for (int64_t i = b0; i < b1; ++i) {
        const DistillSample& s = samples[idx[i]];
        LB_ASSIGN_OR_RETURN(std::vector<graph::Tensor> out,
                            tape.Forward({{input, s.x}}));
        LB_ASSIGN_OR_RETURN(LossResult loss,
                            DistillLossOf(out[0], s.teacher, kind));
        batch_loss += loss.loss / static_cast<double>(b1 - b0);
        const float inv = 1.0f / static_cast<float>(b1 - b0);
        for (int64_t k = 0; k < loss.grad.numel(); ++k) {
          loss.grad.data<float>()[k] *= inv;
        }
        std::vector<graph::Tensor> seeds(out.size());
        seeds[0] = std::move(loss.grad);
        LB_ASSIGN_OR_RETURN(auto grads, tape.Backward(seeds));
        for (auto& [name, g] : grads) {
          auto it = sum.find(name);
          if (i == b0 || it == sum.end()) {
            sum[name] = std::move(g);
            continue;
          }
          float* d = it->second.data<float>();
          const float* a = g.data<float>();
          for (int64_t k = 0; k < g.numel(); ++k) d[k] += a[k];
        }
      }
      std::vector<const graph::Tensor*> g;
      std::vector<graph::Tensor*> targets;
      if (hooks.step_targets) {
        LB_RETURN_IF_ERROR(hooks.step_targets(sum, &targets, &g));
      } else {
        for (const std::string& p : tape.params()) {
          targets.push_back(&tape.param(p));
          g.push_back(&sum.at(p));
        }
      }
      LB_ASSIGN_OR_RETURN(const double lr,
                          ScheduledRate(o.schedule, o.lr, step, total));
      LB_RETURN_IF_ERROR(opt.Step(targets, g, lr));
      rep.loss += batch_loss;
      ++batches;
      ++step;
      if (on_step) {
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - s0)
                .count();
        on_step(StepInfo{e + 1, step, total, batch_loss, lr,
                         s > 0 ? (b1 - b0) / s : 0.0});
      }
    }
    rep.loss /= std::max<int64_t>(1, batches);
    rep.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    if (hooks.validate) {
      if (hooks.before_forward) LB_RETURN_IF_ERROR(hooks.before_forward());
      LB_ASSIGN_OR_RETURN(rep.validation, hooks.validate());
      if (rep.validation < val.best) {
        val.best = rep.validation;
        val.best_epoch = e + 1;
        best_values = train_internal::CopyValues(state);
      }
    }
    reports.push_back(rep);
    if (hooks.on_epoch) {
      TrainState s =
          train_internal::CaptureState(e + 1, step, reports, state, opt);
      s.validation = val;
      s.best_values = best_values;
      LB_RETURN_IF_ERROR(hooks.on_epoch(s));
    }
  }
  // Early stopping: the best state validated.
  if (hooks.validate) {
    for (size_t k = 0; k < state.size(); ++k) {
      std::copy_n(best_values[k].data<float>(), state[k]->numel(),
                  state[k]->data<float>());
    }
    if (hooks.validation_out != nullptr) *hooks.validation_out = val;
  }
  return reports;
}

}  // namespace lowbit
