// AdaRound's relaxed rounding (Nagel et al., arXiv 2004.10568), the part
// that layer-wise AdaRound (quant/adaround.h) and block reconstruction
// (pipeline/brecq.h) share. The scales and zero points are a starting fit's;
// each weight chooses between the code below and the code above w / s + z,
// relaxed to floor(w / s + z) + h(V) with the rectified sigmoid
//   h(V) = clip(sigmoid(V) (zeta - gamma) + gamma, 0, 1),
// zeta = 1.1, gamma = -0.1. V starts where h(V) is the rest of w / s + z
// (so the relaxed weight starts at w, clipped to the codes' range), and is
// stepped by Adam on dL/dW~ plus the regulariser
//   lambda mean(1 - |2 h(V) - 1|^beta)
// that pushes every h to 0 or 1. Harden() gives the codes floor + (h >= 1/2).
// Integer schemes (per channel or in groups, either zero point kind).
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "formats/quantized_tensor.h"

namespace lowbit {

class SoftRounding {
 public:
  // w: start.rows x start.cols, channel first. from_codes: start at the
  // start's own codes (h = 0.1 or 0.9 of the pair {code, its neighbour
  // towards w / s + z}; a method that moved codes beyond the two nearest,
  // as GPTQ does, keeps its choice in reach) instead of at w.
  static Result<SoftRounding> Create(const float* w,
                                     const QuantizedTensor& start,
                                     bool from_codes = false);

  int64_t size() const { return static_cast<int64_t>(v_.size()); }
  // The relaxed weight W~ (rows x cols).
  void Decode(float* out) const;
  // One Adam step on V from dL/dW~ (rows x cols) and the regulariser with
  // weight `lambda` (0: none) at exponent `beta`; `step` counts from 1.
  void Step(const float* grad_w, double lambda, float beta, float lr, int step,
            ThreadPool& pool);
  // The start's tensor with the hard codes floor + (h >= 1/2).
  QuantizedTensor Harden() const;
  // The share of weights whose h is still between 0.1 and 0.9.
  double Undecided() const;

 private:
  QuantizedTensor start_;
  float top_ = 0.0f;
  std::vector<float> step_, zero_, base_, v_, m1_, m2_;
};

}  // namespace lowbit
