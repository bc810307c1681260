// Optimisers over a model's parameters (the Tape's constant tensors, updated
// in place) and learning-rate schedules.
//   SGD with momentum (PyTorch's form: v = mu v + g + wd w; w -= lr v);
//   Adam (Kingma and Ba, arXiv 1412.6980), bias-corrected, L2 weight decay
//     added to the gradient;
//   schedules over the run's steps: constant, cosine (to 0 at the last step),
//     step (x0.1 at 50% and 75%).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "graph/tensor.h"

namespace lowbit {

struct OptimizerOptions {
  std::string kind = "sgd";                       // sgd or adam
  double momentum = 0.9;                          // sgd
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam
  double weight_decay = 0.0;
};

class Optimizer {
 public:
  static Result<Optimizer> Create(const OptimizerOptions& o);
  // One step on params[k] with grads[k] (same shapes; the state is kept per
  // index, so pass the same parameters in the same order every time).
  Status Step(const std::vector<graph::Tensor*>& params,
              const std::vector<const graph::Tensor*>& grads, double lr);
  int64_t steps() const { return t_; }

  // The state, for checkpoints: per parameter, first and second moments
  // (second empty for SGD).
  std::vector<std::vector<float>>& first() { return m_; }
  std::vector<std::vector<float>>& second() { return v_; }
  void set_steps(int64_t t) { t_ = t; }

 private:
  OptimizerOptions o_;
  std::vector<std::vector<float>> m_, v_;
  int64_t t_ = 0;
};

// The learning rate at step (0-based) of total: "constant", "cosine" or
// "step".
Result<double> ScheduledRate(const std::string& schedule, double base,
                             int64_t step, int64_t total);

}  // namespace lowbit
