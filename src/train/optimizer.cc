#include "train/optimizer.h"

#include <cmath>
#include <numbers>

namespace lowbit {

Result<Optimizer> Optimizer::Create(const OptimizerOptions& o) {
  if (o.kind != "sgd" && o.kind != "adam") {
    return InvalidArgument("optimizer '" + o.kind + "': expected sgd or adam");
  }
  if (o.momentum < 0 || o.momentum >= 1 || o.beta1 < 0 || o.beta1 >= 1 ||
      o.beta2 < 0 || o.beta2 >= 1 || o.weight_decay < 0) {
    return InvalidArgument(
        "momentum and Adam's betas must lie in [0, 1), weight decay >= 0");
  }
  Optimizer opt;
  opt.o_ = o;
  return opt;
}

Status Optimizer::Step(const std::vector<graph::Tensor*>& params,
                       const std::vector<const graph::Tensor*>& grads,
                       double lr) {
  if (params.size() != grads.size()) {
    return InvalidArgument("optimizer: parameters and gradients differ");
  }
  if (m_.empty()) {
    m_.resize(params.size());
    if (o_.kind == "adam") v_.resize(params.size());
  }
  if (m_.size() != params.size()) {
    return InvalidArgument("optimizer: a different set of parameters");
  }
  ++t_;
  const bool adam = o_.kind == "adam";
  const double bc1 = adam ? 1.0 - std::pow(o_.beta1, double(t_)) : 1.0;
  const double bc2 = adam ? 1.0 - std::pow(o_.beta2, double(t_)) : 1.0;
  for (size_t k = 0; k < params.size(); ++k) {
    graph::Tensor& w = *params[k];
    const graph::Tensor& g = *grads[k];
    if (w.numel() != g.numel()) {
      return InvalidArgument("optimizer: a gradient of the wrong size");
    }
    const int64_t n = w.numel();
    if (m_[k].empty()) m_[k].assign(static_cast<size_t>(n), 0.0f);
    if (adam && v_[k].empty()) v_[k].assign(static_cast<size_t>(n), 0.0f);
    float* wd = w.data<float>();
    const float* gd = g.data<float>();
    float* m = m_[k].data();
    if (!adam) {
      const float mu = static_cast<float>(o_.momentum);
      const float dec = static_cast<float>(o_.weight_decay);
      const float r = static_cast<float>(lr);
      for (int64_t i = 0; i < n; ++i) {
        m[i] = mu * m[i] + gd[i] + dec * wd[i];
        wd[i] -= r * m[i];
      }
      continue;
    }
    float* v = v_[k].data();
    const float b1 = static_cast<float>(o_.beta1),
                b2 = static_cast<float>(o_.beta2);
    const double step = lr * std::sqrt(bc2) / bc1;
    for (int64_t i = 0; i < n; ++i) {
      const float gi = gd[i] + static_cast<float>(o_.weight_decay) * wd[i];
      m[i] = b1 * m[i] + (1.0f - b1) * gi;
      v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
      wd[i] -= static_cast<float>(
          step * m[i] / (std::sqrt(double{v[i]}) + o_.eps * std::sqrt(bc2)));
    }
  }
  return Status::Ok();
}

Result<double> ScheduledRate(const std::string& schedule, double base,
                             int64_t step, int64_t total) {
  if (total < 1) total = 1;
  const double f = static_cast<double>(step) / static_cast<double>(total);
  if (schedule == "constant") return base;
  if (schedule == "cosine") {
    return 0.5 * base * (1.0 + std::cos(std::numbers::pi * f));
  }
  if (schedule == "step") {
    return f < 0.5 ? base : f < 0.75 ? 0.1 * base : 0.01 * base;
  }
  return InvalidArgument("schedule '" + schedule +
                         "': expected constant, cosine or step");
}

}  // namespace lowbit
