#include "quant/equalize.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "quant/quantize.h"

namespace lowbit {

Result<AwqResult> QuantizeEqualized(const float* w, const Shape& shape,
                                    const QuantConfig& cfg, const float* h,
                                    std::span<const float> importance,
                                    int64_t groups, int64_t taps,
                                    const EqualizeOptions& opt,
                                    ThreadPool& pool) {
  int64_t rows, cols;
  RowsCols(shape, &rows, &cols);
  if (groups < 1 || rows % groups != 0 || taps < 1 || cols % taps != 0) {
    return InvalidArgument("equalization: " + std::to_string(rows) + " x " +
                           std::to_string(cols) + " does not split into " +
                           std::to_string(groups) + " groups of channels of " +
                           std::to_string(taps) + " taps");
  }
  if (!importance.empty() && static_cast<int64_t>(importance.size()) != cols) {
    return InvalidArgument(
        "equalization: " + std::to_string(importance.size()) +
        " importance weights for " + std::to_string(cols) + " columns");
  }
  const int64_t rg = rows / groups, ch = cols / taps;
  // m_c: the largest |w| of each input channel (its taps, the group's rows);
  // s_c = m_c^-alpha.
  std::vector<double> inv_max(static_cast<size_t>(groups * ch), 0.0);
  for (int64_t row = 0; row < rows; ++row) {
    double* m = inv_max.data() + (row / rg) * ch;
    for (int64_t c = 0; c < cols; ++c) {
      m[c / taps] = std::max(m[c / taps],
                             static_cast<double>(std::fabs(w[row * cols + c])));
    }
  }
  // A channel of (nearly) zero weights would get an unbounded scale: each
  // m_c is held at no less than kFloor of its group's largest.
  constexpr double kFloor = 1e-6;
  for (int64_t g = 0; g < groups; ++g) {
    double* m = inv_max.data() + g * ch;
    const double top = *std::max_element(m, m + ch);
    for (int64_t c = 0; c < ch; ++c) {
      m[c] = top > 0.0 ? 1.0 / std::max(m[c], kFloor * top) : 1.0;
    }
  }
  std::vector<float> scaled(static_cast<size_t>(rows * cols));
  std::vector<float> col_scale, chan, imp;
  AwqResult best;
  best.layer_error = INFINITY;
  for (double alpha : opt.alphas) {
    PowerChannelScales(inv_max, groups, ch, taps, alpha, &chan, &col_scale);
    ScaleColumns(w, rows, cols, groups, col_scale, scaled.data());
    // The search weights each column as the inputs of the scaled layer do:
    // E[(x / s)^2] from H's diagonal, or the importance as given (the
    // data-free search is unweighted in the scaled space: measured better on
    // the recognizer than weighting it back by s^2).
    std::span<const float> search_imp = importance;
    if (h != nullptr) {
      imp.assign(static_cast<size_t>(cols), 0.0f);
      for (int64_t g = 0; g < groups; ++g) {
        const float* hg = h + g * cols * cols;
        for (int64_t c = 0; c < cols; ++c) {
          const float s = col_scale[g * cols + c];
          imp[c] += std::max(0.0f, hg[c * cols + c]) / (s * s) / groups;
        }
      }
      if (std::any_of(imp.begin(), imp.end(), [](float v) { return v > 0; }))
        search_imp = imp;
      else
        search_imp = {};
    }
    LB_ASSIGN_OR_RETURN(QuantizedTensor q,
                        Quantize(scaled.data(), shape, cfg, pool, search_imp));
    const double e = ScaledError(w, q, h, groups, col_scale, importance);
    if (alpha == 0.0) best.rtn_error = e;
    if (e < best.layer_error) {
      best.layer_error = e;
      best.alpha = alpha;
      best.q = std::move(q);
      best.channel_scale = chan;
    }
  }
  if (best.alpha > 0.0) best.q.method = "eq/" + best.q.method;
  return best;
}

}  // namespace lowbit
