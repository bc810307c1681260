// One weight, quantized with the method the user chose and the layer's
// calibration statistics when there are any: the choice shared by
// `quantize`, `sensitivity` and the mixed-precision search. Methods:
//   minmax, percentile:P, mse, hqq: the per-group fit (quant/group_fit.h),
//     weighted by the statistics' E[x^2] per column when given (or by
//     --importance);
//   gptq: GPTQ (quant/gptq.h) on the weighted mse scales;
//   awq: AWQ (quant/awq.h): input channels scaled by s, the codes of W s;
//     the caller scales the layer's input by 1/s (io/onnx_quantized.h);
//   auto: of mse (weighted), hqq, awq and gptq, the codes with the lowest
//     layer-output error tr(D H D^T) on the statistics;
//   adaround: AdaRound (quant/adaround.h) on GPTQ's scales and zero points,
//     kept where its layer error is below GPTQ's (integer schemes; others
//     take the mse fit).
// Without statistics, gptq and auto fall back to mse (the report says so).
// With LayerOptions::equalize, the data-free fits (and the mse fallback) go
// through input-channel equalization (quant/equalize.h): like awq, the codes
// of W s with the layer's input scaled by 1/s.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "formats/quantized_tensor.h"
#include "io/calib_stats_file.h"
#include "quant/config.h"
#include "quant/gptq.h"

namespace lowbit {

struct LayerChoice {
  QuantizedTensor q;
  std::string method;  // what made the codes ("gptq", "mse (weighted)", ...)
  // Layer-output error tr(D H D^T) of the codes kept (-1 without statistics)
  // and of every candidate tried, by method name.
  double layer_error = -1.0;
  std::map<std::string, double> candidates;
  // AWQ or equalization: s per input channel (the codes are those of W s),
  // groups x channels; empty otherwise.
  std::vector<float> input_scale;
};

struct LayerOptions {
  GptqOptions gptq;
  bool equalize = false;
  // Row groups of a grouped Conv (its `group`), used where no statistics
  // give them.
  int64_t groups = 1;
};

// The weight a layer applies, rows x cols: q decoded, divided by the input
// scale of each column's channel where there is one (LayerChoice::input_scale:
// the codes are those of W s).
std::vector<float> AppliedWeight(const QuantizedTensor& q,
                                 const std::vector<float>& input_scale,
                                 int64_t taps);

// Columns per input channel of an ONNX weight: a Conv's kernel size, else 1.
int64_t WeightTaps(const std::string& op, const Shape& shape);

// w: rows x cols (rows = output channels), `taps` columns per input
// channel (a Conv's kernel size; 1 for MatMul/Gemm). `importance` (one per
// column, or empty) overrides the statistics' weighting. `method` is checked by
// the caller (ConfigFor); cfg.method holds the fit for
// minmax/percentile/mse/hqq.
Result<LayerChoice> QuantizeLayer(const float* w, int64_t rows, int64_t cols,
                                  int64_t taps, const QuantConfig& cfg,
                                  const std::string& method,
                                  const CalibLayer* stats,
                                  std::vector<float> importance,
                                  ThreadPool& pool,
                                  const LayerOptions& opt = LayerOptions{});

}  // namespace lowbit
