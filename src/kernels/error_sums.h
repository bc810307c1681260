// Sums behind error statistics (eval/error_stats.h), and the finiteness check
// of inputs to quantize: one pass over f32 data, SIMD on every Highway target,
// with a scalar reference beside each.
#pragma once

#include <cstdint>

namespace lowbit {

// Running sums over pairs (reference x, approximation y), in double.
struct ErrorSums {
  double sq_err = 0;   // sum (x - y)^2
  double sq_ref = 0;   // sum x^2
  double sq_out = 0;   // sum y^2
  double dot = 0;      // sum x y
  double max_abs = 0;  // max |x - y|
};

// Adds n pairs to s. Products and sums are taken in double, per SIMD lane,
// then added into s: the result differs from the scalar reference only by the
// order of the double additions (relative 1e-12 on sums of millions).
void AccumulateErrorSums(const float* x, const float* y, int64_t n,
                         ErrorSums& s);

// The index of the first value of x[0..n) that is NaN or infinite, or -1.
int64_t FirstNonFinite(const float* x, int64_t n);

namespace reference {
// One pair at a time, in order.
void AccumulateErrorSums(const float* x, const float* y, int64_t n,
                         ErrorSums& s);
int64_t FirstNonFinite(const float* x, int64_t n);
}  // namespace reference

}  // namespace lowbit
