#include "pipeline/quantize_layer.h"

#include <algorithm>

#include "quant/adaround.h"
#include "quant/awq.h"
#include "quant/equalize.h"
#include "quant/gptq.h"
#include "quant/quantize.h"

namespace lowbit {

std::vector<float> AppliedWeight(const QuantizedTensor& q,
                                 const std::vector<float>& input_scale,
                                 int64_t taps) {
  std::vector<float> y = Dequantize(q);
  if (input_scale.empty()) return y;
  const int64_t rows = q.rows, cols = q.cols, ch = cols / taps;
  const int64_t groups = static_cast<int64_t>(input_scale.size()) / ch;
  const int64_t rg = rows / std::max<int64_t>(1, groups);
  for (int64_t r = 0; r < rows; ++r) {
    const float* sg = input_scale.data() + (r / rg) * ch;
    for (int64_t k = 0; k < cols; ++k) y[r * cols + k] /= sg[k / taps];
  }
  return y;
}

int64_t WeightTaps(const std::string& op, const Shape& shape) {
  return op == "Conv" && shape.size() >= 3
             ? NumElements(shape) / (shape[0] * shape[1])
             : 1;
}

Result<LayerChoice> QuantizeLayer(const float* w, int64_t rows, int64_t cols,
                                  int64_t taps, const QuantConfig& cfg,
                                  const std::string& method,
                                  const CalibLayer* stats,
                                  std::vector<float> imp, ThreadPool& pool,
                                  const LayerOptions& opt) {
  const GptqOptions& gptq = opt.gptq;
  if (stats != nullptr && imp.empty()) {  // E[x^2] per column, over groups
    imp.assign(static_cast<size_t>(cols), 0.0f);
    for (int64_t g = 0; g < stats->groups; ++g) {
      for (int64_t c = 0; c < cols; ++c) {
        imp[c] += stats->x_sq_mean[g * cols + c] / stats->groups;
      }
    }
    if (std::all_of(imp.begin(), imp.end(), [](float v) { return v == 0; }))
      imp.clear();
  }
  const Shape shape{rows, cols};
  const std::string weighted = imp.empty() ? "" : " (weighted)";
  LayerChoice best;
  auto error_of = [&](const QuantizedTensor& q) {
    return stats != nullptr
               ? LayerOutputError(w, q, stats->xtx.data(), stats->groups)
               : -1.0;
  };
  const bool calibrated = stats != nullptr;
  const bool awq_fits = taps >= 1 && cols % taps == 0;
  if (method == "awq" && calibrated && awq_fits) {
    LB_ASSIGN_OR_RETURN(
        AwqResult a,
        QuantizeAwq(w, shape, cfg, stats->xtx.data(), stats->x_abs_mean.data(),
                    stats->groups, taps, AwqOptions{}, pool));
    best.q = std::move(a.q);
    best.method = "awq";
    best.layer_error = a.layer_error;
    best.candidates["mse" + weighted] = a.rtn_error;
    best.candidates["awq"] = a.layer_error;
    if (a.alpha > 0.0) best.input_scale = std::move(a.channel_scale);
    return best;
  }
  if (method == "adaround" && calibrated &&
      cfg.scheme.kind == SchemeKind::kInt) {
    // From GPTQ's result (its refitted scales and zero points, and its codes
    // as the layer error to beat), the rounding learned on the statistics.
    GptqReport gr;
    LB_ASSIGN_OR_RETURN(QuantizedTensor start,
                        QuantizeGptq(w, shape, cfg, stats->xtx.data(),
                                     stats->groups, gptq, pool, &gr));
    AdaRoundReport rep;
    LB_ASSIGN_OR_RETURN(best.q,
                        AdaRound(w, start, stats->xtx.data(), stats->groups,
                                 AdaRoundOptions{}, pool, &rep));
    best.method = "adaround";
    best.layer_error = rep.error;
    best.candidates["mse" + weighted] = gr.rtn_error;
    best.candidates["gptq"] = gr.gptq_error;
    best.candidates["adaround"] = rep.error;
    return best;
  }
  if ((method == "gptq" || method == "auto") && calibrated) {
    // GPTQ's round-to-nearest start is the weighted mse fit: both at once.
    GptqReport rep;
    LB_ASSIGN_OR_RETURN(best.q, QuantizeGptq(w, shape, cfg, stats->xtx.data(),
                                             stats->groups, gptq, pool, &rep));
    best.method = "gptq";
    best.layer_error = rep.gptq_error;
    best.candidates["gptq"] = rep.gptq_error;
    best.candidates["mse" + weighted] = rep.rtn_error;
    if (method == "gptq") return best;
    std::vector<std::pair<std::string, MethodSpec>> others = {
        {"mse" + weighted, MethodSpec{Method::kMse}}};
    if (cfg.scheme.kind == SchemeKind::kInt) {
      others.push_back({"hqq", MethodSpec{Method::kHqq}});
    }
    if (awq_fits) {
      LB_ASSIGN_OR_RETURN(AwqResult a,
                          QuantizeAwq(w, shape, cfg, stats->xtx.data(),
                                      stats->x_abs_mean.data(), stats->groups,
                                      taps, AwqOptions{}, pool));
      best.candidates["awq"] = a.layer_error;
      if (a.layer_error < best.layer_error) {
        best.q = std::move(a.q);
        best.method = "awq";
        best.layer_error = a.layer_error;
        if (a.alpha > 0.0) best.input_scale = std::move(a.channel_scale);
      }
    }
    for (const auto& [name, spec] : others) {
      QuantConfig c = cfg;
      c.method = spec;
      LB_ASSIGN_OR_RETURN(
          QuantizedTensor q,
          Quantize(w, shape, c, pool,
                   spec.method == Method::kHqq ? std::vector<float>() : imp));
      const double e = name == "mse" + weighted ? rep.rtn_error : error_of(q);
      best.candidates[name] = e;
      if (e < best.layer_error) {
        best.q = std::move(q);
        best.method = name;
        best.layer_error = e;
        best.input_scale.clear();
      }
    }
    return best;
  }
  QuantConfig c = cfg;
  const bool needs_stats = method == "gptq" || method == "auto" ||
                           method == "awq" || method == "adaround";
  if (needs_stats) c.method = MethodSpec{Method::kMse};
  const int64_t groups = calibrated ? stats->groups : opt.groups;
  if (opt.equalize && awq_fits && groups >= 1 && rows % groups == 0 &&
      cols / taps > 1) {
    LB_ASSIGN_OR_RETURN(
        AwqResult a,
        QuantizeEqualized(w, shape, c, calibrated ? stats->xtx.data() : nullptr,
                          imp, groups, taps, EqualizeOptions{}, pool));
    best.q = std::move(a.q);
    if (a.alpha > 0.0) best.input_scale = std::move(a.channel_scale);
    if (calibrated) best.layer_error = a.layer_error;
  } else {
    LB_ASSIGN_OR_RETURN(best.q, Quantize(w, shape, c, pool, imp));
  }
  best.method = c.method.Name() + weighted;
  if (!best.input_scale.empty()) best.method += ", equalized";
  if (!calibrated && needs_stats) {
    best.method += ", no statistics";
  }
  if (best.input_scale.empty()) best.layer_error = error_of(best.q);
  if (calibrated) best.candidates[best.method] = best.layer_error;
  return best;
}

}  // namespace lowbit
