#include "train/classifier.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>

#include "train/loss.h"

namespace lowbit {
namespace {

// Images [idx[b0], ..., idx[b1 - 1]] as one batch tensor, and their labels.
graph::Tensor Batch(const ImageDataset& d, const std::vector<int64_t>& idx,
                    int64_t b0, int64_t b1, std::vector<int32_t>* labels) {
  const int64_t n = b1 - b0, sz = d.image_size();
  graph::Tensor t =
      graph::Tensor::Zeros(DType::kF32, {n, d.channels, d.height, d.width});
  labels->resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = idx[b0 + i];
    std::copy_n(d.images.data() + k * sz, sz, t.data<float>() + i * sz);
    (*labels)[i] = d.labels[k];
  }
  return t;
}

}  // namespace

namespace train_internal {

std::vector<graph::Tensor*> StateTensors(graph::Tape& tape,
                                         const TrainHooks& hooks) {
  if (hooks.state_tensors) return hooks.state_tensors();
  std::vector<graph::Tensor*> t;
  for (const std::string& p : tape.params()) t.push_back(&tape.param(p));
  return t;
}

Status RestoreState(const TrainState& s,
                    const std::vector<graph::Tensor*>& tensors,
                    Optimizer& opt) {
  if (s.values.size() != tensors.size()) {
    return InvalidArgument(
        "the checkpoint holds " + std::to_string(s.values.size()) +
        " tensors; this run trains " + std::to_string(tensors.size()));
  }
  for (size_t k = 0; k < tensors.size(); ++k) {
    if (s.values[k].shape() != tensors[k]->shape()) {
      return InvalidArgument("the checkpoint's tensor " + std::to_string(k) +
                             " is " + s.values[k].Describe() + ", not " +
                             tensors[k]->Describe());
    }
  }
  for (const auto* m : {&s.first, &s.second}) {
    if (m->empty()) continue;
    if (m->size() != tensors.size()) {
      return InvalidArgument("the checkpoint's optimiser state does not fit");
    }
    for (size_t k = 0; k < tensors.size(); ++k) {
      if ((*m)[k].size() != static_cast<size_t>(tensors[k]->numel())) {
        return InvalidArgument("the checkpoint's optimiser state does not fit");
      }
    }
  }
  for (size_t k = 0; k < tensors.size(); ++k) {
    std::copy_n(s.values[k].data<float>(), tensors[k]->numel(),
                tensors[k]->data<float>());
  }
  opt.first() = s.first;
  opt.second() = s.second;
  opt.set_steps(s.optimizer_steps);
  return Status::Ok();
}

std::vector<graph::Tensor> CopyValues(
    const std::vector<graph::Tensor*>& tensors) {
  std::vector<graph::Tensor> v;
  for (graph::Tensor* t : tensors) {
    graph::Tensor c = graph::Tensor::Zeros(DType::kF32, t->shape());
    std::copy_n(t->data<float>(), t->numel(), c.data<float>());
    v.push_back(std::move(c));
  }
  return v;
}

TrainState CaptureState(int epochs_done, int64_t steps_done,
                        const std::vector<EpochReport>& epochs,
                        const std::vector<graph::Tensor*>& tensors,
                        Optimizer& opt) {
  TrainState s;
  s.epochs_done = epochs_done;
  s.steps_done = steps_done;
  s.epochs = epochs;
  s.values = CopyValues(tensors);
  s.first = opt.first();
  s.second = opt.second();
  s.optimizer_steps = opt.steps();
  return s;
}

}  // namespace train_internal

Result<std::vector<EpochReport>> TrainClassifier(
    graph::Tape& tape, const std::string& input, const ImageDataset& data,
    const TrainOptions& o, const std::function<void(const StepInfo&)>& on_step,
    const TrainHooks& hooks) {
  if (o.epochs < 1 || o.batch < 1 || !(o.lr > 0.0)) {
    return InvalidArgument("epochs, batch and learning rate must be positive");
  }
  if (data.n < 1) return InvalidArgument("the dataset is empty");
  LB_ASSIGN_OR_RETURN(Optimizer opt, Optimizer::Create(o.optimizer));
  std::vector<graph::Tensor*> params;
  for (const std::string& p : tape.params()) params.push_back(&tape.param(p));
  const int64_t per_epoch = (data.n + o.batch - 1) / o.batch;
  int64_t total = per_epoch * o.epochs;
  if (o.max_steps > 0) total = std::min(total, o.max_steps);
  std::mt19937_64 rng(o.seed);
  std::vector<int64_t> idx(static_cast<size_t>(data.n));
  std::vector<int32_t> labels;
  std::vector<EpochReport> reports;
  int64_t step = 0;
  const std::vector<graph::Tensor*> state =
      train_internal::StateTensors(tape, hooks);
  if (hooks.resume != nullptr) {
    LB_RETURN_IF_ERROR(train_internal::RestoreState(*hooks.resume, state, opt));
    step = hooks.resume->steps_done;
    reports = hooks.resume->epochs;
  }
  for (int e = 0; e < o.epochs && step < total; ++e) {
    std::iota(idx.begin(), idx.end(), 0);
    if (o.shuffle) std::shuffle(idx.begin(), idx.end(), rng);
    if (hooks.resume != nullptr && e < hooks.resume->epochs_done) continue;
    EpochReport rep;
    rep.epoch = e + 1;
    int64_t seen = 0, correct = 0, batches = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t b0 = 0; b0 < data.n && step < total; b0 += o.batch) {
      const auto s0 = std::chrono::steady_clock::now();
      const int64_t b1 = std::min(data.n, b0 + o.batch);
      graph::Tensor x = Batch(data, idx, b0, b1, &labels);
      if (hooks.before_forward) LB_RETURN_IF_ERROR(hooks.before_forward());
      LB_ASSIGN_OR_RETURN(std::vector<graph::Tensor> out,
                          tape.Forward({{input, x}}));
      LB_ASSIGN_OR_RETURN(LossResult loss,
                          SoftmaxCrossEntropy(out[0], labels.data()));
      std::vector<graph::Tensor> seeds(out.size());
      seeds[0] = std::move(loss.grad);
      LB_ASSIGN_OR_RETURN(auto grads, tape.Backward(seeds));
      std::vector<const graph::Tensor*> g;
      std::vector<graph::Tensor*> targets;
      if (hooks.step_targets) {
        LB_RETURN_IF_ERROR(hooks.step_targets(grads, &targets, &g));
      } else {
        targets = params;
        for (const std::string& p : tape.params()) g.push_back(&grads.at(p));
      }
      LB_ASSIGN_OR_RETURN(const double lr,
                          ScheduledRate(o.schedule, o.lr, step, total));
      LB_RETURN_IF_ERROR(opt.Step(targets, g, lr));
      rep.loss += loss.loss;
      ++batches;
      correct += loss.correct;
      seen += b1 - b0;
      ++step;
      if (on_step) {
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - s0)
                .count();
        on_step(StepInfo{e + 1, step, total, loss.loss, lr,
                         s > 0 ? (b1 - b0) / s : 0.0});
      }
    }
    rep.loss /= std::max<int64_t>(1, batches);
    rep.train_accuracy = seen ? static_cast<double>(correct) / seen : 0.0;
    rep.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    reports.push_back(rep);
    if (hooks.on_epoch) {
      LB_RETURN_IF_ERROR(hooks.on_epoch(
          train_internal::CaptureState(e + 1, step, reports, state, opt)));
    }
  }
  return reports;
}

nlohmann::json EpochsJson(const std::vector<EpochReport>& epochs) {
  nlohmann::json j = nlohmann::json::array();
  for (const EpochReport& e : epochs) {
    j.push_back({{"epoch", e.epoch},
                 {"loss", e.loss},
                 {"train_accuracy", e.train_accuracy},
                 {"seconds", e.seconds}});
    if (e.validation >= 0.0) j.back()["validation"] = e.validation;
  }
  return j;
}

std::string EpochsText(const std::vector<EpochReport>& epochs) {
  std::string t;
  for (const EpochReport& e : epochs) {
    t += fmt::format("epoch {}: loss {:.4f}", e.epoch, e.loss);
    if (e.train_accuracy > 0.0) {
      t += fmt::format(", training accuracy {:.2f}%", 100.0 * e.train_accuracy);
    }
    if (e.validation >= 0.0) {
      t += fmt::format(", validation {:.4g}", e.validation);
    }
    t += fmt::format(", {:.1f} s\n", e.seconds);
  }
  return t;
}

StepPrinter::StepPrinter(bool enabled)
    : enabled_(enabled), tty_(enabled && ::isatty(2) != 0) {}

void StepPrinter::operator()(const StepInfo& s) const {
  if (!enabled_ || (!tty_ && s.step % 100 != 0 && s.step != s.steps)) return;
  fmt::print(stderr,
             "{}epoch {} step {}/{}: loss {:.4f}, lr {:.4g}, {:.0f} images/s{}",
             tty_ ? "\r" : "", s.epoch, s.step, s.steps, s.loss, s.lr,
             s.images_per_second, tty_ ? "   " : "\n");
}

void StepPrinter::Finish() const {
  if (tty_) fmt::print(stderr, "\n");
}

Result<double> ClassifierAccuracy(
    const ImageDataset& data, int64_t batch,
    const std::function<Result<graph::Tensor>(const graph::Tensor&)>&
        logits_of) {
  if (data.n < 1 || batch < 1) return InvalidArgument("nothing to evaluate");
  std::vector<int64_t> idx(static_cast<size_t>(data.n));
  std::iota(idx.begin(), idx.end(), 0);
  std::vector<int32_t> labels;
  int64_t correct = 0;
  for (int64_t b0 = 0; b0 < data.n; b0 += batch) {
    const int64_t b1 = std::min(data.n, b0 + batch);
    LB_ASSIGN_OR_RETURN(graph::Tensor z,
                        logits_of(Batch(data, idx, b0, b1, &labels)));
    if (z.rank() != 2 || z.dim(0) != b1 - b0 || z.dtype() != DType::kF32) {
      return InvalidArgument("the model's output " + z.Describe() +
                             " is not [batch, classes] logits");
    }
    const int64_t c = z.dim(1);
    for (int64_t i = 0; i < b1 - b0; ++i) {
      const float* r = z.data<float>() + i * c;
      correct += std::max_element(r, r + c) - r == labels[i];
    }
  }
  return static_cast<double>(correct) / data.n;
}

}  // namespace lowbit
