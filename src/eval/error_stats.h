// ErrorStats: how far quantized weights are from the originals. Sums are kept
// so that statistics of many tensors merge into a total.
#pragma once

#include <cstdint>

namespace lowbit {

struct ErrorStats {
  int64_t count = 0;
  double sum_sq_err = 0.0;  // sum (x - y)^2
  double sum_sq_ref = 0.0;  // sum x^2
  double sum_sq_out = 0.0;  // sum y^2
  double sum_dot = 0.0;     // sum x y
  double max_abs_err = 0.0;

  // Accumulates n pairs (reference x, approximation y).
  void Add(const float* x, const float* y, int64_t n);
  void Merge(const ErrorStats& o);

  double mse() const;
  // RMSE / RMS of the reference (0 when both are 0).
  double rel_rmse() const;
  // 10 log10(sum x^2 / sum (x-y)^2); +inf for an exact match (reported as 999
  // in JSON).
  double sqnr_db() const;
  // x.y / (|x| |y|); 1 when both are all zero.
  double cosine() const;
};

}  // namespace lowbit
