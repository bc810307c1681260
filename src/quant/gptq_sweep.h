// The GPTQ sweep (arXiv 2210.17323) over one group of rows, shared by
// lowbit's schemes (quant/gptq.cc) and ggml's block types (quant/
// gptq_ggml.cc): what differs between them is only how one value is rounded
// to its grid, which the caller passes in. See quant/gptq.h for the method.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/linalg.h"
#include "kernels/sgemm.h"
#include "quant/gptq.h"

namespace lowbit {

// Checks that the `groups` matrices h [cols x cols] are finite and symmetric.
inline Status CheckGptqStatistics(const float* h, int64_t cols,
                                  int64_t groups) {
  for (int64_t g = 0; g < groups; ++g) {
    const float* hg = h + g * cols * cols;
    for (int64_t i = 0; i < cols; ++i) {
      for (int64_t j = i; j < cols; ++j) {
        const float a = hg[i * cols + j], b = hg[j * cols + i];
        if (!std::isfinite(a) || a != b) {
          return InvalidArgument(
              "the input statistics H are not finite and symmetric");
        }
      }
    }
  }
  return Status::Ok();
}

// tr(D H D^T) in double for the n rows d [n x cols] (the differences; dh is
// scratch of the same size).
inline double TraceDHDt(const float* d, int64_t n, int64_t cols, const float* h,
                        float* dh) {
  Sgemm(false, false, n, cols, cols, 1.0f, d, cols, h, cols, 0.0f, dh, cols);
  double total = 0.0;
  for (int64_t i = 0; i < n * cols; ++i) {
    total += static_cast<double>(d[i]) * dh[i];
  }
  return total;
}

// Buffers of one sweep, reused across groups (sized by GptqSweep).
struct GptqScratch {
  std::vector<float> u, wt, err, diag;
  std::vector<int64_t> perm;
};

// Quantizes the rg rows w[r * cols + c] given their input statistics hg
// [cols x cols]: columns in act-order (or in order), each rounded by
// quant(r, col, x), which returns the value x is rounded to (and keeps the
// code), its error spread over the columns not yet quantized. begin(i, col,
// wt) runs before column col = perm[i], with wt[k * rg + r] column perm[k] of
// row r as the earlier errors left it. False, with nothing rounded, when H
// is not positive definite even damped.
template <class Begin, class Quant>
bool GptqSweep(const float* w, int64_t rg, int64_t cols, const float* hg,
               const GptqOptions& opt, GptqScratch& s, Begin&& begin,
               Quant&& quant) {
  s.u.resize(static_cast<size_t>(cols * cols));
  s.wt.resize(static_cast<size_t>(cols * rg));
  s.err.resize(static_cast<size_t>(opt.block * rg));
  s.perm.resize(static_cast<size_t>(cols));
  s.diag.resize(static_cast<size_t>(cols));
  float* u = s.u.data();
  float* wt = s.wt.data();
  const std::vector<int64_t>& perm = s.perm;
  for (int64_t i = 0; i < cols; ++i) s.diag[i] = hg[i * cols + i];
  std::iota(s.perm.begin(), s.perm.end(), 0);
  if (opt.act_order) {
    // Ties by column: the same order as a stable sort, without its
    // temporary buffer.
    std::sort(s.perm.begin(), s.perm.end(), [&](int64_t a, int64_t b) {
      return s.diag[a] > s.diag[b] || (s.diag[a] == s.diag[b] && a < b);
    });
  }
  double mean = 0.0;
  for (int64_t i = 0; i < cols; ++i) mean += std::max(0.0f, s.diag[i]);
  mean = std::max(mean / cols, 1e-12);
  const float damp = static_cast<float>(opt.damp * mean);
  // H permuted and damped; a column nothing reaches gets a unit pivot.
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      u[i * cols + j] = hg[perm[i] * cols + perm[j]];
    }
    float& d = u[i * cols + i];
    d = d > 0.0f ? d + damp : 1.0f;
  }
  // Transposed rows: wt[i][r] = w[row r][column perm[i]].
  for (int64_t r = 0; r < rg; ++r) {
    const float* wr = w + r * cols;
    for (int64_t i = 0; i < cols; ++i) wt[i * rg + r] = wr[perm[i]];
  }
  if (!UpperCholeskyOfInverse(u, cols).ok()) return false;
  for (int64_t i1 = 0; i1 < cols; i1 += opt.block) {
    const int64_t i2 = std::min(cols, i1 + opt.block);
    for (int64_t i = i1; i < i2; ++i) {
      const int64_t col = perm[i];
      begin(i, col, static_cast<const float*>(wt));
      const float pivot = u[i * cols + i];
      float* wi = wt + i * rg;
      float* ei = s.err.data() + (i - i1) * rg;
      for (int64_t r = 0; r < rg; ++r) {
        const float x = wi[r];
        ei[r] = (x - quant(r, col, x)) / pivot;
      }
      for (int64_t j = i + 1; j < i2; ++j) {
        const float f = u[i * cols + j];
        if (f == 0.0f) continue;
        float* wj = wt + j * rg;
        for (int64_t r = 0; r < rg; ++r) wj[r] -= f * ei[r];
      }
    }
    if (i2 < cols) {  // wt[i2:] -= U[i1:i2, i2:]^T err
      Sgemm(true, false, cols - i2, rg, i2 - i1, -1.0f, u + i1 * cols + i2,
            cols, s.err.data(), rg, 1.0f, wt + i2 * rg, rg);
    }
  }
  return true;
}

}  // namespace lowbit
