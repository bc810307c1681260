#include "train/fake_quant.h"

#include <algorithm>
#include <cmath>

#include "core/half.h"
#include "formats/bitpack.h"
#include "quant/quantize.h"

namespace lowbit {

Result<FakeQuantWeight> FakeQuantWeight::Create(const float* w, int64_t rows,
                                                int64_t cols,
                                                const Scheme& scheme, bool lsq,
                                                ThreadPool& pool) {
  const bool ternary = scheme.kind == SchemeKind::kTernary;
  if (!ternary &&
      (scheme.kind != SchemeKind::kInt || scheme.bits < 2 || scheme.bits > 8)) {
    return InvalidArgument(
        "quantization-aware training takes int2..int8 or "
        "ternary, not " +
        scheme.Name());
  }
  FakeQuantWeight f;
  f.scheme_ = scheme;
  f.lsq_ = lsq;
  f.rows_ = rows;
  f.cols_ = cols;
  f.qn_ = ternary ? -1.0f : -static_cast<float>(1 << (scheme.bits - 1));
  f.qp_ = ternary ? 1.0f : static_cast<float>((1 << (scheme.bits - 1)) - 1);
  f.latent_ = graph::Tensor::Zeros(DType::kF32, {rows, cols});
  std::copy_n(w, rows * cols, f.latent_.data<float>());
  // Steps from the mse clipping search, per channel, symmetric.
  QuantConfig c;
  c.scheme = scheme;
  c.granularity = static_cast<int>(Granularity::kChannel);
  c.symmetric = 1;
  c.method = MethodSpec{Method::kMse};
  c.scale_type = ScaleType::kF16;
  LB_ASSIGN_OR_RETURN(QuantizedTensor q, Quantize(w, {rows, cols}, c, pool));
  f.step_ = graph::Tensor::Zeros(DType::kF32, {rows});
  for (int64_t r = 0; r < rows; ++r) {
    // lowbit's symmetric steps are signed: the channel's extreme maps to
    // Qn, the level of the larger magnitude, whichever its sign.
    float s = q.scales[r];
    if (s == 0.0f || !std::isfinite(s)) s = 1e-4f;  // an all-zero channel
    f.step_.data<float>()[r] = s;
  }
  return f;
}

float FakeQuantWeight::StepOf(int64_t r) const {
  // f16 as exported, never zero (signed: see Create).
  const float s = RoundToF16(step_.data<float>()[r]);
  return std::fabs(s) >= 6.1035156e-05f ? s : std::copysign(6.1035156e-05f, s);
}

void FakeQuantWeight::Forward(float* out) const {
  const float* w = latent_.data<float>();
  for (int64_t r = 0; r < rows_; ++r) {
    const float s = StepOf(r), inv = 1.0f / s;
    for (int64_t c = 0; c < cols_; ++c) {
      const float v =
          std::clamp(std::nearbyint(w[r * cols_ + c] * inv), qn_, qp_);
      out[r * cols_ + c] = s * v;
    }
  }
}

void FakeQuantWeight::Backward(const float* g, float* gw, float* gs) const {
  const float* w = latent_.data<float>();
  const double grad_scale = 1.0 / std::sqrt(static_cast<double>(cols_) * qp_);
  for (int64_t r = 0; r < rows_; ++r) {
    const float s = StepOf(r), inv = 1.0f / s;
    double ds = 0.0;
    for (int64_t c = 0; c < cols_; ++c) {
      const int64_t i = r * cols_ + c;
      const float v = w[i] * inv;
      if (v <= qn_) {
        gw[i] = 0.0f;
        ds += static_cast<double>(g[i]) * qn_;
      } else if (v >= qp_) {
        gw[i] = 0.0f;
        ds += static_cast<double>(g[i]) * qp_;
      } else {
        gw[i] = g[i];
        ds += static_cast<double>(g[i]) * (std::nearbyint(v) - v);
      }
    }
    if (lsq_ && gs != nullptr) gs[r] = static_cast<float>(ds * grad_scale);
  }
}

QuantizedTensor FakeQuantWeight::Export(const Shape& front_shape) const {
  QuantizedTensor q;
  q.scheme = scheme_;
  q.granularity = Granularity::kChannel;
  q.group_size = cols_;
  q.symmetric = true;
  q.scale_type = ScaleType::kF16;
  q.method = lsq_ ? "qat/lsq" : "qat/ste";
  q.shape = front_shape;
  q.rows = rows_;
  q.cols = cols_;
  q.codes.assign(static_cast<size_t>(rows_ * q.code_row_bytes()), 0);
  q.scales.resize(static_cast<size_t>(rows_));
  const bool ternary = scheme_.kind == SchemeKind::kTernary;
  const float zero = ternary ? 1.0f : -qn_;  // the code of level 0
  std::vector<uint8_t> codes(static_cast<size_t>(cols_));
  const float* w = latent_.data<float>();
  for (int64_t r = 0; r < rows_; ++r) {
    const float s = StepOf(r), inv = 1.0f / s;
    q.scales[r] = s;
    for (int64_t c = 0; c < cols_; ++c) {
      const float v =
          std::clamp(std::nearbyint(w[r * cols_ + c] * inv), qn_, qp_);
      codes[c] = static_cast<uint8_t>(v + zero);
    }
    PackBits(codes.data(), cols_, scheme_.bits,
             q.codes.data() + r * q.code_row_bytes());
  }
  return q;
}

}  // namespace lowbit
