#include "quant/adaround.h"

#include <algorithm>
#include <vector>

#include "kernels/sgemm.h"
#include "quant/gptq.h"
#include "quant/soft_rounding.h"

namespace lowbit {

Result<QuantizedTensor> AdaRound(const float* w, const QuantizedTensor& start,
                                 const float* h, int64_t groups,
                                 const AdaRoundOptions& o, ThreadPool& pool,
                                 AdaRoundReport* report) {
  const int64_t rows = start.rows, cols = start.cols;
  if (start.scheme.kind == SchemeKind::kInt &&
      (groups < 1 || rows % groups != 0 ||
       start.granularity == Granularity::kTensor)) {
    return InvalidArgument("AdaRound: the row groups do not fit the weight");
  }
  LB_ASSIGN_OR_RETURN(SoftRounding sr, SoftRounding::Create(w, start));
  const int64_t n = rows * cols, rg = rows / groups;
  const double e0 = LayerOutputError(w, start, h, groups);
  std::vector<float> d(static_cast<size_t>(n)), gd(static_cast<size_t>(n));
  const double inv_e0 = e0 > 0.0 ? 1.0 / e0 : 1.0;
  const int warm = static_cast<int>(o.warmup * o.iterations);
  for (int it = 0; it < o.iterations; ++it) {
    // D = W~ - W with the relaxed codes; dL/dW~ = 2 D H / e0.
    sr.Decode(d.data());
    for (int64_t i = 0; i < n; ++i) d[i] -= w[i];
    for (int64_t g = 0; g < groups; ++g) {
      SgemmParallel(pool, false, false, rg, cols, cols,
                    static_cast<float>(2.0 * inv_e0), d.data() + g * rg * cols,
                    cols, h + g * cols * cols, cols, 0.0f,
                    gd.data() + g * rg * cols, cols);
    }
    const bool reg = it >= warm;
    const double t =
        reg ? static_cast<double>(it - warm) / std::max(1, o.iterations - warm)
            : 0.0;
    const float beta =
        static_cast<float>(o.beta_start + (o.beta_end - o.beta_start) * t);
    sr.Step(gd.data(), reg ? o.lambda : 0.0, beta, static_cast<float>(o.lr),
            it + 1, pool);
  }
  // The hard codes; the start when they are not better.
  QuantizedTensor q = sr.Harden();
  q.method = "adaround";
  const double e1 = LayerOutputError(w, q, h, groups);
  if (report != nullptr) {
    report->start_error = e0;
    report->error = std::min(e0, e1);
  }
  if (!(e1 < e0)) return start;
  return q;
}

}  // namespace lowbit
