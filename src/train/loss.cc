#include "train/loss.h"

#include <algorithm>
#include <cmath>

namespace lowbit {
namespace {

Status CheckLogits(const graph::Tensor& z) {
  if (z.dtype() != DType::kF32 || z.rank() != 2 || z.dim(0) < 1 ||
      z.dim(1) < 1) {
    return InvalidArgument("the loss takes f32 logits [batch, classes], got " +
                           z.Describe());
  }
  return Status::Ok();
}

// softmax(x / t) of one row into p (double).
void SoftmaxRow(const float* x, int64_t c, double t, double* p) {
  double m = -INFINITY;
  for (int64_t j = 0; j < c; ++j) m = std::max(m, x[j] / t);
  double s = 0.0;
  for (int64_t j = 0; j < c; ++j) {
    p[j] = std::exp(x[j] / t - m);
    s += p[j];
  }
  for (int64_t j = 0; j < c; ++j) p[j] /= s;
}

}  // namespace

Result<LossResult> SoftmaxCrossEntropy(const graph::Tensor& z,
                                       const int32_t* labels) {
  LB_RETURN_IF_ERROR(CheckLogits(z));
  const int64_t b = z.dim(0), c = z.dim(1);
  LossResult r;
  r.grad = graph::Tensor::Zeros(DType::kF32, z.shape());
  std::vector<double> p(static_cast<size_t>(c));
  for (int64_t i = 0; i < b; ++i) {
    const int32_t y = labels[i];
    if (y < 0 || y >= c) {
      return InvalidArgument("label " + std::to_string(y) + " is not in [0, " +
                             std::to_string(c) + ")");
    }
    const float* x = z.data<float>() + i * c;
    SoftmaxRow(x, c, 1.0, p.data());
    r.loss -= std::log(std::max(p[y], 1e-300));
    r.correct += std::max_element(x, x + c) - x == y;
    float* g = r.grad.data<float>() + i * c;
    for (int64_t j = 0; j < c; ++j) {
      g[j] = static_cast<float>((p[j] - (j == y ? 1.0 : 0.0)) / b);
    }
  }
  r.loss /= b;
  return r;
}

Result<LossResult> DistillKl(const graph::Tensor& z,
                             const graph::Tensor& teacher, double temperature) {
  LB_RETURN_IF_ERROR(CheckLogits(z));
  if (teacher.shape() != z.shape() || teacher.dtype() != DType::kF32) {
    return InvalidArgument("the teacher's logits " + teacher.Describe() +
                           " do not match the student's " + z.Describe());
  }
  if (!(temperature > 0.0)) {
    return InvalidArgument("the distillation temperature must be positive");
  }
  const int64_t b = z.dim(0), c = z.dim(1);
  const double t = temperature;
  LossResult r;
  r.grad = graph::Tensor::Zeros(DType::kF32, z.shape());
  std::vector<double> p(static_cast<size_t>(c)), q(static_cast<size_t>(c));
  for (int64_t i = 0; i < b; ++i) {
    SoftmaxRow(teacher.data<float>() + i * c, c, t, p.data());
    SoftmaxRow(z.data<float>() + i * c, c, t, q.data());
    float* g = r.grad.data<float>() + i * c;
    for (int64_t j = 0; j < c; ++j) {
      if (p[j] > 0.0)
        r.loss += p[j] * (std::log(p[j]) - std::log(std::max(q[j], 1e-300)));
      // d/dz of T^2 KL = T (q - p).
      g[j] = static_cast<float>(t * (q[j] - p[j]) / b);
    }
  }
  r.loss *= t * t / b;
  return r;
}

}  // namespace lowbit
