// Data-free input-channel equalization: AWQ's form (quant/awq.h) with the
// activation scale estimated from the weights themselves. A trained layer's
// input channels with small weights tend to carry large activations (the
// network balances the product, as cross-layer equalization exploits; Nagel
// et al., arXiv 1906.04721), so s_c = m_c^-alpha with m_c the largest
// |w| of input channel c (held at no less than 1e-6 of the largest channel's):
// the codes of W s give those channels finer steps, and the layer's input is
// scaled by 1/s (folded into the producer where the graph allows,
// io/onnx_awq_fold.h). alpha is chosen per layer from a grid by the layer's
// error: tr(D H D^T) when statistics are given, else the (importance-weighted)
// squared weight error sum(D^2), D = W - decode(Q(W s)) / s. alpha = 0 (all
// scales 1) is the plain fit, so the result is never worse than it under that
// error.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "quant/awq.h"
#include "quant/config.h"

namespace lowbit {

struct EqualizeOptions {
  // The alphas tried (0 must be among them for the never-worse relation).
  std::vector<double> alphas = {0.0, 0.125, 0.25, 0.375, 0.5};
};

// w: rows x cols in `groups` row groups with `taps` columns per input channel
// (as QuantizeAwq). h: groups matrices [cols x cols] or nullptr; importance:
// one weight per column, or empty. The result's q holds the codes of W s,
// channel_scale s (groups x channels), rtn_error the error at alpha = 0.
Result<AwqResult> QuantizeEqualized(const float* w, const Shape& shape,
                                    const QuantConfig& config, const float* h,
                                    std::span<const float> importance,
                                    int64_t groups, int64_t taps,
                                    const EqualizeOptions& opt,
                                    ThreadPool& pool);

}  // namespace lowbit
