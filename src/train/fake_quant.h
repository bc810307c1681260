// Weight fake quantization for quantization-aware training. A weight (rows
// x cols, channel first) is cut into groups along its rows (a whole row per
// channel, or groups of G); group j of row r has a step s and an offset z,
// and the forward pass uses w_q = s (clamp(round(w / s + z), 0, L) - z):
//   - symmetric int (b bits): L = 2^b - 1, z = 2^(b-1) (codes centred, the
//     levels -2^(b-1) .. 2^(b-1) - 1), as lowbit's symmetric codes;
//   - ternary: L = 2, z = 1 (levels -1, 0, 1);
//   - binary: L = 1, z = 1/2, the step twice the scale (levels -1, 1);
//   - asymmetric int: L = 2^b - 1, z the group's zero point: a code, or any
//     f16 value (ZeroType::kF16).
// The latent float weights w are what the optimiser trains; the gradient
// reaches them through the straight-through estimator (Bengio et al., arXiv
// 1308.3432): dL/dw = dL/dw_q where w / s + z lies inside (0, L), 0 outside.
// With LSQ (Esser et al., arXiv 1902.08153) the steps are trained too:
// dL/ds = g sum dL/dw_q (round(v) - v inside, the clipped level's 0 - z or
// L - z outside), v = w / s + z, g = 1 / sqrt(N Qp) over the group's N
// weights, Qp = L - z for symmetric, L for asymmetric; and f16 zero points
// with LSQ+'s offset gradient (Bhalgat et al., arXiv 2004.09576): dL/dz = g
// sum over the clipped weights of -s dL/dw_q (0 inside). Steps and zero
// points start from lowbit's quantizer (a QuantizedTensor: the mse clipping
// search by default, or any method's result); the forward pass uses them
// rounded to f16 (code zero points: fixed), so Export() writes exactly the
// weights the model was trained with.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "formats/quantized_tensor.h"
#include "formats/scheme.h"
#include "graph/tensor.h"

namespace lowbit {

class FakeQuantWeight {
 public:
  // w: rows x cols, channel first. scheme: symmetric int (2..8 bits),
  // ternary or binary, per channel, steps from the mse search; lsq: train the
  // steps.
  static Result<FakeQuantWeight> Create(const float* w, int64_t rows,
                                        int64_t cols, const Scheme& scheme,
                                        bool lsq, ThreadPool& pool);
  // Starting from `q` (int2..int8, ternary or binary, per channel or in groups,
  // symmetric or asymmetric; rows x cols as w): its steps and zero points.
  // The latent weights are w.
  static Result<FakeQuantWeight> FromQuantized(const float* w,
                                               const QuantizedTensor& q,
                                               bool lsq);
  // The fake-quantized weight, rows x cols.
  void Forward(float* out) const;
  // From dL/dw_q (rows x cols): dL/dw into grad_latent, dL/ds into grad_step
  // and dL/dz into grad_zero (LSQ; rows x groups; untouched otherwise, and
  // grad_zero only for trained zero points). All are overwritten.
  void Backward(const float* grad_q, float* grad_latent, float* grad_step,
                float* grad_zero = nullptr) const;
  // The codes, f16 steps and zero points as a quantized tensor of `shape`
  // (rows = shape[0] after the caller's channel-first view), laid out as the
  // tensor it started from.
  QuantizedTensor Export(const Shape& front_shape) const;

  graph::Tensor& latent() { return latent_; }
  graph::Tensor& step() { return step_; }  // rows x groups
  graph::Tensor& zero() { return zero_; }  // rows x groups
  bool lsq() const { return lsq_; }
  // Whether the zero points are trained (asymmetric f16 ones, with LSQ).
  bool trains_zero() const { return lsq_ && zero_trained_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t groups() const { return groups_; }

 private:
  float StepOf(int64_t i) const;
  float ZeroOf(int64_t i) const;
  QuantizedTensor layout_;  // what Export fills (codes, scales, zeros empty)
  bool lsq_ = false, zero_trained_ = false, binary_ = false;
  int64_t rows_ = 0, cols_ = 0, group_ = 0, groups_ = 0;
  float top_ = 0.0f;  // L: the largest code
  float qp_ = 0.0f;   // LSQ's Qp
  graph::Tensor latent_, step_, zero_;
};

}  // namespace lowbit
