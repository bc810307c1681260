#include "quant/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "formats/bitpack.h"
#include "kernels/encode.h"
#include "kernels/linalg.h"
#include "kernels/sgemm.h"
#include "quant/gptq_sweep.h"
#include "quant/group_fit.h"
#include "quant/quantize.h"
#include "quant/scale_refit.h"

namespace lowbit {
namespace {

// Per (scale row, group): the scale and the zero point (an integer, or an f16
// value with f16 zero points).
struct Params {
  std::vector<float> scale;
  std::vector<float> zero;
  int64_t gpr = 1;
};

Params ReadParams(const QuantizedTensor& q) {
  Params p;
  p.gpr = q.granularity == Granularity::kTensor ? 1 : q.groups_per_row();
  const int64_t n = q.scale_rows() * p.gpr;
  p.scale.assign(q.scales.begin(), q.scales.begin() + n);
  p.zero.assign(static_cast<size_t>(n), 0.0f);
  for (int64_t r = 0; r < q.scale_rows(); ++r) {
    for (int64_t g = 0; g < p.gpr; ++g)
      p.zero[r * p.gpr + g] = ZeroPointAt(q, r, g);
  }
  return p;
}

// The value of each code at scale 1 (zero point 0) for schemes with a level
// table, from the tensor decoder itself.
std::vector<float> LevelTable(const QuantizedTensor& like) {
  QuantizedTensor t;
  t.scheme = like.scheme;
  t.granularity = Granularity::kChannel;
  t.symmetric = true;
  t.scale_type = ScaleType::kF32;
  const int64_t n = like.levels();
  t.shape = {1, n};
  t.rows = 1;
  t.cols = n;
  t.group_size = n;
  t.scales = {1.0f};
  std::vector<uint8_t> codes(static_cast<size_t>(n));
  std::iota(codes.begin(), codes.end(), 0);
  t.codes.assign(static_cast<size_t>(t.code_row_bytes()), 0);
  PackBits(codes.data(), n, t.scheme.bits, t.codes.data());
  std::vector<float> v(static_cast<size_t>(n));
  DequantizeRow(t, 0, v.data());
  return v;
}

}  // namespace

double LayerOutputError(const float* w, const QuantizedTensor& q,
                        const float* h, int64_t groups) {
  const int64_t rows = q.rows, cols = q.cols, rg = rows / groups;
  std::vector<float> d(static_cast<size_t>(rg * cols)),
      dh(static_cast<size_t>(rg * cols));
  double total = 0.0;
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t r = 0; r < rg; ++r) {
      const int64_t row = g * rg + r;
      DequantizeRow(q, row, d.data() + r * cols);
      for (int64_t c = 0; c < cols; ++c) {
        d[r * cols + c] = w[row * cols + c] - d[r * cols + c];
      }
    }
    total += TraceDHDt(d.data(), rg, cols, h + g * cols * cols, dh.data());
  }
  return total;
}

Result<QuantizedTensor> QuantizeGptq(const float* w, const Shape& shape,
                                     QuantConfig cfg, const float* h,
                                     int64_t groups, const GptqOptions& opt,
                                     ThreadPool& pool, GptqReport* report) {
  int64_t rows, cols;
  RowsCols(shape, &rows, &cols);
  if (cfg.scheme.kind == SchemeKind::kKmeans) {
    return InvalidArgument(
        "GPTQ needs a scheme with fixed levels; k-means codebooks are fitted "
        "to the weights themselves");
  }
  if (groups < 1 || rows % groups != 0) {
    return InvalidArgument(std::to_string(rows) + " rows do not split into " +
                           std::to_string(groups) + " groups");
  }
  const int64_t rg = rows / groups, hsz = cols * cols;
  LB_RETURN_IF_ERROR(CheckGptqStatistics(h, cols, groups));
  // Static parameters: the configured search weighted by the inputs' mean
  // squares (diag H averaged over the groups).
  std::vector<float> imp(static_cast<size_t>(cols), 0.0f);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t i = 0; i < cols; ++i) {
      imp[i] += std::max(0.0f, h[g * hsz + i * cols + i]) / groups;
    }
  }
  const bool any =
      std::any_of(imp.begin(), imp.end(), [](float v) { return v > 0.0f; });
  cfg.method.unweighted_guard = false;  // the codes are chosen again below
  LB_ASSIGN_OR_RETURN(
      QuantizedTensor q,
      Quantize(w, shape, cfg, pool,
               any ? std::span<const float>(imp) : std::span<const float>()));
  if (report != nullptr) report->rtn_error = LayerOutputError(w, q, h, groups);
  Params prm = ReadParams(q);
  const std::vector<float> table =
      q.scheme.kind == SchemeKind::kInt ? std::vector<float>() : LevelTable(q);
  const bool is_int = q.scheme.kind == SchemeKind::kInt;
  const int top = (1 << q.scheme.bits) - 1;
  const int64_t gsize =
      q.granularity == Granularity::kTensor ? cols : q.group_size;
  std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));

  const bool dynamic = !opt.act_order && !opt.static_groups &&
                       q.granularity == Granularity::kGroup;
  QuantConfig resolved = cfg;
  LB_RETURN_IF_ERROR(resolved.Resolve(cols));
  const MethodSpec fit_method = resolved.method;
  // One group of rows at a time; groups spread over the threads.
  pool.ParallelFor(groups, 1, [&](int64_t g0, int64_t g1) {
    std::vector<float> vals(static_cast<size_t>(gsize));
    GptqScratch scratch;
    for (int64_t g = g0; g < g1; ++g) {
      // Dynamic groups (no act-order: perm is the identity) refit a group's
      // parameters from its columns as the earlier errors left them.
      auto begin = [&](int64_t i, int64_t col, const float* wt) {
        if (!dynamic || col % gsize != 0) return;
        const int64_t n = std::min(gsize, cols - col);
        for (int64_t r = 0; r < rg; ++r) {
          for (int64_t k = 0; k < n; ++k) vals[k] = wt[(i + k) * rg + r];
          const GroupFit fit = FitGroup(
              vals.data(), any ? imp.data() + col : nullptr, n, q.scheme,
              q.symmetric, fit_method, q.scale_type, q.zero_type);
          const int64_t at = (g * rg + r) * prm.gpr + col / gsize;
          prm.scale[at] = fit.scale;
          if (is_int) prm.zero[at] = fit.zero_point();
        }
      };
      auto round = [&](int64_t r, int64_t col, float x) {
        const int64_t row = g * rg + r;
        const int64_t at = q.granularity == Granularity::kTensor
                               ? 0
                               : row * prm.gpr + col / gsize;
        const float s = prm.scale[at];
        int code;
        float v;
        if (is_int) {
          // As kernels/encode.h: the zero point split into an integer and
          // an offset (0 for code zero points).
          const float z = prm.zero[at], zi = std::nearbyint(z);
          const float off = z - zi;
          const float t = s != 0.0f ? std::nearbyint(x * (1.0f / s) + off) : 0;
          code = static_cast<int>(
              std::clamp<float>(t + zi, 0.0f, static_cast<float>(top)));
          v = s * ((static_cast<float>(code) - zi) - off);
        } else {
          uint8_t c8;
          EncodeValues(q.scheme, CodeParams{s, 0, 0.5f}, &x, 1, &c8);
          code = c8;
          v = s * table[c8];
        }
        codes[row * cols + col] = static_cast<uint8_t>(code);
        return v;
      };
      if (!GptqSweep(w + g * rg * cols, rg, cols, h + g * hsz, opt, scratch,
                     begin, round)) {
        // Not positive definite even damped (degenerate statistics): keep
        // the round-to-nearest codes of this group.
        for (int64_t r = 0; r < rg; ++r) {
          const int64_t row = g * rg + r;
          UnpackBits(q.codes.data() + row * q.code_row_bytes(), cols,
                     q.scheme.bits, codes.data() + row * cols);
        }
      }
    }
  });
  for (int64_t r = 0; r < rows; ++r) {
    PackBits(codes.data() + r * cols, cols, q.scheme.bits,
             q.codes.data() + r * q.code_row_bytes());
  }
  if (dynamic) {  // the refitted parameters
    std::copy(prm.scale.begin(), prm.scale.end(), q.scales.begin());
    if (!q.symmetric && is_int) {
      for (int64_t r = 0; r < q.scale_rows(); ++r) {
        for (int64_t k = 0; k < prm.gpr; ++k) {
          SetZeroPoint(q, r, k, prm.zero[r * prm.gpr + k]);
        }
      }
    }
  }
  if (opt.refit &&
      static_cast<double>(rows) * cols * cols <= opt.refit_max_madds) {
    RefitOnOutputError(w, codes.data(), h, groups, q, pool);
  }
  q.method = "gptq/" + q.method;
  if (report != nullptr) report->gptq_error = LayerOutputError(w, q, h, groups);
  return q;
}

}  // namespace lowbit
