// AdaRound (Nagel et al., arXiv 2004.10568): learned rounding of a layer's
// weights. The scales and zero points stay those of a starting fit (lowbit's
// weighted mse search); each weight chooses between the code below and the
// code above w / s + z, relaxed to floor(w / s + z) + h(V) with the
// rectified sigmoid h(V) = clip(sigmoid(V) (zeta - gamma) + gamma, 0, 1),
// zeta = 1.1, gamma = -0.1, and V learned by Adam to minimise
//   tr(D H D^T) / tr(D0 H D0^T) + lambda mean(1 - |2 h(V) - 1|^beta),
// D = W - W~ the rounding error, D0 the starting fit's, H = E[x x^T] the
// layer's input second moment (per row group; calibration statistics), beta
// annealed from 20 to 2 after a warm-up without the regulariser. The codes
// are then floor + (h >= 1/2). The result is kept only when its
// tr(D H D^T) is lower than the start's, so it is never worse than the
// starting fit under the layer-output error. Integer schemes
// only (per channel or in groups, either zero point kind).
#pragma once

#include <cstdint>

#include "core/status.h"
#include "core/thread_pool.h"
#include "formats/quantized_tensor.h"

namespace lowbit {

struct AdaRoundOptions {
  int iterations = 1000;
  double lr = 1e-2;  // Adam on V
  // The regulariser's weight against the error relative to the start's
  // (measured on correlated synthetic layers: 0.05 leaves most weights
  // undecided and the rounding near RTN's; 10 to 100 reach 0.39-0.54 of
  // RTN's error, below GPTQ's; src/quant/adaround_test.cc).
  double lambda = 10.0;
  double warmup = 0.2;  // of the iterations, without the regulariser
  double beta_start = 20.0, beta_end = 2.0;
};

struct AdaRoundReport {
  double start_error = 0.0, error = 0.0;  // tr(D H D^T), before and after
};

// w: start.rows x start.cols (channel first); h: `groups` matrices cols x
// cols, row group g of the weight reading h[g]. InvalidArgument for a
// scheme that is not int, or sizes that do not fit.
Result<QuantizedTensor> AdaRound(const float* w, const QuantizedTensor& start,
                                 const float* h, int64_t groups,
                                 const AdaRoundOptions& o, ThreadPool& pool,
                                 AdaRoundReport* report = nullptr);

}  // namespace lowbit
