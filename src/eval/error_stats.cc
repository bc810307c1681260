#include "eval/error_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/error_sums.h"

namespace lowbit {

void ErrorStats::Add(const float* x, const float* y, int64_t n) {
  ErrorSums e;
  e.max_abs = max_abs_err;
  AccumulateErrorSums(x, y, n, e);
  count += n;
  sum_sq_err += e.sq_err;
  sum_sq_ref += e.sq_ref;
  sum_sq_out += e.sq_out;
  sum_dot += e.dot;
  max_abs_err = e.max_abs;
}

void ErrorStats::Merge(const ErrorStats& o) {
  count += o.count;
  sum_sq_err += o.sum_sq_err;
  sum_sq_ref += o.sum_sq_ref;
  sum_sq_out += o.sum_sq_out;
  sum_dot += o.sum_dot;
  max_abs_err = std::max(max_abs_err, o.max_abs_err);
}

double ErrorStats::mse() const { return count ? sum_sq_err / count : 0.0; }

double ErrorStats::rel_rmse() const {
  if (sum_sq_ref == 0.0) return sum_sq_err == 0.0 ? 0.0 : 1.0;
  return std::sqrt(sum_sq_err / sum_sq_ref);
}

double ErrorStats::sqnr_db() const {
  if (sum_sq_err == 0.0) return std::numeric_limits<double>::infinity();
  if (sum_sq_ref == 0.0) return -std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(sum_sq_ref / sum_sq_err);
}

double ErrorStats::cosine() const {
  if (sum_sq_ref == 0.0 && sum_sq_out == 0.0) return 1.0;
  if (sum_sq_ref == 0.0 || sum_sq_out == 0.0) return 0.0;
  return sum_dot / std::sqrt(sum_sq_ref * sum_sq_out);
}

}  // namespace lowbit
