#include "quant/awq.h"

#include <algorithm>
#include <cmath>

#include "kernels/sgemm.h"
#include "quant/quantize.h"

namespace lowbit {
double ScaledError(const float* w, const QuantizedTensor& q, const float* h,
                   int64_t groups, const std::vector<float>& col_scale,
                   std::span<const float> importance) {
  const int64_t rows = q.rows, cols = q.cols, rg = rows / groups;
  std::vector<float> d(static_cast<size_t>(rg * cols)),
      dh(static_cast<size_t>(h != nullptr ? rg * cols : 0));
  double total = 0.0;
  for (int64_t g = 0; g < groups; ++g) {
    const float* s = col_scale.data() + g * cols;
    for (int64_t r = 0; r < rg; ++r) {
      const int64_t row = g * rg + r;
      float* dr = d.data() + r * cols;
      DequantizeRow(q, row, dr);
      for (int64_t c = 0; c < cols; ++c) {
        dr[c] = w[row * cols + c] - dr[c] / s[c];
      }
    }
    if (h == nullptr) {
      for (int64_t r = 0; r < rg; ++r) {
        const float* dr = d.data() + r * cols;
        for (int64_t c = 0; c < cols; ++c) {
          const double e = static_cast<double>(dr[c]) * dr[c];
          total += importance.empty() ? e : e * importance[c];
        }
      }
      continue;
    }
    Sgemm(false, false, rg, cols, cols, 1.0f, d.data(), cols,
          h + g * cols * cols, cols, 0.0f, dh.data(), cols);
    for (int64_t i = 0; i < rg * cols; ++i) {
      total += static_cast<double>(d[i]) * dh[i];
    }
  }
  return total;
}

void PowerChannelScales(const std::vector<double>& m, int64_t groups,
                        int64_t ch, int64_t taps, double alpha,
                        std::vector<float>* chan,
                        std::vector<float>* col_scale) {
  chan->resize(static_cast<size_t>(groups * ch));
  col_scale->resize(static_cast<size_t>(groups * ch * taps));
  for (int64_t g = 0; g < groups; ++g) {
    double lo = INFINITY, hi = 0.0;
    for (int64_t c = 0; c < ch; ++c) {
      const double a = std::max(m[g * ch + c], 1e-8);
      const double v = alpha == 0.0 ? 1.0 : std::pow(a, alpha);
      (*chan)[g * ch + c] = static_cast<float>(v);
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    const double norm = std::sqrt(lo * hi);
    for (int64_t c = 0; c < ch; ++c) {
      float& v = (*chan)[g * ch + c];
      v = alpha == 0.0 ? 1.0f : static_cast<float>(v / norm);
      for (int64_t t = 0; t < taps; ++t) {
        (*col_scale)[(g * ch + c) * taps + t] = v;
      }
    }
  }
}

void ScaleColumns(const float* w, int64_t rows, int64_t cols, int64_t groups,
                  const std::vector<float>& col_scale, float* out) {
  const int64_t rg = rows / groups;
  for (int64_t row = 0; row < rows; ++row) {
    const float* s = col_scale.data() + (row / rg) * cols;
    for (int64_t c = 0; c < cols; ++c) {
      out[row * cols + c] = w[row * cols + c] * s[c];
    }
  }
}

Result<AwqResult> QuantizeAwq(const float* w, const Shape& shape,
                              const QuantConfig& cfg, const float* h,
                              const float* x_abs_mean, int64_t groups,
                              int64_t taps, const AwqOptions& opt,
                              ThreadPool& pool) {
  int64_t rows, cols;
  RowsCols(shape, &rows, &cols);
  if (groups < 1 || rows % groups != 0 || taps < 1 || cols % taps != 0) {
    return InvalidArgument("AWQ: " + std::to_string(rows) + " x " +
                           std::to_string(cols) + " does not split into " +
                           std::to_string(groups) + " groups of channels of " +
                           std::to_string(taps) + " taps");
  }
  const int64_t rg = rows / groups, ch = cols / taps, hsz = cols * cols;
  // Mean |x| per input channel (over its taps), per group.
  std::vector<double> act(static_cast<size_t>(groups * ch), 0.0);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t c = 0; c < cols; ++c) {
      act[g * ch + c / taps] += x_abs_mean[g * cols + c] / taps;
    }
  }
  std::vector<double> alphas;
  if (opt.fixed_alpha >= 0.0) {
    alphas = {opt.fixed_alpha};
  } else {
    for (int i = 0; i <= opt.grid; ++i) alphas.push_back(double(i) / opt.grid);
  }
  AwqResult best;
  best.layer_error = INFINITY;
  std::vector<float> scaled(static_cast<size_t>(rows * cols));
  std::vector<float> col_scale(static_cast<size_t>(groups * cols));
  std::vector<float> chan(static_cast<size_t>(groups * ch));
  std::vector<float> imp(static_cast<size_t>(cols));
  for (double alpha : alphas) {
    PowerChannelScales(act, groups, ch, taps, alpha, &chan, &col_scale);
    ScaleColumns(w, rows, cols, groups, col_scale, scaled.data());
    // The scaled layer's inputs are x / s: their mean squares weight the
    // search.
    std::fill(imp.begin(), imp.end(), 0.0f);
    for (int64_t g = 0; g < groups; ++g) {
      for (int64_t c = 0; c < cols; ++c) {
        const float s = col_scale[g * cols + c];
        imp[c] += std::max(0.0f, h[g * hsz + c * cols + c]) / (s * s) / groups;
      }
    }
    const bool any =
        std::any_of(imp.begin(), imp.end(), [](float v) { return v > 0.0f; });
    LB_ASSIGN_OR_RETURN(
        QuantizedTensor q,
        Quantize(scaled.data(), shape, cfg, pool,
                 any ? std::span<const float>(imp) : std::span<const float>()));
    const double e = ScaledError(w, q, h, groups, col_scale);
    if (alpha == 0.0) best.rtn_error = e;
    if (e < best.layer_error) {
      best.layer_error = e;
      best.alpha = alpha;
      best.q = std::move(q);
      best.channel_scale = chan;
    }
  }
  best.q.method = "awq/" + best.q.method;
  return best;
}

}  // namespace lowbit
