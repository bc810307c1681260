#include "quant/scale_refit.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "quant/group_fit.h"

namespace lowbit {
namespace {

// Solves the symmetric positive definite m x m system a x = b in place (b
// becomes x) by Cholesky in double; false when a is not positive definite.
bool SolveSpd(std::vector<double>& a, std::vector<double>& b, int64_t m) {
  for (int64_t j = 0; j < m; ++j) {
    double d = a[j * m + j];
    for (int64_t k = 0; k < j; ++k) d -= a[j * m + k] * a[j * m + k];
    if (!(d > 0.0)) return false;
    d = std::sqrt(d);
    a[j * m + j] = d;
    for (int64_t i = j + 1; i < m; ++i) {
      double s = a[i * m + j];
      for (int64_t k = 0; k < j; ++k) s -= a[i * m + k] * a[j * m + k];
      a[i * m + j] = s / d;
    }
  }
  for (int64_t i = 0; i < m; ++i) {  // L y = b
    double s = b[i];
    for (int64_t k = 0; k < i; ++k) s -= a[i * m + k] * b[k];
    b[i] = s / a[i * m + i];
  }
  for (int64_t i = m - 1; i >= 0; --i) {  // L^T x = y
    double s = b[i];
    for (int64_t k = i + 1; k < m; ++k) s -= a[k * m + i] * b[k];
    b[i] = s / a[i * m + i];
  }
  return true;
}

}  // namespace

int64_t RefitOnOutputError(const float* w, const uint8_t* codes, const float* h,
                           int64_t groups, QuantizedTensor& q,
                           ThreadPool& pool) {
  if (q.granularity == Granularity::kTensor ||
      q.scheme.kind == SchemeKind::kKmeans || groups < 1 ||
      q.rows % groups != 0) {
    return 0;
  }
  const int64_t rows = q.rows, cols = q.cols, rg = rows / groups;
  const int64_t gs = q.group_size, G = q.groups_per_row();
  const bool is_int = q.scheme.kind == SchemeKind::kInt;
  const bool asym = is_int && !q.symmetric;
  const int nb = asym ? 2 : 1;  // parameters per group
  const int64_t P = G * nb;
  // Level of each code at scale 1 around the fixed zero (symmetric int:
  // 2^(b-1); asymmetric: 0, the offset is the second parameter).
  const std::span<const float> lv = q.scheme.Levels();
  const float zfix =
      is_int && q.symmetric ? static_cast<float>(1 << (q.scheme.bits - 1)) : 0;
  std::vector<int64_t> changed(static_cast<size_t>(rows), 0);
  pool.ParallelFor(rows, 1, [&](int64_t r0, int64_t r1) {
    std::vector<double> hj(static_cast<size_t>(cols * P)), hw(cols);
    std::vector<double> m(static_cast<size_t>(P * P)), rhs(P), theta(P), old(P);
    std::vector<float> phi(cols);
    for (int64_t r = r0; r < r1; ++r) {
      const float* hg = h + (r / rg) * cols * cols;
      const float* wr = w + r * cols;
      const uint8_t* cr = codes + r * cols;
      for (int64_t i = 0; i < cols; ++i) phi[i] = lv[cr[i]] - zfix;
      // (HJ)^T: row p = H times group g's basis (H symmetric: row i of H is
      // its column i), then M = J^T H J and rhs = J^T H w.
      std::fill(hj.begin(), hj.end(), 0.0);
      std::fill(hw.begin(), hw.end(), 0.0);
      for (int64_t i = 0; i < cols; ++i) {
        const int64_t g = i / gs;
        const float* hi = hg + i * cols;
        const double f = phi[i], x = wr[i];
        double* ha = hj.data() + (g * nb) * cols;
        for (int64_t j = 0; j < cols; ++j) ha[j] += f * hi[j];
        if (asym) {
          double* hb = ha + cols;
          for (int64_t j = 0; j < cols; ++j) hb[j] += hi[j];
        }
        for (int64_t j = 0; j < cols; ++j) hw[j] += x * hi[j];
      }
      for (int64_t p = 0; p < P; ++p) {
        const double* row = hj.data() + p * cols;
        for (int64_t g = 0; g < G; ++g) {
          double sa = 0.0, sb = 0.0;
          for (int64_t i = g * gs; i < std::min(cols, (g + 1) * gs); ++i) {
            sa += phi[i] * row[i];
            sb += row[i];
          }
          m[p * P + g * nb] = sa;
          if (asym) m[p * P + g * nb + 1] = sb;
        }
      }
      std::fill(rhs.begin(), rhs.end(), 0.0);
      for (int64_t i = 0; i < cols; ++i) {
        const int64_t g = i / gs;
        rhs[g * nb] += phi[i] * hw[i];
        if (asym) rhs[g * nb + 1] += hw[i];
      }
      double wHw = 0.0;
      for (int64_t i = 0; i < cols; ++i) wHw += hw[i] * wr[i];
      // E(theta) = w^T H w - 2 theta^T rhs + theta^T M theta.
      auto error = [&](const std::vector<double>& t) {
        double e = wHw;
        for (int64_t p = 0; p < P; ++p) {
          double mt = 0.0;
          for (int64_t k = 0; k < P; ++k) mt += m[p * P + k] * t[k];
          e += t[p] * (mt - 2.0 * rhs[p]);
        }
        return e;
      };
      for (int64_t g = 0; g < G; ++g) {
        const float s = q.scales[r * G + g];
        old[g * nb] = s;
        if (asym)
          old[g * nb + 1] = -static_cast<double>(s) * ZeroPointAt(q, r, g);
      }
      const double e_old = error(old);
      // A ridge of 1e-9 of the mean diagonal keeps groups nothing reaches
      // solvable (their parameters then stay near 0; the check below keeps
      // the old ones).
      double tr = 0.0;
      for (int64_t p = 0; p < P; ++p) tr += m[p * P + p];
      std::vector<double> a = m;
      for (int64_t p = 0; p < P; ++p) a[p * P + p] += 1e-9 * tr / P + 1e-30;
      theta = rhs;
      if (!SolveSpd(a, theta, P)) continue;
      // Rounded to what the format stores.
      std::vector<float> ns(G), nz(G);
      bool ok = true;
      for (int64_t g = 0; g < G && ok; ++g) {
        const float s_old = q.scales[r * G + g];
        float s = RoundScale(static_cast<float>(theta[g * nb]), q.scale_type);
        // Keep the sign convention of the old scale (positive for zero
        // points and the minifloat tables).
        if (!std::isfinite(s) || s == 0.0f || (s > 0.0f) != (s_old > 0.0f)) {
          s = s_old;
        }
        ns[g] = s;
        theta[g * nb] = s;
        if (asym) {
          const double zc = -theta[g * nb + 1] / s;
          // A group whose scale stayed 0 gives an infinite zc: clamped, it
          // is stored like any other (its values are 0 whatever z is).
          const float z = StoredZeroPoint(zc, q.scheme.bits, q.zero_type);
          ok = std::isfinite(z);
          nz[g] = z;
          theta[g * nb + 1] = -static_cast<double>(s) * z;
        }
      }
      if (!ok || !(error(theta) < e_old)) continue;
      for (int64_t g = 0; g < G; ++g) {
        q.scales[r * G + g] = ns[g];
        if (asym) SetZeroPoint(q, r, g, nz[g]);
      }
      changed[r] = 1;
    }
  });
  int64_t n = 0;
  for (int64_t c : changed) n += c;
  return n;
}

}  // namespace lowbit
