#include "quant/ggml_fit.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/half.h"

namespace lowbit {
namespace {

inline float W(const float* w, int i) { return w ? w[i] : 1.0f; }

}  // namespace

double TwoLevelError(const float* x, const float* w, const TwoLevelSpec& spec,
                     const TwoLevelBlock& b) {
  double e = 0.0;
  for (int j = 0; j < spec.nsub; ++j) {
    const float S = b.d * static_cast<float>(b.sc[j]);
    const float M = b.dmin * static_cast<float>(b.mn[j]);
    for (int i = 0; i < spec.sub; ++i) {
      const int k = j * spec.sub + i;
      const float l = spec.table ? spec.table[b.q[k] - spec.qmin]
                                 : static_cast<float>(b.q[k]);
      const float diff = x[k] - (S * l - M);
      e += static_cast<double>(W(w, k)) * diff * diff;
    }
  }
  return e;
}

namespace {

// Units fitted together: a multiple of kUnitPad, small enough for the
// transposed values to stay in the first-level cache.
constexpr int64_t kChunkUnits = 64;

struct Scratch {
  std::vector<float> xt, wt, S, M, d, dmin, st, mt, err, sl, sll, slx, sw, sx;
  std::vector<int32_t> sc, mn;
  std::vector<uint8_t> codes, unit_codes;
  void Resize(size_t units, int n) {
    xt.resize(units * n);
    for (auto* v :
         {&S, &M, &d, &dmin, &st, &mt, &err, &sl, &sll, &slx, &sw, &sx}) {
      v->assign(units, 0.0f);
    }
    sc.assign(units, 0);
    mn.assign(units, 0);
    codes.resize(units * n);
  }
};

// Sums the per-unit errors of each super-block.
void BlockTotals(const std::vector<float>& err, int64_t nb, int nsub,
                 double* total) {
  for (int64_t b = 0; b < nb; ++b) {
    double t = 0.0;
    for (int j = 0; j < nsub; ++j) t += err[b * nsub + j];
    total[b] = t;
  }
}

// Fits nb super-blocks; next_x / next_w (next_n floats) are the next chunk's,
// fetched into the cache meanwhile.
void FitChunk(const float* x, const float* w, int64_t nb,
              const TwoLevelSpec& spec, Scratch& s, const float* next_x,
              const float* next_w, int64_t next_n, TwoLevelBlock* out) {
  const int n = spec.sub, nsub = spec.nsub;
  const size_t units = static_cast<size_t>(nb) * nsub;
  const size_t padded = PaddedUnits(units);
  s.Resize(padded, n);
  TransposeUnits(x, units, n, s.xt.data());
  if (w) {
    s.wt.resize(padded * n);
    TransposeUnits(w, units, n, s.wt.data());
  }
  UnitBatch batch{s.xt.data(), w ? s.wt.data() : nullptr, n, padded};
  const UnitLevels lv{spec.qmin, spec.qmax, spec.table, spec.has_min};
  batch.next[0] = next_x;
  batch.next[1] = next_w;
  batch.next_floats = next_x ? static_cast<size_t>(next_n) : 0;
  FitUnits(batch, lv, spec.fit, s.S.data(), s.M.data());
  batch.next_floats = 0;

  // Super-scale bases.
  std::vector<float> base0(nb), base1(nb), dmin0(nb);
  const bool two_signs = spec.smin < 0;
  for (int64_t b = 0; b < nb; ++b) {
    float ext = 0.0f, mmax = 0.0f;
    for (int j = 0; j < nsub; ++j) {
      const size_t u = b * nsub + j;
      if (std::fabs(s.S[u]) > std::fabs(ext)) ext = s.S[u];
      mmax = std::max(mmax, s.M[u]);
    }
    if (two_signs) {
      base0[b] = ext / static_cast<float>(spec.smin);
      base1[b] = ext / static_cast<float>(spec.smax);
    } else {
      base0[b] = base1[b] = std::fabs(ext) / static_cast<float>(spec.smax);
    }
    dmin0[b] = spec.has_min && spec.mmax > 0
                   ? RoundToF16(mmax / static_cast<float>(spec.mmax))
                   : 0.0f;
  }
  ScaleSearch search;
  search.d = s.d.data();
  search.dmin = s.dmin.data();
  search.s_target = s.S.data();
  search.m_target = s.M.data();
  search.smin = spec.smin;
  search.smax = spec.smax;
  search.mmax = spec.mmax;
  auto set_scales = [&](const float* d, const float* dmin) {
    for (int64_t b = 0; b < nb; ++b) {
      for (int j = 0; j < nsub; ++j) {
        s.d[b * nsub + j] = d[b];
        s.dmin[b * nsub + j] = dmin[b];
      }
    }
  };
  // 2. Super-scale candidates, scored with rounded sub-scales.
  std::vector<float> best_d(nb, 0.0f), cand(nb);
  std::vector<double> best_e(nb, std::numeric_limits<double>::infinity()),
      tot(nb);
  const int nbases = two_signs ? 2 : 1;
  for (int bi = 0; bi < nbases; ++bi) {
    for (int k = 0; k < spec.d_candidates; ++k) {
      const float f = 1.0f - spec.d_span * static_cast<float>(k) /
                                 static_cast<float>(spec.d_candidates);
      for (int64_t b = 0; b < nb; ++b) {
        cand[b] = RoundToF16((bi == 0 ? base0[b] : base1[b]) * f);
      }
      set_scales(cand.data(), dmin0.data());
      search.rs = search.rm = 0;
      SearchUnitScales(batch, lv, search, s.sc.data(), s.mn.data(),
                       s.err.data());
      BlockTotals(s.err, nb, nsub, tot.data());
      for (int64_t b = 0; b < nb; ++b) {
        if (tot[b] < best_e[b]) {
          best_e[b] = tot[b];
          best_d[b] = cand[b];
        }
      }
    }
  }
  // 3. The integer search at the chosen super-scales.
  std::vector<float> best_dmin = dmin0;
  set_scales(best_d.data(), best_dmin.data());
  search.rs = spec.rs;
  search.rm = spec.rm;
  search.cs = spec.cs;
  search.cm = spec.cm;
  SearchUnitScales(batch, lv, search, s.sc.data(), s.mn.data(), s.err.data());
  BlockTotals(s.err, nb, nsub, best_e.data());
  std::vector<int32_t> best_sc = s.sc, best_mn = s.mn;
  // 4. Least squares on (d, dmin) with integer sub-scales and codes fixed.
  if (spec.ls_rounds > 0) {
    for (size_t u = 0; u < units; ++u) {
      float sw = 0.0f, sx = 0.0f;
      for (int i = 0; i < n; ++i) {
        const float wi = w ? w[u * n + i] : 1.0f;
        sw += wi;
        sx += wi * x[u * n + i];
      }
      s.sw[u] = sw;
      s.sx[u] = sx;
    }
  }
  std::vector<float> nd(nb), ndmin(nb);
  for (int round = 0; round < spec.ls_rounds; ++round) {
    for (size_t u = 0; u < units; ++u) {
      s.st[u] = s.d[u] * static_cast<float>(best_sc[u]);
      s.mt[u] = s.dmin[u] * static_cast<float>(best_mn[u]);
    }
    const UnitSums sums{s.sl.data(), s.sll.data(), s.slx.data()};
    EvalUnits(batch, lv, s.st.data(), s.mt.data(), nullptr, nullptr, &sums);
    for (int64_t b = 0; b < nb; ++b) {
      double a11 = 0, a12 = 0, a22 = 0, b1 = 0, b2 = 0;
      for (int j = 0; j < nsub; ++j) {
        const size_t u = b * nsub + j;
        const double sc = best_sc[u], mn = best_mn[u];
        a11 += sc * sc * s.sll[u];
        a12 -= sc * mn * s.sl[u];
        a22 += mn * mn * s.sw[u];
        b1 += sc * s.slx[u];
        b2 -= mn * s.sx[u];
      }
      double d = best_d[b], dm = best_dmin[b];
      if (spec.has_min && a22 > 0) {
        const double det = a11 * a22 - a12 * a12;
        if (det > 0) {
          d = (b1 * a22 - b2 * a12) / det;
          dm = std::max(0.0, (a11 * b2 - a12 * b1) / det);
        }
      } else if (a11 > 0) {
        d = b1 / a11;
      }
      nd[b] = RoundToF16(static_cast<float>(d));
      ndmin[b] = RoundToF16(static_cast<float>(dm));
      for (int j = 0; j < nsub; ++j) {
        const size_t u = b * nsub + j;
        s.st[u] = static_cast<float>(d) * static_cast<float>(best_sc[u]);
        s.mt[u] = static_cast<float>(dm) * static_cast<float>(best_mn[u]);
      }
    }
    set_scales(nd.data(), ndmin.data());
    search.rs = spec.ls_rs;
    search.rm = spec.ls_rm;
    search.cs = search.cm = 0;
    search.s_target = s.st.data();
    search.m_target = s.mt.data();
    SearchUnitScales(batch, lv, search, s.sc.data(), s.mn.data(), s.err.data());
    BlockTotals(s.err, nb, nsub, tot.data());
    for (int64_t b = 0; b < nb; ++b) {
      if (!(tot[b] < best_e[b])) continue;
      best_e[b] = tot[b];
      best_d[b] = nd[b];
      best_dmin[b] = ndmin[b];
      for (int j = 0; j < nsub; ++j) {
        best_sc[b * nsub + j] = s.sc[b * nsub + j];
        best_mn[b * nsub + j] = s.mn[b * nsub + j];
      }
    }
    set_scales(best_d.data(), best_dmin.data());
  }
  // Codes at the chosen scales.
  for (size_t u = 0; u < units; ++u) {
    s.st[u] = s.d[u] * static_cast<float>(best_sc[u]);
    s.mt[u] = s.dmin[u] * static_cast<float>(best_mn[u]);
  }
  EvalUnits(batch, lv, s.st.data(), s.mt.data(), nullptr, s.codes.data(),
            nullptr);
  s.unit_codes.resize(units * n);
  UntransposeCodes(s.codes.data(), units, n, s.unit_codes.data());
  for (int64_t b = 0; b < nb; ++b) {
    TwoLevelBlock& o = out[b];
    o.d = best_d[b];
    o.dmin = spec.has_min ? best_dmin[b] : 0.0f;
    const uint8_t* c = s.unit_codes.data() + b * nsub * n;
    for (int k = 0; k < nsub * n; ++k) o.q[k] = c[k] + spec.qmin;
    for (int j = 0; j < nsub; ++j) {
      o.sc[j] = best_sc[b * nsub + j];
      o.mn[j] = best_mn[b * nsub + j];
    }
  }
}

}  // namespace

void FitTwoLevelRow(const float* x, const float* w, int64_t nblocks,
                    const TwoLevelSpec& spec, TwoLevelBlock* out) {
  thread_local Scratch scratch;
  const int64_t block = static_cast<int64_t>(spec.sub) * spec.nsub;
  const int64_t chunk = std::max<int64_t>(1, kChunkUnits / spec.nsub);
  for (int64_t b0 = 0; b0 < nblocks; b0 += chunk) {
    const int64_t nb = std::min(chunk, nblocks - b0);
    const int64_t left = nblocks - b0 - nb;  // the next chunk's blocks
    FitChunk(x + b0 * block, w ? w + b0 * block : nullptr, nb, spec, scratch,
             left > 0 ? x + (b0 + nb) * block : nullptr,
             w && left > 0 ? w + (b0 + nb) * block : nullptr,
             std::min(chunk, left) * block, out + b0);
  }
}

void FitOneLevelRow(const float* x, const float* w, int64_t nblocks, int n,
                    const UnitLevels& levels, const UnitFitParams& fit,
                    float* d, uint8_t* codes) {
  thread_local std::vector<float> xt, wt, S, M;
  thread_local std::vector<uint8_t> ct;
  for (int64_t b0 = 0; b0 < nblocks; b0 += kChunkUnits) {
    const int64_t nb = std::min(kChunkUnits, nblocks - b0);
    const size_t padded = PaddedUnits(nb);
    xt.resize(padded * n);
    TransposeUnits(x + b0 * n, nb, n, xt.data());
    if (w) {
      wt.resize(padded * n);
      TransposeUnits(w + b0 * n, nb, n, wt.data());
    }
    S.assign(padded, 0.0f);
    M.assign(padded, 0.0f);
    ct.resize(padded * n);
    UnitBatch batch{xt.data(), w ? wt.data() : nullptr, n, padded};
    if (b0 + nb < nblocks) {  // the next chunk, while this one computes
      batch.next[0] = x + (b0 + nb) * n;
      batch.next[1] = w ? w + (b0 + nb) * n : nullptr;
      batch.next_floats = std::min(kChunkUnits, nblocks - b0 - nb) * n;
    }
    FitUnits(batch, levels, fit, S.data(), M.data());
    RoundToF16(S.data(), padded);
    EvalUnits(batch, levels, S.data(), nullptr, nullptr, ct.data(), nullptr);
    for (int64_t b = 0; b < nb; ++b) d[b0 + b] = S[b];
    UntransposeCodes(ct.data(), nb, n, codes + b0 * n);
  }
}

void FitAffineRow(const float* x, const float* w, int64_t nblocks, int n,
                  int qmax, const UnitFitParams& fit, float* d, float* m,
                  uint8_t* codes) {
  thread_local std::vector<float> xt, xs, wt, S, M, shift;
  thread_local std::vector<uint8_t> ct;
  const UnitLevels lv{0, qmax, nullptr, true};
  for (int64_t b0 = 0; b0 < nblocks; b0 += kChunkUnits) {
    const int64_t nb = std::min(kChunkUnits, nblocks - b0);
    const size_t padded = PaddedUnits(nb);
    xt.resize(padded * n);
    xs.resize(padded * n);
    TransposeUnits(x + b0 * n, nb, n, xt.data());
    if (w) {
      wt.resize(padded * n);
      TransposeUnits(w + b0 * n, nb, n, wt.data());
    }
    // The shift c = max(0, min x) of each block, then x - c.
    shift.assign(padded, std::numeric_limits<float>::infinity());
    for (int i = 0; i < n; ++i) {
      const float* row = xt.data() + i * padded;
      for (size_t u = 0; u < padded; ++u)
        shift[u] = row[u] < shift[u] ? row[u] : shift[u];
    }
    for (size_t u = 0; u < padded; ++u) shift[u] = std::max(shift[u], 0.0f);
    for (int i = 0; i < n; ++i) {
      const float* row = xt.data() + i * padded;
      float* out = xs.data() + i * padded;
      for (size_t u = 0; u < padded; ++u) out[u] = row[u] - shift[u];
    }
    S.assign(padded, 0.0f);
    M.assign(padded, 0.0f);
    ct.resize(padded * n);
    UnitBatch shifted{xs.data(), w ? wt.data() : nullptr, n, padded};
    if (b0 + nb < nblocks) {  // the next chunk, while this one computes
      shifted.next[0] = x + (b0 + nb) * n;
      shifted.next[1] = w ? w + (b0 + nb) * n : nullptr;
      shifted.next_floats = std::min(kChunkUnits, nblocks - b0 - nb) * n;
    }
    FitUnits(shifted, lv, fit, S.data(), M.data());
    // x ~ S c - M + shift: d = S, m = shift - M, both rounded to f16; the
    // codes are then chosen on the unshifted values at offset -m.
    RoundToF16(S.data(), padded);
    for (size_t u = 0; u < padded; ++u) M[u] = shift[u] - M[u];
    RoundToF16(M.data(), padded);
    for (int64_t b = 0; b < nb; ++b) {
      d[b0 + b] = S[b];
      m[b0 + b] = M[b];
    }
    for (size_t u = 0; u < padded; ++u) M[u] = -M[u];
    const UnitBatch plain{xt.data(), w ? wt.data() : nullptr, n, padded};
    EvalUnits(plain, lv, S.data(), M.data(), nullptr, ct.data(), nullptr);
    UntransposeCodes(ct.data(), nb, n, codes + b0 * n);
  }
}

}  // namespace lowbit
