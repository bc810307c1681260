#include "train/classifier.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>

#include "train/loop.h"
#include "train/loss.h"

namespace lowbit {
namespace {

// Images idx[0 .. n) as one batch tensor, and their labels.
graph::Tensor Batch(const ImageDataset& d, const int64_t* idx, int64_t n,
                    std::vector<int32_t>* labels) {
  const int64_t sz = d.image_size();
  graph::Tensor t =
      graph::Tensor::Zeros(DType::kF32, {n, d.channels, d.height, d.width});
  labels->resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = idx[i];
    std::copy_n(d.images.data() + k * sz, sz, t.data<float>() + i * sz);
    (*labels)[i] = d.labels[k];
  }
  return t;
}

// Image k of a batch, changed in place as `augment` says (train/classifier.h).
void Augment(const ImageDataset& d, const std::string& augment, int shift,
             std::mt19937_64& rng, float* img, std::vector<float>& tmp) {
  const int64_t h = d.height, w = d.width, plane = h * w;
  const bool flip = (rng() & 1) != 0;
  int64_t dy = 0, dx = 0;
  if (augment == "flip-shift" && shift > 0) {
    const uint64_t span = 2 * static_cast<uint64_t>(shift) + 1;
    dy = static_cast<int64_t>(rng() % span) - shift;
    dx = static_cast<int64_t>(rng() % span) - shift;
  }
  if (!flip && dy == 0 && dx == 0) return;
  for (int64_t c = 0; c < d.channels; ++c) {
    float* p = img + c * plane;
    tmp.assign(p, p + plane);
    const float fill = tmp[0];
    for (int64_t y = 0; y < h; ++y) {
      const int64_t sy = y - dy;
      for (int64_t x = 0; x < w; ++x) {
        int64_t sx = x - dx;
        if (flip && sx >= 0 && sx < w) sx = w - 1 - sx;
        p[y * w + x] =
            sy >= 0 && sy < h && sx >= 0 && sx < w ? tmp[sy * w + sx] : fill;
      }
    }
  }
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
    const TrainHooks& hooks, const std::vector<float>* teacher) {
  if (data.n < 1) return InvalidArgument("the dataset is empty");
  const double tw = o.teacher_weight;
  if (tw < 0.0 || tw > 1.0) {
    return InvalidArgument("the teacher's weight must lie in [0, 1]");
  }
  if (tw > 0.0 &&
      (teacher == nullptr ||
       static_cast<int64_t>(teacher->size()) != data.n * data.classes)) {
    return InvalidArgument("a teacher's weight without logits for every image");
  }
  if (o.augment != "none" && o.augment != "flip" && o.augment != "flip-shift") {
    return InvalidArgument("--augment " + o.augment +
                           ": expected none, flip or flip-shift");
  }
  std::vector<int32_t> labels;
  std::map<std::string, graph::Tensor> grads;
  std::vector<float> tmp;
  auto batch = [&](const int64_t* idx, int64_t count,
                   int64_t step) -> Result<BatchResult> {
    graph::Tensor x = Batch(data, idx, count, &labels);
    if (o.augment != "none") {
      // A stream per step (a resumed run draws what the whole run drew),
      // apart from the shuffles'.
      std::mt19937_64 aug_rng(o.seed * 0x9e3779b97f4a7c15ULL +
                              static_cast<uint64_t>(step));
      for (int64_t i = 0; i < count; ++i) {
        Augment(data, o.augment, o.shift, aug_rng,
                x.data<float>() + i * data.image_size(), tmp);
      }
    }
    LB_ASSIGN_OR_RETURN(std::vector<graph::Tensor> out,
                        tape.Forward({{input, x}}));
    LB_ASSIGN_OR_RETURN(LossResult loss,
                        SoftmaxCrossEntropy(out[0], labels.data()));
    if (tw > 0.0) {
      graph::Tensor t =
          graph::Tensor::Zeros(DType::kF32, {count, data.classes});
      for (int64_t i = 0; i < count; ++i) {
        std::copy_n(teacher->data() + idx[i] * data.classes, data.classes,
                    t.data<float>() + i * data.classes);
      }
      LB_ASSIGN_OR_RETURN(LossResult kl, DistillKl(out[0], t));
      loss.loss = (1.0 - tw) * loss.loss + tw * kl.loss;
      float* g = loss.grad.data<float>();
      const float* k = kl.grad.data<float>();
      for (int64_t i = 0; i < loss.grad.numel(); ++i) {
        g[i] = static_cast<float>((1.0 - tw) * g[i] + tw * k[i]);
      }
    }
    std::vector<graph::Tensor> seeds(out.size());
    seeds[0] = std::move(loss.grad);
    LB_ASSIGN_OR_RETURN(grads, tape.Backward(seeds));
    return BatchResult{loss.loss, loss.correct, &grads};
  };
  return TrainLoop(tape, data.n, batch, o, on_step, hooks);
}

Result<ImageDataset> HoldOutLast(ImageDataset* d, int64_t n) {
  if (n < 1 || n >= d->n) {
    return InvalidArgument("a validation split of " + std::to_string(n) +
                           " images: expected 1 to " +
                           std::to_string(d->n - 1));
  }
  ImageDataset v = *d;
  v.images.clear();
  v.labels.clear();
  const int64_t keep = d->n - n, sz = d->image_size();
  v.n = n;
  v.images.assign(d->images.begin() + keep * sz, d->images.end());
  v.labels.assign(d->labels.begin() + keep, d->labels.end());
  d->images.resize(static_cast<size_t>(keep * sz));
  d->labels.resize(static_cast<size_t>(keep));
  d->n = keep;
  return v;
}

Status KeepFirst(ImageDataset* d, int64_t n) {
  if (n < 0 || n > d->n) {
    return InvalidArgument("the first " + std::to_string(n) +
                           " images: expected 0 (all) to " +
                           std::to_string(d->n));
  }
  if (n == 0) return Status::Ok();
  d->images.resize(static_cast<size_t>(n * d->image_size()));
  d->labels.resize(static_cast<size_t>(n));
  d->n = n;
  return Status::Ok();
}

std::function<Result<double>()> ClassifierValidation(graph::Tape& tape,
                                                     const std::string& input,
                                                     const ImageDataset& val,
                                                     int64_t batch) {
  return [&tape, input, &val, batch]() -> Result<double> {
    // On the running statistics, without moving them.
    const bool bn = tape.batchnorm_training();
    tape.SetBatchNormTraining(false);
    Result<double> acc = ClassifierAccuracy(
        val, batch, [&](const graph::Tensor& x) -> Result<graph::Tensor> {
          LB_ASSIGN_OR_RETURN(auto out, tape.Forward({{input, x}}));
          return std::move(out[0]);
        });
    tape.SetBatchNormTraining(bn);
    if (!acc.ok()) return acc.status();
    return 1.0 - *acc;
  };
}

nlohmann::json ValidationJson(const ValidationResult& v, int64_t images) {
  return {{"images", images},
          {"start_error", v.start},
          {"best_error", v.best},
          {"written_epoch", v.best_epoch}};
}

std::string ValidationText(const ValidationResult& v, int64_t images) {
  return fmt::format(
      "validation ({} training images held out): error {:.2f}% at the start, "
      "best {:.2f}% after epoch {} (written)\n",
      images, 100.0 * v.start, 100.0 * v.best, v.best_epoch);
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
    LB_ASSIGN_OR_RETURN(graph::Tensor z, logits_of(Batch(data, idx.data() + b0,
                                                         b1 - b0, &labels)));
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
