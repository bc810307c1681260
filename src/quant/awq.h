// AWQ, activation-aware weight quantization (Lin et al., arXiv 2306.00978):
// weights of input channels that carry large activations matter more, so each
// input channel c is scaled up by s_c before quantization and its input scaled
// down by 1/s_c (X W^T = (X / s) (W s)^T): the salient channels get finer
// steps. s_c = mean|x_c|^alpha, normalised so that max(s) min(s) = 1, with
// alpha searched on a grid of [0, 1] for the lowest layer-output error
// tr(D H D^T), D = W - decode(Q(W s)) / s, H = E[x x^T] of the unscaled inputs.
// alpha = 0 (all scales 1) is round-to-nearest with the same weighted search.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "formats/quantized_tensor.h"
#include "quant/config.h"

namespace lowbit {

struct AwqOptions {
  int grid = 20;  // alpha in {0, 1/grid, ..., 1}
  // Only alpha = fixed_alpha when >= 0 (tests: 0 gives all scales 1).
  double fixed_alpha = -1.0;
};

struct AwqResult {
  QuantizedTensor q;  // the codes of W s (decode gives W s, not W)
  // s per input channel: `groups` x (cols / taps) values, channel-major as the
  // layer's input (a Conv's channels, a MatMul's features).
  std::vector<float> channel_scale;
  double alpha = 0.0;
  double layer_error = 0.0;  // at the chosen alpha
  double rtn_error = 0.0;    // at alpha = 0 (scales 1)
};

// Shared with quant/equalize.h. s_c = m_c^alpha per input channel (m: groups
// x ch values, clamped below at 1e-8), normalised per group so that max(s)
// min(s) = 1 (alpha = 0: all 1); `chan` gets groups x ch values, `col_scale`
// groups x (ch taps), each channel's scale repeated over its taps.
void PowerChannelScales(const std::vector<double>& m, int64_t groups,
                        int64_t ch, int64_t taps, double alpha,
                        std::vector<float>* chan,
                        std::vector<float>* col_scale);

// w s per row group: out[row, c] = w[row, c] col_scale[g, c].
void ScaleColumns(const float* w, int64_t rows, int64_t cols, int64_t groups,
                  const std::vector<float>& col_scale, float* out);

// tr(D H D^T) over the row groups, D = w - decode(q) / s; h = nullptr: the
// squared error sum(D^2), each column weighted by importance[c] when given.
double ScaledError(const float* w, const QuantizedTensor& q, const float* h,
                   int64_t groups, const std::vector<float>& col_scale,
                   std::span<const float> importance = {});

// w: rows x cols (rows = output channels, split into `groups` consecutive
// blocks as in quant/gptq.h); a column is (input channel, tap) with `taps`
// columns per input channel (a Conv's kernel size, 1 for MatMul). h: groups
// matrices [cols x cols]; x_abs_mean: groups x cols (E|x| per column).
Result<AwqResult> QuantizeAwq(const float* w, const Shape& shape,
                              const QuantConfig& config, const float* h,
                              const float* x_abs_mean, int64_t groups,
                              int64_t taps, const AwqOptions& opt,
                              ThreadPool& pool);

}  // namespace lowbit
