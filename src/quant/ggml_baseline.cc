#include "quant/ggml_baseline.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"

namespace lowbit {
namespace {

// Round half to even through the 1.5 * 2^23 trick, as ggml's nearest_int.
int NearestInt(float v) {
  const float f = v + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &f, 4);
  return (i & 0x007fffff) - 0x00400000;
}

struct Search {
  int nmax;
  float rmin, rdelta;
  int nstep;
};

// One sub-block: x ~ scale * L + min (min <= 0), weighted squared error;
// returns the scale and sets *neg_min = -min.
float FitSubBlock(const float* x, const float* w, int n, const Search& s,
                  uint8_t* L, float* neg_min) {
  float lo = x[0], hi = x[0];
  float sum_w = w[0], sum_x = w[0] * x[0];
  for (int i = 1; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (lo > 0) lo = 0;
  if (hi == lo) {
    std::fill(L, L + n, 0);
    *neg_min = -lo;
    return 0.0f;
  }
  // The minimum found so far shifts every later candidate's grid (as in
  // ggml: its candidates are relative to the current best minimum).
  float mn = lo;
  auto code = [&](float iscale, float v) {
    return std::max(0, std::min(s.nmax, NearestInt(iscale * (v - mn))));
  };
  float iscale = s.nmax / (hi - mn);
  float scale = 1 / iscale;
  float best = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(code(iscale, x[i]));
    const float diff = scale * L[i] + mn - x[i];
    best += w[i] * (diff * diff);
  }
  uint8_t aux[32];
  for (int k = 0; k <= s.nstep; ++k) {
    iscale = (s.rmin + s.rdelta * k + s.nmax) / (hi - mn);
    float sl = 0, sl2 = 0, sxl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = code(iscale, x[i]);
      aux[i] = static_cast<uint8_t>(l);
      sl += w[i] * l;
      sl2 += w[i] * l * l;
      sxl += w[i] * l * x[i];
    }
    const float det = sum_w * sl2 - sl * sl;
    if (!(det > 0)) continue;
    float a = (sum_w * sxl - sum_x * sl) / det;
    float b = (sl2 * sum_x - sl * sxl) / det;
    if (b > 0) {
      b = 0;
      a = sxl / sl2;
    }
    float e = 0;
    for (int i = 0; i < n; ++i) {
      const float diff = a * aux[i] + b - x[i];
      e += w[i] * (diff * diff);
    }
    if (e < best) {
      std::memcpy(L, aux, static_cast<size_t>(n));
      best = e;
      scale = a;
      mn = b;
    }
  }
  *neg_min = -mn;
  return scale;
}

void SuperBlock(const float* x, const Search& s, float* y) {
  uint8_t L[256];
  float scales[8], mins[8], w[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) w[l] = av_x + std::fabs(xs[l]);
    scales[j] = FitSubBlock(xs, w, 32, s, L + 32 * j, &mins[j]);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  int sc[8], mn[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = std::min(63, NearestInt(inv_scale * scales[j]));
    mn[j] = std::min(63, NearestInt(inv_min * mins[j]));
  }
  const float d = RoundToF16(max_scale / 63.f);
  const float dmin = RoundToF16(max_min / 63.f);
  for (int j = 0; j < 8; ++j) {
    const float dd = d * sc[j];
    const float dm = dmin * mn[j];
    if (dd != 0.0f) {
      for (int i = 0; i < 32; ++i) {
        const int l = NearestInt((x[32 * j + i] + dm) / dd);
        L[32 * j + i] = static_cast<uint8_t>(std::max(0, std::min(s.nmax, l)));
      }
    }
    for (int i = 0; i < 32; ++i) y[32 * j + i] = dd * L[32 * j + i] - dm;
  }
}

}  // namespace

bool HasGgmlBaseline(GgmlType t) {
  return t == GgmlType::kQ4_K || t == GgmlType::kQ5_K;
}

void GgmlBaselineRow(GgmlType t, const float* x, float* y, int64_t n) {
  // ggml's settings: q4_K nmax 15, rmin -1, 20 steps; q5_K nmax 31, rmin
  // -0.5, 15 steps; both rdelta 0.1.
  const Search s = t == GgmlType::kQ4_K ? Search{15, -1.0f, 0.1f, 20}
                                        : Search{31, -0.5f, 0.1f, 15};
  for (int64_t b = 0; b + 256 <= n; b += 256) SuperBlock(x + b, s, y + b);
}

}  // namespace lowbit
