#include "quant/soft_rounding.h"

#include <algorithm>
#include <cmath>

#include "formats/bitpack.h"

namespace lowbit {
namespace {

constexpr float kZeta = 1.1f, kGamma = -0.1f;

float Sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

float Rectified(float v) {
  return std::clamp(Sigmoid(v) * (kZeta - kGamma) + kGamma, 0.0f, 1.0f);
}

}  // namespace

Result<SoftRounding> SoftRounding::Create(const float* w,
                                          const QuantizedTensor& start,
                                          bool from_codes) {
  if (start.scheme.kind != SchemeKind::kInt) {
    return InvalidArgument("AdaRound rounds integer schemes, not " +
                           start.scheme.Name());
  }
  if (start.granularity == Granularity::kTensor) {
    return InvalidArgument("AdaRound rounds per channel or in groups");
  }
  SoftRounding s;
  s.start_ = start;
  s.top_ = static_cast<float>((1 << start.scheme.bits) - 1);
  const int64_t rows = start.rows, cols = start.cols, n = rows * cols;
  const int64_t gpr = start.groups_per_row(), gs = start.group_size;
  for (auto* v : {&s.step_, &s.zero_, &s.base_, &s.v_, &s.m1_, &s.m2_}) {
    v->assign(static_cast<size_t>(n), 0.0f);
  }
  std::vector<uint8_t> codes(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    if (from_codes) {
      UnpackBits(start.codes.data() + r * start.code_row_bytes(), cols,
                 start.scheme.bits, codes.data());
    }
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t i = r * cols + c, g = c / gs;
      const float sc = start.scales[r * gpr + g];
      const float z = ZeroPointAt(start, r, g);
      s.step_[i] = sc;
      s.zero_[i] = z;
      const float x = sc != 0.0f ? w[i] / sc + z : z;
      float f = std::floor(x), rest = x - f;
      if (from_codes) {
        // The code, and its neighbour towards x.
        const float k = codes[c];
        f = x >= k ? k : k - 1.0f;
        rest = x >= k ? 0.1f : 0.9f;
      }
      s.base_[i] = f;
      // V with h(V) = the rest, inside the sigmoid's range.
      rest = std::clamp(rest, 0.01f, 0.99f);
      s.v_[i] = -std::log((kZeta - kGamma) / (rest - kGamma) - 1.0f);
    }
  }
  return s;
}

void SoftRounding::Decode(float* out) const {
  for (size_t i = 0; i < v_.size(); ++i) {
    out[i] = step_[i] *
             (std::clamp(base_[i] + Rectified(v_[i]), 0.0f, top_) - zero_[i]);
  }
}

void SoftRounding::Step(const float* grad_w, double lambda, float beta,
                        float lr, int step, ThreadPool& pool) {
  const int64_t n = size();
  const float lam = static_cast<float>(lambda / static_cast<double>(n));
  const float b1 = 0.9f, b2 = 0.999f;
  const float c1 = 1.0f - std::pow(b1, static_cast<float>(step));
  const float c2 = 1.0f - std::pow(b2, static_cast<float>(step));
  pool.ParallelFor(n, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float sg = Sigmoid(v_[i]);
      const float raw = sg * (kZeta - kGamma) + kGamma;
      if (raw <= 0.0f || raw >= 1.0f) {
        // Clipped: no gradient through h; Adam's moments decay.
        m1_[i] *= b1;
        m2_[i] *= b2;
        continue;
      }
      const float code = base_[i] + raw;
      const bool inside = code >= 0.0f && code <= top_;
      float dh = inside ? grad_w[i] * step_[i] : 0.0f;
      if (lambda != 0.0) {
        const float u = 2.0f * raw - 1.0f;
        const float au = std::fabs(u);
        // d/dh of 1 - |2h - 1|^beta.
        dh += lam * -beta * std::pow(au, beta - 1.0f) *
              (u >= 0.0f ? 2.0f : -2.0f);
      }
      const float gv = dh * (kZeta - kGamma) * sg * (1.0f - sg);
      m1_[i] = b1 * m1_[i] + (1.0f - b1) * gv;
      m2_[i] = b2 * m2_[i] + (1.0f - b2) * gv * gv;
      v_[i] -= lr * (m1_[i] / c1) / (std::sqrt(m2_[i] / c2) + 1e-8f);
    }
  });
}

QuantizedTensor SoftRounding::Harden() const {
  QuantizedTensor q = start_;
  const int64_t rows = q.rows, cols = q.cols;
  std::vector<uint8_t> codes(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t i = r * cols + c;
      codes[c] = static_cast<uint8_t>(std::clamp(
          base_[i] + (Rectified(v_[i]) >= 0.5f ? 1.0f : 0.0f), 0.0f, top_));
    }
    PackBits(codes.data(), cols, q.scheme.bits,
             q.codes.data() + r * q.code_row_bytes());
  }
  return q;
}

double SoftRounding::Undecided() const {
  int64_t k = 0;
  for (float v : v_) {
    const float h = Rectified(v);
    k += h > 0.1f && h < 0.9f;
  }
  return v_.empty() ? 0.0 : static_cast<double>(k) / v_.size();
}

}  // namespace lowbit
