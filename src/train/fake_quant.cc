#include "train/fake_quant.h"

#include <algorithm>
#include <cmath>

#include "core/half.h"
#include "formats/bitpack.h"
#include "quant/quantize.h"

namespace lowbit {
namespace {

constexpr float kMinStep = 6.1035156e-05f;  // the smallest normal f16

}  // namespace

Result<FakeQuantWeight> FakeQuantWeight::Create(const float* w, int64_t rows,
                                                int64_t cols,
                                                const Scheme& scheme, bool lsq,
                                                ThreadPool& pool) {
  QuantConfig c;
  c.scheme = scheme;
  c.granularity = static_cast<int>(Granularity::kChannel);
  c.symmetric = 1;
  c.method = MethodSpec{Method::kMse};
  c.scale_type = ScaleType::kF16;
  if (scheme.kind != SchemeKind::kTernary &&
      scheme.kind != SchemeKind::kBinary &&
      (scheme.kind != SchemeKind::kInt || scheme.bits < 2 || scheme.bits > 8)) {
    return InvalidArgument(
        "quantization-aware training takes int2..int8, ternary or binary, "
        "not " +
        scheme.Name());
  }
  LB_ASSIGN_OR_RETURN(QuantizedTensor q, Quantize(w, {rows, cols}, c, pool));
  return FromQuantized(w, q, lsq);
}

Result<FakeQuantWeight> FakeQuantWeight::FromQuantized(const float* w,
                                                       const QuantizedTensor& q,
                                                       bool lsq) {
  const bool ternary = q.scheme.kind == SchemeKind::kTernary;
  const bool binary = q.scheme.kind == SchemeKind::kBinary;
  if (!ternary && !binary &&
      (q.scheme.kind != SchemeKind::kInt || q.scheme.bits < 2 ||
       q.scheme.bits > 8)) {
    return InvalidArgument(
        "quantization-aware training takes int2..int8, ternary or binary, "
        "not " +
        q.scheme.Name());
  }
  if (q.granularity == Granularity::kTensor) {
    return InvalidArgument(
        "quantization-aware training takes per-channel or grouped weights");
  }
  FakeQuantWeight f;
  f.lsq_ = lsq;
  f.rows_ = q.rows;
  f.cols_ = q.cols;
  f.group_ = q.group_size;
  f.groups_ = q.groups_per_row();
  f.top_ = ternary  ? 2.0f
           : binary ? 1.0f
                    : static_cast<float>((1 << q.scheme.bits) - 1);
  f.binary_ = binary;
  f.zero_trained_ = !q.symmetric && q.zero_type == ZeroType::kF16;
  f.layout_ = q;
  f.layout_.codes.clear();
  f.layout_.scales.clear();
  f.layout_.zeros.clear();
  f.layout_.scale_type = ScaleType::kF16;
  f.latent_ = graph::Tensor::Zeros(DType::kF32, {q.rows, q.cols});
  std::copy_n(w, q.rows * q.cols, f.latent_.data<float>());
  f.step_ = graph::Tensor::Zeros(DType::kF32, {q.rows, f.groups_});
  f.zero_ = graph::Tensor::Zeros(DType::kF32, {q.rows, f.groups_});
  float zmid = 0.0f;
  for (int64_t r = 0; r < q.rows; ++r) {
    for (int64_t g = 0; g < f.groups_; ++g) {
      float s = q.scales[r * f.groups_ + g];
      // A zero group: any step; lowbit's symmetric steps are signed (a
      // channel's extreme maps to the lowest level).
      if (s == 0.0f || !std::isfinite(s)) s = 1e-4f;
      // Binary levels -s, s: a step of 2 s between codes 0 and 1, z = 1/2.
      f.step_.data<float>()[r * f.groups_ + g] = binary ? 2.0f * s : s;
      const float z = ternary ? 1.0f : binary ? 0.5f : ZeroPointAt(q, r, g);
      f.zero_.data<float>()[r * f.groups_ + g] = z;
      zmid = z;
    }
  }
  f.qp_ = q.symmetric || ternary || binary ? f.top_ - zmid : f.top_;
  if (f.qp_ < 1.0f) f.qp_ = 1.0f;
  return f;
}

float FakeQuantWeight::StepOf(int64_t i) const {
  // f16 as exported, never zero (signed: see FromQuantized).
  const float s = RoundToF16(step_.data<float>()[i]);
  return std::fabs(s) >= kMinStep ? s : std::copysign(kMinStep, s);
}

float FakeQuantWeight::ZeroOf(int64_t i) const {
  const float z = zero_.data<float>()[i];
  return zero_trained_ ? RoundToF16(z) : z;
}

void FakeQuantWeight::Forward(float* out) const {
  const float* w = latent_.data<float>();
  for (int64_t r = 0; r < rows_; ++r) {
    for (int64_t g = 0; g < groups_; ++g) {
      const int64_t k = r * groups_ + g;
      const float s = StepOf(k), inv = 1.0f / s, z = ZeroOf(k);
      const int64_t c1 = std::min(cols_, (g + 1) * group_);
      for (int64_t c = g * group_; c < c1; ++c) {
        const float v =
            std::clamp(std::nearbyint(w[r * cols_ + c] * inv + z), 0.0f, top_);
        out[r * cols_ + c] = s * (v - z);
      }
    }
  }
}

void FakeQuantWeight::Backward(const float* g, float* gw, float* gs,
                               float* gz) const {
  const float* w = latent_.data<float>();
  for (int64_t r = 0; r < rows_; ++r) {
    for (int64_t j = 0; j < groups_; ++j) {
      const int64_t k = r * groups_ + j;
      const float s = StepOf(k), inv = 1.0f / s, z = ZeroOf(k);
      const int64_t c0 = j * group_, c1 = std::min(cols_, (j + 1) * group_);
      double ds = 0.0, dz = 0.0;
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t i = r * cols_ + c;
        const float v = w[i] * inv + z;
        if (v <= 0.0f) {
          gw[i] = 0.0f;
          ds += static_cast<double>(g[i]) * (0.0f - z);
          dz -= static_cast<double>(g[i]) * s;
        } else if (v >= top_) {
          gw[i] = 0.0f;
          ds += static_cast<double>(g[i]) * (top_ - z);
          dz -= static_cast<double>(g[i]) * s;
        } else {
          gw[i] = g[i];
          ds += static_cast<double>(g[i]) * (std::nearbyint(v) - v);
        }
      }
      const double scale = 1.0 / std::sqrt(static_cast<double>(c1 - c0) * qp_);
      if (lsq_ && gs != nullptr) gs[k] = static_cast<float>(ds * scale);
      if (trains_zero() && gz != nullptr)
        gz[k] = static_cast<float>(dz * scale);
    }
  }
}

QuantizedTensor FakeQuantWeight::Export(const Shape& front_shape) const {
  QuantizedTensor q = layout_;
  q.method = lsq_ ? "qat/lsq" : "qat/ste";
  q.shape = front_shape;
  q.codes.assign(static_cast<size_t>(rows_ * q.code_row_bytes()), 0);
  q.scales.resize(static_cast<size_t>(rows_ * groups_));
  if (!q.symmetric) {
    q.zeros.assign(static_cast<size_t>(rows_ * q.zero_row_bytes()), 0);
  }
  std::vector<uint8_t> codes(static_cast<size_t>(cols_));
  const float* w = latent_.data<float>();
  for (int64_t r = 0; r < rows_; ++r) {
    for (int64_t g = 0; g < groups_; ++g) {
      const int64_t k = r * groups_ + g;
      const float s = StepOf(k), inv = 1.0f / s, z = ZeroOf(k);
      q.scales[k] = binary_ ? 0.5f * s : s;
      if (!q.symmetric) SetZeroPoint(q, r, g, z);
      const int64_t c1 = std::min(cols_, (g + 1) * group_);
      for (int64_t c = g * group_; c < c1; ++c) {
        codes[c] = static_cast<uint8_t>(
            std::clamp(std::nearbyint(w[r * cols_ + c] * inv + z), 0.0f, top_));
      }
    }
    PackBits(codes.data(), cols_, q.scheme.bits,
             q.codes.data() + r * q.code_row_bytes());
  }
  return q;
}

}  // namespace lowbit
