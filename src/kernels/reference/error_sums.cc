// Scalar references of kernels/error_sums.h: one value at a time, in order.
#include "kernels/error_sums.h"

#include <algorithm>
#include <cmath>

namespace lowbit {

namespace reference {

void AccumulateErrorSums(const float* x, const float* y, int64_t n,
                         ErrorSums& s) {
  for (int64_t i = 0; i < n; ++i) {
    const double a = x[i], b = y[i], d = a - b;
    s.sq_err += d * d;
    s.sq_ref += a * a;
    s.sq_out += b * b;
    s.dot += a * b;
    s.max_abs = std::max(s.max_abs, std::fabs(d));
  }
}

int64_t FirstNonFinite(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return i;
  }
  return -1;
}

}  // namespace reference

}  // namespace lowbit
