// Weighted one-dimensional k-means: Lloyd's algorithm (Lloyd 1982) seeded with
// k-means++ (Arthur & Vassilvitskii 2007), used to fit the non-uniform level
// table of one row. Works on the sorted values with prefix sums, so a Lloyd
// iteration costs O(k log n).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"

namespace lowbit {

// Fits k levels to the values x, optionally weighted by w (same length, w[i] >=
// 0; an empty w means all weights 1), minimising sum_i w_i (x_i - c(x_i))^2
// where c(x) is the level NearestLevel picks for x. k-means++ seeding draws
// from a std::mt19937_64 seeded with `seed`, then Lloyd iterations run until no
// level moves or max_iters is reached. Returns exactly k levels in ascending
// order, deterministically for a given seed. Non-finite x and points whose
// weight is not a finite positive number are ignored; if no point has such a
// weight, all finite points get weight 1. When at most k distinct values remain
// they are all levels (the error is zero) and the rest of the table repeats the
// largest one. No usable value at all gives k zeros; k <= 0 gives an empty
// vector. w must be empty or have x.size() entries (checked).
std::vector<float> KMeans1D(std::span<const float> x, std::span<const float> w,
                            int k, uint64_t seed, int max_iters = 30);

// Returns the index of the level nearest to v in the ascending, non-empty
// (checked) array `levels`; ties, including runs of equal levels, go to the
// lowest index and NaN gives 0.
inline int NearestLevel(std::span<const float> levels, float v) {
  LB_CHECK(!levels.empty());
  const int n = static_cast<int>(levels.size());
  const int hi = static_cast<int>(
      std::lower_bound(levels.begin(), levels.end(), v) - levels.begin());
  if (hi == 0) return 0;
  int lo = hi - 1;
  // Distances in double are exact for float operands (KMeans1D uses the same
  // comparison).
  if (hi < n) {
    const double to_lo = static_cast<double>(v) - levels[lo];
    const double to_hi = static_cast<double>(levels[hi]) - v;
    if (to_hi < to_lo) return hi;
  }
  if (lo > 0 && levels[lo - 1] == levels[lo]) {
    lo = static_cast<int>(
        std::lower_bound(levels.begin(), levels.begin() + lo, levels[lo]) -
        levels.begin());
  }
  return lo;
}

}  // namespace lowbit
