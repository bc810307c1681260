#include "quant/adaround.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "formats/bitpack.h"
#include "kernels/sgemm.h"
#include "quant/gptq.h"

namespace lowbit {
namespace {

constexpr float kZeta = 1.1f, kGamma = -0.1f;

float Sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

float Rectified(float v) {
  return std::clamp(Sigmoid(v) * (kZeta - kGamma) + kGamma, 0.0f, 1.0f);
}

}  // namespace

Result<QuantizedTensor> AdaRound(const float* w, const QuantizedTensor& start,
                                 const float* h, int64_t groups,
                                 const AdaRoundOptions& o, ThreadPool& pool,
                                 AdaRoundReport* report) {
  if (start.scheme.kind != SchemeKind::kInt) {
    return InvalidArgument("AdaRound rounds integer schemes, not " +
                           start.scheme.Name());
  }
  const int64_t rows = start.rows, cols = start.cols;
  if (groups < 1 || rows % groups != 0 ||
      start.granularity == Granularity::kTensor) {
    return InvalidArgument("AdaRound: the row groups do not fit the weight");
  }
  const int64_t n = rows * cols, rg = rows / groups;
  const int64_t gpr = start.groups_per_row(), gs = start.group_size;
  const float top = static_cast<float>((1 << start.scheme.bits) - 1);
  // Per weight: its step and zero point, the code below, the rest.
  std::vector<float> step(static_cast<size_t>(n)), zero(static_cast<size_t>(n));
  std::vector<float> base(static_cast<size_t>(n)), v(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t i = r * cols + c, g = c / gs;
      const float s = start.scales[r * gpr + g];
      const float z = ZeroPointAt(start, r, g);
      step[i] = s;
      zero[i] = z;
      const float x = s != 0.0f ? w[i] / s + z : z;
      const float f = std::floor(x);
      base[i] = f;
      // V with h(V) = the rest, inside the sigmoid's range.
      const float rest = std::clamp(x - f, 0.01f, 0.99f);
      v[i] = -std::log((kZeta - kGamma) / (rest - kGamma) - 1.0f);
    }
  }
  auto decode = [&](int64_t i, float hv, bool* inside) {
    const float code = base[i] + hv;
    *inside = code >= 0.0f && code <= top;
    return step[i] * (std::clamp(code, 0.0f, top) - zero[i]);
  };
  const double e0 = LayerOutputError(w, start, h, groups);
  std::vector<float> d(static_cast<size_t>(n)), gd(static_cast<size_t>(n));
  std::vector<float> m1(static_cast<size_t>(n), 0.0f),
      m2(static_cast<size_t>(n), 0.0f);
  const double inv_e0 = e0 > 0.0 ? 1.0 / e0 : 1.0;
  const int warm = static_cast<int>(o.warmup * o.iterations);
  for (int it = 0; it < o.iterations; ++it) {
    // D = W~ - W with the relaxed codes; dL/dW~ = 2 D H / e0.
    for (int64_t i = 0; i < n; ++i) {
      bool inside;
      d[i] = decode(i, Rectified(v[i]), &inside) - w[i];
    }
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
    const float lam = static_cast<float>(o.lambda / static_cast<double>(n));
    const float b1 = 0.9f, b2 = 0.999f;
    const float c1 = 1.0f - std::pow(b1, static_cast<float>(it + 1));
    const float c2 = 1.0f - std::pow(b2, static_cast<float>(it + 1));
    const float lr = static_cast<float>(o.lr);
    pool.ParallelFor(n, 4096, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const float sg = Sigmoid(v[i]);
        const float raw = sg * (kZeta - kGamma) + kGamma;
        if (raw <= 0.0f || raw >= 1.0f) {
          // Clipped: no gradient through h; Adam's moments decay.
          m1[i] *= b1;
          m2[i] *= b2;
          continue;
        }
        bool inside;
        (void)decode(i, raw, &inside);
        float dh = inside ? gd[i] * step[i] : 0.0f;
        if (reg) {
          const float u = 2.0f * raw - 1.0f;
          const float au = std::fabs(u);
          // d/dh of 1 - |2h - 1|^beta.
          dh += lam * -beta * std::pow(au, beta - 1.0f) *
                (u >= 0.0f ? 2.0f : -2.0f);
        }
        const float gv = dh * (kZeta - kGamma) * sg * (1.0f - sg);
        m1[i] = b1 * m1[i] + (1.0f - b1) * gv;
        m2[i] = b2 * m2[i] + (1.0f - b2) * gv * gv;
        v[i] -= lr * (m1[i] / c1) / (std::sqrt(m2[i] / c2) + 1e-8f);
      }
    });
  }
  // The hard codes; the start when they are not better.
  QuantizedTensor q = start;
  q.method = "adaround";
  std::vector<uint8_t> codes(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t i = r * cols + c;
      codes[c] = static_cast<uint8_t>(std::clamp(
          base[i] + (Rectified(v[i]) >= 0.5f ? 1.0f : 0.0f), 0.0f, top));
    }
    PackBits(codes.data(), cols, start.scheme.bits,
             q.codes.data() + r * q.code_row_bytes());
  }
  const double e1 = LayerOutputError(w, q, h, groups);
  if (report != nullptr) {
    report->start_error = e0;
    report->error = std::min(e0, e1);
  }
  if (!(e1 < e0)) return start;
  return q;
}

}  // namespace lowbit
