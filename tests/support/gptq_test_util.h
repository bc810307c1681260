// Synthetic inputs for the GPTQ tests: correlated input statistics and
// random weights.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "kernels/linalg.h"

namespace lowbit::testing_util {

// H = X^T X / n for n correlated inputs: x = z A with z standard normal and
// A a random mixing matrix whose columns have very different scales (some
// input channels carry much larger activations than others).
inline std::vector<float> CorrelatedHessian(int64_t cols, int64_t n,
                                            std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> a(static_cast<size_t>(cols * cols));
  for (int64_t i = 0; i < cols; ++i) {
    const float col_scale = std::exp(1.5f * nd(rng));
    for (int64_t j = 0; j < cols; ++j) {
      a[i * cols + j] = (i == j ? 1.0f : 0.4f * nd(rng)) * col_scale;
    }
  }
  std::vector<float> x(static_cast<size_t>(n * cols), 0.0f), z(cols);
  for (int64_t s = 0; s < n; ++s) {
    for (auto& v : z) v = nd(rng);
    for (int64_t j = 0; j < cols; ++j) {
      float acc = 0.0f;
      for (int64_t i = 0; i < cols; ++i) acc += z[i] * a[i * cols + j];
      x[s * cols + j] = acc;
    }
  }
  std::vector<float> h(static_cast<size_t>(cols * cols), 0.0f);
  AccumulateGram(x.data(), n, cols, h.data());
  SymmetrizeFromUpper(h.data(), cols);
  for (float& v : h) v /= static_cast<float>(n);
  return h;
}

inline std::vector<float> RandomWeights(int64_t rows, int64_t cols,
                                        std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 0.1f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& v : w) v = nd(rng);
  return w;
}

}  // namespace lowbit::testing_util
