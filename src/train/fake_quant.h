// Weight fake quantization for quantization-aware training: each output
// channel r of a weight (its rows, channel first) has a step s_r, and the
// forward pass uses w_q = s_r clamp(round(w / s_r), Qn, Qp) with Qn = -2^(b-1),
// Qp = 2^(b-1) - 1 for b-bit symmetric int, Qn = -1, Qp = 1 for ternary. The
// latent float weights w are what the optimiser trains; the gradient reaches
// them through the straight-through estimator (Bengio et al., arXiv
// 1308.3432): dL/dw = dL/dw_q inside [Qn s, Qp s], 0 outside. With LSQ
// (Esser et al., arXiv 1902.08153) the steps are trained too: dL/ds =
// g sum dL/dw_q (round(v) - v inside, Qn or Qp where clipped), v = w / s,
// g = 1 / sqrt(N Qp) over the channel's N weights. Steps start from lowbit's
// mse clipping search (quant/quantize.h), signed as lowbit's symmetric steps
// are (a channel's extreme goes to Qn, the level of the larger magnitude); the
// formulas hold for either sign. The forward pass uses them rounded to f16,
// so Export() writes exactly the weights the model was trained with.
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
  // w: rows x cols, channel first. scheme: symmetric int (2..8 bits) or
  // ternary; lsq: train the steps.
  static Result<FakeQuantWeight> Create(const float* w, int64_t rows,
                                        int64_t cols, const Scheme& scheme,
                                        bool lsq, ThreadPool& pool);
  // The fake-quantized weight, rows x cols.
  void Forward(float* out) const;
  // From dL/dw_q (rows x cols): dL/dw into grad_latent, dL/ds into grad_step
  // (LSQ; untouched otherwise). Both are overwritten.
  void Backward(const float* grad_q, float* grad_latent,
                float* grad_step) const;
  // The codes and f16 steps as a per-channel symmetric quantized tensor of
  // `shape` (rows = shape[0] after the caller's channel-first view).
  QuantizedTensor Export(const Shape& front_shape) const;

  graph::Tensor& latent() { return latent_; }
  graph::Tensor& step() { return step_; }
  bool lsq() const { return lsq_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }

 private:
  float StepOf(int64_t r) const;
  Scheme scheme_;
  bool lsq_ = false;
  int64_t rows_ = 0, cols_ = 0;
  float qn_ = 0.0f, qp_ = 0.0f;
  graph::Tensor latent_, step_;
};

}  // namespace lowbit
