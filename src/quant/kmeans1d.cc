// Weighted 1-D k-means on sorted data: k-means++ seeding (Arthur &
// Vassilvitskii 2007) and Lloyd iterations (Lloyd 1982) where every cluster is
// a contiguous range of the sorted distinct values, so range weights, means and
// costs come from prefix sums in O(1).
#include "quant/kmeans1d.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>

namespace lowbit {
namespace {

// Neumaier-compensated running sum, so that differences of prefix sums keep
// their precision.
class CompensatedSum {
 public:
  void Add(double v) {
    const double t = sum_ + v;
    if (std::fabs(sum_) >= std::fabs(v)) {
      comp_ += (sum_ - t) + v;
    } else {
      comp_ += (v - t) + sum_;
    }
    sum_ = t;
  }
  double Value() const { return sum_ + comp_; }

 private:
  double sum_ = 0.0;
  double comp_ = 0.0;
};

// Returns a uniform double in [0, 1) from the top 53 bits of one draw; unlike
// std::uniform_real_distribution this is the same on every standard library.
double Uniform01(std::mt19937_64& gen) {
  return static_cast<double>(gen() >> 11) * 0x1.0p-53;
}

// True when v is strictly nearer to the upper level hi than to the lower level
// lo: the comparison NearestLevel makes, so that cluster ranges agree with it
// exactly.
inline bool NearerToUpper(float v, float lo, float hi) {
  return static_cast<double>(v) - lo > static_cast<double>(hi) - v;
}

// The distinct usable values in ascending order with their summed weights (all
// > 0).
struct SortedPoints {
  std::vector<float> xs;
  std::vector<double> ws;
};

// Maps a finite float to a 32-bit key whose unsigned order is the float order
// (-0 sorts just below +0; the two are merged later because they compare equal
// as floats).
inline uint32_t OrderedKey(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

inline float KeyToFloat(uint32_t key) {
  return std::bit_cast<float>((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

// Sorts items by the 32-bit key in bits [key_shift, key_shift + 32): an LSD
// radix sort with four 8-bit passes (a pass is skipped when all items share
// that byte). For rows of a few thousand values, where sorting dominates the
// cost of KMeans1D, it is much faster than std::sort.
template <typename T>
void RadixSortByKey(std::vector<T>& items, int key_shift) {
  const size_t n = items.size();
  if (n < 2) return;
  auto key = [key_shift](T v) { return static_cast<uint32_t>(v >> key_shift); };
  uint32_t hist[4][256] = {};
  for (T v : items) {
    const uint32_t kv = key(v);
    for (int b = 0; b < 4; ++b) ++hist[b][(kv >> (8 * b)) & 255u];
  }
  std::vector<T> tmp(n);
  T* src = items.data();
  T* dst = tmp.data();
  for (int b = 0; b < 4; ++b) {
    uint32_t* h = hist[b];
    if (h[(key(src[0]) >> (8 * b)) & 255u] == n) continue;
    uint32_t sum = 0;
    for (int i = 0; i < 256; ++i) {
      const uint32_t c = h[i];
      h[i] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; ++i) {
      const T v = src[i];
      dst[h[(key(v) >> (8 * b)) & 255u]++] = v;
    }
    std::swap(src, dst);
  }
  if (src != items.data()) std::copy(src, src + n, items.data());
}

// Appends value v with weight wt to the sorted output, merging it into the last
// point when equal.
inline void AppendMerged(SortedPoints& out, float v, double wt) {
  if (!out.xs.empty() && out.xs.back() == v) {
    out.ws.back() += wt;
  } else {
    out.xs.push_back(v);
    out.ws.push_back(wt);
  }
}

// Sorts and merges the usable points of (x, w) as described in the header
// contract.
SortedPoints SortAndMerge(std::span<const float> x, std::span<const float> w) {
  SortedPoints out;
  if (!w.empty()) {
    // Item = key << 32 | bits of the weight.
    std::vector<uint64_t> items;
    items.reserve(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::isfinite(x[i]) && std::isfinite(w[i]) && w[i] > 0.0f) {
        items.push_back(static_cast<uint64_t>(OrderedKey(x[i])) << 32 |
                        std::bit_cast<uint32_t>(w[i]));
      }
    }
    if (!items.empty()) {
      RadixSortByKey(items, 32);
      out.xs.reserve(items.size());
      out.ws.reserve(items.size());
      for (uint64_t item : items) {
        AppendMerged(out, KeyToFloat(static_cast<uint32_t>(item >> 32)),
                     std::bit_cast<float>(static_cast<uint32_t>(item)));
      }
      return out;
    }
    // No positive weight anywhere: fall back to the unweighted problem.
  }
  std::vector<uint32_t> keys;
  keys.reserve(x.size());
  for (float xi : x) {
    if (std::isfinite(xi)) keys.push_back(OrderedKey(xi));
  }
  RadixSortByKey(keys, 0);
  out.xs.reserve(keys.size());
  out.ws.reserve(keys.size());
  for (uint32_t kv : keys) AppendMerged(out, KeyToFloat(kv), 1.0);
  return out;
}

// Prefix sums over the sorted points of w, w*y and w*y^2 with y = x - shift
// (shifting by the median keeps the sums small, which matters for the
// cancellation in RangeCost).
class PrefixSums {
 public:
  explicit PrefixSums(const SortedPoints& p) {
    const size_t m = p.xs.size();
    shift_ = p.xs[m / 2];
    w_.resize(m + 1);
    wy_.resize(m + 1);
    wyy_.resize(m + 1);
    CompensatedSum sw, swy, swyy;
    w_[0] = wy_[0] = wyy_[0] = 0.0;
    for (size_t i = 0; i < m; ++i) {
      const double y = static_cast<double>(p.xs[i]) - shift_;
      const double wi = p.ws[i];
      sw.Add(wi);
      swy.Add(wi * y);
      swyy.Add(wi * y * y);
      w_[i + 1] = sw.Value();
      wy_[i + 1] = swy.Value();
      wyy_[i + 1] = swyy.Value();
    }
  }

  const std::vector<double>& weights() const { return w_; }
  double RangeWeight(int a, int b) const { return w_[b] - w_[a]; }
  // Weighted mean of the points [a, b); the range must have positive weight.
  double RangeMean(int a, int b) const {
    return shift_ + (wy_[b] - wy_[a]) / (w_[b] - w_[a]);
  }
  // sum over [a, b) of w_i (x_i - c)^2, clamped at zero against rounding.
  double RangeCost(int a, int b, float c) const {
    const double d = static_cast<double>(c) - shift_;
    const double cost = (wyy_[b] - wyy_[a]) - 2.0 * d * (wy_[b] - wy_[a]) +
                        d * d * (w_[b] - w_[a]);
    return std::max(cost, 0.0);
  }

 private:
  double shift_ = 0.0;
  std::vector<double> w_, wy_, wyy_;
};

// First index i in [a, b) whose value is nearer to hi than to lo (b if none).
int Boundary(const std::vector<float>& xs, int a, int b, float lo, float hi) {
  return static_cast<int>(
      std::partition_point(xs.begin() + a, xs.begin() + b,
                           [&](float v) { return !NearerToUpper(v, lo, hi); }) -
      xs.begin());
}

// Same as Boundary, but gallops outwards from `guess` first: O(log |answer -
// guess|), which is what Lloyd iterations need as boundaries move little.
int BoundaryNear(const std::vector<float>& xs, int a, int b, int guess,
                 float lo, float hi) {
  auto up = [&](int i) { return NearerToUpper(xs[i], lo, hi); };
  guess = std::clamp(guess, a, b);
  int l = a, r = b;  // the answer lies in [l, r]
  if (guess < b && !up(guess)) {
    l = guess + 1;
    for (int64_t step = 1;; step *= 2) {
      const int64_t probe = l + step - 1;
      if (probe >= b) break;
      if (up(static_cast<int>(probe))) {
        r = static_cast<int>(probe);
        break;
      }
      l = probe + 1;
    }
  } else {
    r = guess;
    for (int64_t step = 1;; step *= 2) {
      const int64_t probe = r - step;
      if (probe < a) break;
      if (!up(static_cast<int>(probe))) {
        l = static_cast<int>(probe) + 1;
        break;
      }
      r = static_cast<int>(probe);
    }
  }
  return Boundary(xs, l, r, lo, hi);
}

// Sum of v with four accumulators (a shorter dependency chain than one).
double SumOf(const std::vector<double>& v) {
  double s[4] = {0.0, 0.0, 0.0, 0.0};
  const size_t n = v.size();
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int l = 0; l < 4; ++l) s[l] += v[i + l];
  }
  for (; i < n; ++i) s[0] += v[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

// Result of the seeding: centres ascending and their cells, cell j being the
// sorted points [bnd[j], bnd[j + 1]).
struct Seeds {
  std::vector<float> cen;
  std::vector<int> bnd;
};

// k-means++ seeding (Arthur & Vassilvitskii 2007) on m > k distinct sorted
// points: the first centre is drawn proportional to w, each next one
// proportional to w * D^2. The current centres' cells are contiguous ranges
// with O(1) costs, so a draw is O(k + log m). Returns k distinct centres in
// ascending order with their cells.
Seeds SeedPlusPlus(const SortedPoints& p, const PrefixSums& ps, int k,
                   std::mt19937_64& gen) {
  const std::vector<float>& xs = p.xs;
  const int m = static_cast<int>(xs.size());
  const std::vector<double>& cum_w = ps.weights();

  Seeds seeds;
  std::vector<float>& cen = seeds.cen;  // ascending
  std::vector<int>& bnd = seeds.bnd;    // cell j is [bnd[j], bnd[j + 1])
  std::vector<double> pot;              // sum of w D^2 over cell j
  cen.reserve(k);
  bnd.reserve(k + 1);
  pot.reserve(k);

  const double u0 = Uniform01(gen) * cum_w[m];
  int first =
      static_cast<int>(std::upper_bound(cum_w.begin() + 1, cum_w.end(), u0) -
                       (cum_w.begin() + 1));
  first = std::min(first, m - 1);
  cen.push_back(xs[first]);
  bnd = {0, m};
  pot.push_back(ps.RangeCost(0, m, xs[first]));

  while (static_cast<int>(cen.size()) < k) {
    const int t = static_cast<int>(cen.size());
    const double total = SumOf(pot);
    const double target = Uniform01(gen) * total;
    int pick = -1;
    if (total > 0.0) {
      int j = 0;
      double acc = 0.0;
      for (; j + 4 < t; j += 4) {  // skip whole blocks of four cells first
        const double block = (pot[j] + pot[j + 1]) + (pot[j + 2] + pot[j + 3]);
        if (acc + block > target) break;
        acc += block;
      }
      for (; j < t - 1; ++j) {
        if (acc + pot[j] > target) break;
        acc += pot[j];
      }
      const double r = target - acc;
      const int a = bnd[j];
      int lo = a, hi = bnd[j + 1] - 1;
      while (lo < hi) {  // first i with cost of [a, i] > r
        const int mid = lo + (hi - lo) / 2;
        if (ps.RangeCost(a, mid + 1, cen[j]) > r) {
          hi = mid;
        } else {
          lo = mid + 1;
        }
      }
      if (lo < bnd[j + 1] && xs[lo] != cen[j]) pick = lo;
    }
    if (pick < 0) {
      // Rounding left no usable draw: take the point farthest (in w D^2) from
      // the centres, which exists because m > t distinct values.
      double best = 0.0;
      for (int j = 0; j < t; ++j) {
        for (int i = bnd[j]; i < bnd[j + 1]; ++i) {
          const double d = static_cast<double>(xs[i]) - cen[j];
          const double v = p.ws[i] * d * d;
          if (v > best) {
            best = v;
            pick = i;
          }
        }
      }
      LB_CHECK(pick >= 0);
    }

    // Insert the new centre at position q and recompute the two boundaries
    // around it.
    const float c = xs[pick];
    const int q = static_cast<int>(std::upper_bound(cen.begin(), cen.end(), c) -
                                   cen.begin());
    cen.insert(cen.begin() + q, c);
    const int old_bnd = bnd[q];
    bnd.insert(bnd.begin() + q + 1, old_bnd);
    pot.insert(pot.begin() + q, 0.0);
    const int tn = t + 1;
    // The new cell only takes points from the old cells of its neighbours:
    // [bnd[q-1], bnd[q+2]).
    const int left = q > 0 ? bnd[q - 1] : 0;
    const int right = q + 2 <= tn ? bnd[q + 2] : m;
    if (q > 0) bnd[q] = Boundary(xs, left, right, cen[q - 1], cen[q]);
    if (q + 1 < tn)
      bnd[q + 1] = Boundary(xs, bnd[q], right, cen[q], cen[q + 1]);
    for (int j = std::max(q - 1, 0); j <= std::min(q + 1, tn - 1); ++j) {
      pot[j] = ps.RangeCost(bnd[j], bnd[j + 1], cen[j]);
    }
  }
  return seeds;
}

}  // namespace

std::vector<float> KMeans1D(std::span<const float> x, std::span<const float> w,
                            int k, uint64_t seed, int max_iters) {
  LB_CHECK(w.empty() || w.size() == x.size());
  LB_CHECK(x.size() < static_cast<size_t>(std::numeric_limits<int>::max()));
  if (k <= 0) return {};
  const SortedPoints p = SortAndMerge(x, w);
  const int m = static_cast<int>(p.xs.size());
  if (m == 0) return std::vector<float>(k, 0.0f);
  if (m <= k) {
    std::vector<float> levels = p.xs;
    levels.resize(k, p.xs.back());
    return levels;
  }

  const PrefixSums ps(p);
  std::mt19937_64 gen(seed);
  Seeds seeds = SeedPlusPlus(p, ps, k, gen);
  std::vector<float>& lev = seeds.cen;
  std::vector<int>& bnd = seeds.bnd;  // the seeds' cells: first guesses

  // Lloyd (1982): assign each point to its nearest level, move each level to
  // the weighted mean of its points. Levels stay strictly ascending: clusters
  // are disjoint ranges of distinct values, each mean is clamped into its
  // range, and an empty cluster's level lies strictly between its neighbours'
  // ranges.
  for (int iter = 0; iter < max_iters; ++iter) {
    for (int j = 0; j + 1 < k; ++j) {
      bnd[j + 1] =
          BoundaryNear(p.xs, bnd[j], m, bnd[j + 1], lev[j], lev[j + 1]);
    }
    bool moved = false;
    for (int j = 0; j < k; ++j) {
      const int a = bnd[j], b = bnd[j + 1];
      // An empty (or weightless) cluster keeps its old level.
      if (a >= b || !(ps.RangeWeight(a, b) > 0.0)) continue;
      const double mean =
          std::clamp(ps.RangeMean(a, b), static_cast<double>(p.xs[a]),
                     static_cast<double>(p.xs[b - 1]));
      const float level = static_cast<float>(mean);
      if (level != lev[j]) {
        lev[j] = level;
        moved = true;
      }
    }
    if (!moved) break;
  }
  return lev;
}

}  // namespace lowbit
