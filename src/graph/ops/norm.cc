// Normalization operators on f32: BatchNormalization (inference, or
// training mode from the batch's statistics),
// InstanceNormalization, LayerNormalization, LRN, and Softmax / LogSoftmax
// (opset < 13 coerce the input to 2-D at `axis`; 13 and later use one axis).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "graph/ops/broadcast.h"
#include "graph/ops/families.h"

namespace lowbit::graph {
namespace {

// Elements a parallel chunk should hold at least.
constexpr int64_t kChunkElements = 1 << 15;

int64_t Grain(int64_t per_row) {
  return std::max<int64_t>(1, kChunkElements / std::max<int64_t>(1, per_row));
}

int64_t Product(const Shape& s, int begin, int end) {
  int64_t p = 1;
  for (int i = begin; i < end; ++i) p *= s[i];
  return p;
}

Status NeedF32(const InferContext& c, int k, const char* what) {
  if (c.in(k).dtype != DType::kF32) {
    return c.Fail(std::string(what) + " must be f32, not " +
                  std::string(DTypeName(c.in(k).dtype)));
  }
  return Status::Ok();
}

// Sum of f(x[i]) for i < n: eight float lanes (vectorizable) over blocks
// of 512 values, the block sums added in double.
template <typename F>
double BlockedSum(const float* x, int64_t n, F f) {
  constexpr int64_t kBlock = 512;
  double total = 0.0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    float acc[8] = {};
    int64_t i = b;
    for (; i + 8 <= e; i += 8) {
      for (int k = 0; k < 8; ++k) acc[k] += f(x[i + k]);
    }
    for (int k = 0; i < e; ++i, ++k) acc[k] += f(x[i]);
    float block = 0.0f;
    for (float a : acc) block += a;
    total += block;
  }
  return total;
}

// Mean and (population) variance of n values, the variance from the
// centred values.
void MeanVar(const float* x, int64_t n, double* mean, double* var) {
  if (n == 0) {
    *mean = *var = 0.0;
    return;
  }
  const double m = BlockedSum(x, n, [](float v) { return v; }) / n;
  const float mf = static_cast<float>(m);
  const double q = BlockedSum(x, n, [mf](float v) {
    const float d = v - mf;
    return d * d;
  });
  *mean = m;
  *var = q / n;
}

// Per-channel parameters ([C]) of BatchNormalization and
// InstanceNormalization: f32 with C elements.
Status CheckChannelParam(const InferContext& c, int k, const char* what,
                         int64_t channels) {
  LB_RETURN_IF_ERROR(NeedF32(c, k, what));
  if (NumElements(c.in(k).shape) != channels || c.in(k).shape.size() > 1) {
    return c.Fail(std::string(what) + " has shape " +
                  ShapeString(c.in(k).shape) + "; expected [" +
                  std::to_string(channels) + "] (one per channel)");
  }
  return Status::Ok();
}

// ---- BatchNormalization --------------------------------------------------

Status BatchNormCheck(const Graph& g, const Node& n) {
  if (n.Int("spatial", 1) != 1) {
    return InvalidArgument(g.NodeLabel(n) +
                           ": spatial = 0 (per-element statistics) is not "
                           "supported; only spatial = 1");
  }
  // Training mode (opset 14 and later): Y from the batch's statistics, and
  // the running mean and variance as outputs 1 and 2.
  const size_t allowed = n.Int("training_mode", 0) != 0 ? 3 : 1;
  for (size_t k = allowed; k < n.outputs.size(); ++k) {
    if (n.outputs[k] >= 0) {
      return InvalidArgument(
          g.NodeLabel(n) + ": asks for " + std::to_string(n.outputs.size()) +
          " outputs; " +
          (allowed == 1 ? "only Y is computed in inference mode (the running "
                          "statistics are outputs with training_mode = 1)"
                        : "the saved statistics of opsets before 14 are not "
                          "computed"));
    }
  }
  return Status::Ok();
}

Status BatchNormInfer(InferContext& c) {
  LB_RETURN_IF_ERROR(NeedF32(c, 0, "X"));
  const Shape& x = c.in(0).shape;
  if (x.size() < 2) {
    return c.Fail("X has shape " + ShapeString(x) +
                  "; expected at least 2 dimensions (N, C, ...)");
  }
  const char* names[] = {"", "scale", "B", "mean", "var"};
  for (int k = 1; k <= 4; ++k) {
    if (!c.has(k))
      return c.Fail(std::string("input ") + names[k] + " is missing");
    LB_RETURN_IF_ERROR(CheckChannelParam(c, k, names[k], x[1]));
  }
  c.Set(0, DType::kF32, x);
  if (c.node().Int("training_mode", 0) != 0) {
    for (int k = 1; k <= 2 && k < c.num_outputs(); ++k) {
      c.Set(k, DType::kF32, {x[1]});
    }
  }
  return Status::Ok();
}

Status BatchNormRun(KernelContext& c) {
  const Tensor& x = c.in(0);
  const int64_t channels = x.dim(1);
  const int64_t inner = Product(x.shape(), 2, x.rank());
  const int64_t rows = x.dim(0) * channels;
  const float eps = c.node().Float("epsilon", 1e-5f);
  const bool training = c.node().Int("training_mode", 0) != 0;
  Workspace::Scope scope(c.ws());
  float* a = c.ws().Take<float>(channels);
  float* b = c.ws().Take<float>(channels);
  const float* scale = c.in(1).data<float>();
  const float* bias = c.in(2).data<float>();
  const float* mean = c.in(3).data<float>();
  const float* var = c.in(4).data<float>();
  const float* px = x.data<float>();
  if (training) {
    // The batch's mean and population variance per channel, over N and the
    // spatial axes; the running statistics move towards them by (1 -
    // momentum).
    const float momentum = c.node().Float("momentum", 0.9f);
    const double count = static_cast<double>(x.dim(0) * inner);
    for (int64_t ch = 0; ch < channels; ++ch) {
      double sum = 0.0;
      for (int64_t n = 0; n < x.dim(0); ++n) {
        sum += BlockedSum(px + (n * channels + ch) * inner, inner,
                          [](float v) { return v; });
      }
      const double m = count > 0 ? sum / count : 0.0;
      const float mf = static_cast<float>(m);
      double sq = 0.0;
      for (int64_t n = 0; n < x.dim(0); ++n) {
        sq += BlockedSum(px + (n * channels + ch) * inner, inner,
                         [mf](float v) { return (v - mf) * (v - mf); });
      }
      const double v = count > 0 ? sq / count : 0.0;
      a[ch] = static_cast<float>(scale[ch] / std::sqrt(v + eps));
      b[ch] = static_cast<float>(bias[ch] - m * a[ch]);
      if (c.num_outputs() > 1 && c.has_out(1)) {
        c.out(1).data<float>()[ch] =
            static_cast<float>(mean[ch] * momentum + m * (1.0f - momentum));
      }
      if (c.num_outputs() > 2 && c.has_out(2)) {
        c.out(2).data<float>()[ch] =
            static_cast<float>(var[ch] * momentum + v * (1.0f - momentum));
      }
    }
  } else {
    for (int64_t ch = 0; ch < channels; ++ch) {
      a[ch] = scale[ch] / std::sqrt(var[ch] + eps);
      b[ch] = bias[ch] - mean[ch] * a[ch];
    }
  }
  float* py = c.out(0).data<float>();
  c.pool().ParallelFor(rows, Grain(inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float ar = a[r % channels], br = b[r % channels];
      const float* xr = px + r * inner;
      float* yr = py + r * inner;
      for (int64_t i = 0; i < inner; ++i) yr[i] = xr[i] * ar + br;
    }
  });
  return Status::Ok();
}

// ---- InstanceNormalization -----------------------------------------------

Status InstanceNormInfer(InferContext& c) {
  LB_RETURN_IF_ERROR(NeedF32(c, 0, "X"));
  const Shape& x = c.in(0).shape;
  if (x.size() < 2) {
    return c.Fail("X has shape " + ShapeString(x) +
                  "; expected at least 2 dimensions (N, C, ...)");
  }
  LB_RETURN_IF_ERROR(CheckChannelParam(c, 1, "scale", x[1]));
  LB_RETURN_IF_ERROR(CheckChannelParam(c, 2, "B", x[1]));
  c.Set(0, DType::kF32, x);
  return Status::Ok();
}

Status InstanceNormRun(KernelContext& c) {
  const Tensor& x = c.in(0);
  const int64_t channels = x.dim(1);
  const int64_t inner = Product(x.shape(), 2, x.rank());
  const int64_t rows = x.dim(0) * channels;
  const float eps = c.node().Float("epsilon", 1e-5f);
  const float* scale = c.in(1).data<float>();
  const float* bias = c.in(2).data<float>();
  const float* px = x.data<float>();
  float* py = c.out(0).data<float>();
  c.pool().ParallelFor(rows, Grain(inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = px + r * inner;
      float* yr = py + r * inner;
      double mean, var;
      MeanVar(xr, inner, &mean, &var);
      const float a =
          scale[r % channels] / static_cast<float>(std::sqrt(var + eps));
      const float m = static_cast<float>(mean), b = bias[r % channels];
      for (int64_t i = 0; i < inner; ++i) yr[i] = (xr[i] - m) * a + b;
    }
  });
  return Status::Ok();
}

// ---- LayerNormalization --------------------------------------------------

Status LayerNormCheck(const Graph& g, const Node& n) {
  const int64_t stash = n.Int("stash_type", 1);
  if (stash != 1) {
    return InvalidArgument(g.NodeLabel(n) + ": stash_type " +
                           std::to_string(stash) +
                           " is not supported; only 1 (float)");
  }
  return Status::Ok();
}

// Whether `p` broadcasts (unidirectionally) to `target`.
bool BroadcastsTo(const Shape& p, const Shape& target) {
  if (p.size() > target.size()) return false;
  const size_t off = target.size() - p.size();
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != 1 && p[i] != target[off + i]) return false;
  }
  return true;
}

Status LayerNormInfer(InferContext& c) {
  LB_RETURN_IF_ERROR(NeedF32(c, 0, "X"));
  const Shape& x = c.in(0).shape;
  const int r = static_cast<int>(x.size());
  int64_t axis = c.node().Int("axis", -1);
  if (axis < -r || axis >= r) {
    return c.Fail("axis " + std::to_string(axis) + " is out of range for " +
                  std::to_string(r) + "-D X");
  }
  if (axis < 0) axis += r;
  const Shape norm(x.begin() + axis, x.end());
  const char* names[] = {"", "Scale", "B"};
  for (int k = 1; k <= 2; ++k) {
    if (!c.has(k)) continue;
    LB_RETURN_IF_ERROR(NeedF32(c, k, names[k]));
    if (!BroadcastsTo(c.in(k).shape, norm)) {
      return c.Fail(std::string(names[k]) + " has shape " +
                    ShapeString(c.in(k).shape) +
                    ", which does not broadcast to the normalized shape " +
                    ShapeString(norm));
    }
  }
  if (!c.has(1)) return c.Fail("input Scale is missing");
  c.Set(0, DType::kF32, x);
  Shape stat = x;
  for (int i = static_cast<int>(axis); i < r; ++i) stat[i] = 1;
  for (int k = 1; k < c.num_outputs(); ++k) c.Set(k, DType::kF32, stat);
  return Status::Ok();
}

Status LayerNormRun(KernelContext& c) {
  const Tensor& x = c.in(0);
  const int r = x.rank();
  int64_t axis = c.node().Int("axis", -1);
  if (axis < 0) axis += r;
  const int64_t rows = Product(x.shape(), 0, static_cast<int>(axis));
  const int64_t d = Product(x.shape(), static_cast<int>(axis), r);
  const Shape norm(x.shape().begin() + axis, x.shape().end());
  const float eps = c.node().Float("epsilon", 1e-5f);
  Workspace::Scope scope(c.ws());
  const float* scale = c.in(1).data<float>();
  if (c.in(1).numel() != d) {
    float* s = c.ws().Take<float>(d);
    ExpandTo(c.in(1).data<float>(), c.in(1).shape(), norm, s);
    scale = s;
  }
  const float* bias = nullptr;
  if (c.has(2)) {
    bias = c.in(2).data<float>();
    if (c.in(2).numel() != d) {
      float* b = c.ws().Take<float>(d);
      ExpandTo(c.in(2).data<float>(), c.in(2).shape(), norm, b);
      bias = b;
    }
  }
  float* mean_out = c.has_out(1) ? c.out(1).data<float>() : nullptr;
  float* inv_out = c.has_out(2) ? c.out(2).data<float>() : nullptr;
  const float* px = x.data<float>();
  float* py = c.out(0).data<float>();
  c.pool().ParallelFor(rows, Grain(d), [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      const float* xr = px + row * d;
      float* yr = py + row * d;
      double mean, var;
      MeanVar(xr, d, &mean, &var);
      const float m = static_cast<float>(mean);
      const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
      if (mean_out != nullptr) mean_out[row] = m;
      if (inv_out != nullptr) inv_out[row] = inv;
      if (bias != nullptr) {
        for (int64_t i = 0; i < d; ++i) {
          yr[i] = (xr[i] - m) * inv * scale[i] + bias[i];
        }
      } else {
        for (int64_t i = 0; i < d; ++i) yr[i] = (xr[i] - m) * inv * scale[i];
      }
    }
  });
  return Status::Ok();
}

// ---- LRN -----------------------------------------------------------------

Status LrnCheck(const Graph& g, const Node& n) {
  if (n.Find("size") == nullptr || n.Int("size", 0) < 1) {
    return InvalidArgument(g.NodeLabel(n) +
                           ": attribute size (a positive int) is required");
  }
  return Status::Ok();
}

Status LrnInfer(InferContext& c) {
  LB_RETURN_IF_ERROR(NeedF32(c, 0, "X"));
  if (c.in(0).shape.size() < 2) {
    return c.Fail("X has shape " + ShapeString(c.in(0).shape) +
                  "; expected at least 2 dimensions (N, C, ...)");
  }
  c.Set(0, DType::kF32, c.in(0).shape);
  return Status::Ok();
}

Status LrnRun(KernelContext& c) {
  const Tensor& x = c.in(0);
  const int64_t channels = x.dim(1);
  const int64_t inner = Product(x.shape(), 2, x.rank());
  const int64_t size = c.node().Int("size", 1);
  const float alpha = c.node().Float("alpha", 1e-4f);
  const float beta = c.node().Float("beta", 0.75f);
  const float bias = c.node().Float("bias", 1.0f);
  const float a = alpha / static_cast<float>(size);
  const int64_t before = (size - 1) / 2, after = size - 1 - before;
  const float* px = x.data<float>();
  float* py = c.out(0).data<float>();
  c.pool().ParallelFor(
      x.dim(0) * channels, Grain(inner * size), [&](int64_t r0, int64_t r1) {
        for (int64_t row = r0; row < r1; ++row) {
          const int64_t n = row / channels, ch = row % channels;
          const int64_t lo = std::max<int64_t>(0, ch - before);
          const int64_t hi = std::min<int64_t>(channels - 1, ch + after);
          float* yr = py + row * inner;
          std::fill(yr, yr + inner, 0.0f);
          for (int64_t k = lo; k <= hi; ++k) {
            const float* xk = px + (n * channels + k) * inner;
            for (int64_t i = 0; i < inner; ++i) yr[i] += xk[i] * xk[i];
          }
          const float* xr = px + row * inner;
          for (int64_t i = 0; i < inner; ++i) {
            yr[i] = xr[i] / std::pow(bias + a * yr[i], beta);
          }
        }
      });
  return Status::Ok();
}

// ---- Softmax, LogSoftmax -------------------------------------------------

// The input seen as [outer, len, inner]: softmax runs along len.
struct SoftmaxDims {
  int64_t outer = 1, len = 1, inner = 1;
};

// Axis normalized to [0, r); false when out of range.
bool SoftmaxDimsOf(const Node& n, int opset, const Shape& s, SoftmaxDims* d,
                   int64_t* axis_out) {
  const int r = static_cast<int>(s.size());
  int64_t axis = n.Int("axis", opset < 13 ? 1 : -1);
  *axis_out = axis;
  if (r == 0) {
    // A scalar: a softmax over one element.
    if (axis != 0 && axis != -1) return false;
    *d = SoftmaxDims{};
    return true;
  }
  if (axis < -r || axis >= r) return false;
  if (axis < 0) axis += r;
  const int a = static_cast<int>(axis);
  d->outer = Product(s, 0, a);
  if (opset < 13) {
    d->len = Product(s, a, r);
    d->inner = 1;
  } else {
    d->len = s[a];
    d->inner = Product(s, a + 1, r);
  }
  return true;
}

Status SoftmaxInfer(InferContext& c) {
  LB_RETURN_IF_ERROR(NeedF32(c, 0, "input"));
  SoftmaxDims d;
  int64_t axis;
  if (!SoftmaxDimsOf(c.node(), c.opset(), c.in(0).shape, &d, &axis)) {
    return c.Fail("axis " + std::to_string(axis) + " is out of range for " +
                  std::to_string(c.in(0).shape.size()) + "-D input");
  }
  c.Set(0, DType::kF32, c.in(0).shape);
  return Status::Ok();
}

// Float max and exp written with integer selects so that loops over arrays
// vectorize (float comparisons may trap, which keeps GCC from if-converting
// them).

// A float's bits as an int ordered like the floats (NaN above +inf when
// positive); the map is its own inverse.
inline int32_t OrderKey(float x) {
  const int32_t b = std::bit_cast<int32_t>(x);
  return b ^ ((b >> 31) & 0x7fffffff);
}
inline float MaxF(float a, float b) {
  const int32_t ka = OrderKey(a), kb = OrderKey(b);
  const int32_t k = ka > kb ? ka : kb;
  return std::bit_cast<float>(k ^ ((k >> 31) & 0x7fffffff));
}

// exp(x) for x <= 88 (softmax passes x - max <= 0) to 3 ulp: x = n ln2 + r
// with |r| <= ln2 / 2 (n rounded with the 1.5 * 2^23 trick), exp(r) by its
// Taylor polynomial of degree 6, times 2^n built in the exponent bits. 0 below
// -87.3 (where the result would be subnormal) and for -inf; NaN stays NaN.
inline float ExpUpTo88(float x) {
  constexpr uint32_t kLow = std::bit_cast<uint32_t>(-87.3f);
  const int32_t xb = std::bit_cast<int32_t>(x);
  const uint32_t ub = static_cast<uint32_t>(xb);
  // Masks: all ones when x < -87.3 (negative NaNs too), when x is NaN.
  const int32_t below = -static_cast<int32_t>(ub > kLow);
  const int32_t nan = -static_cast<int32_t>((ub & 0x7fffffffu) > 0x7f800000u);
  // NaN becomes 0 here (converting NaN to int is undefined) and NaN again
  // at the end.
  const float xc = std::bit_cast<float>(
      (xb & ~below & ~nan) | (static_cast<int32_t>(kLow) & below & ~nan));
  const float magic = 12582912.0f;  // 1.5 * 2^23
  const float n = (xc * 1.44269504f + magic) - magic;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float scale =
      std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
  const int32_t yb = std::bit_cast<int32_t>(p * scale) & ~below;
  return std::bit_cast<float>((yb & ~nan) | (0x7fc00000 & nan));
}

// Largest of n >= 1 values, in eight lanes.
float RowMax(const float* x, int64_t n) {
  float m[8];
  for (float& v : m) v = x[0];
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) m[k] = MaxF(m[k], x[i + k]);
  }
  for (int k = 0; i < n; ++i, ++k) m[k] = MaxF(m[k], x[i]);
  float r = m[0];
  for (float v : m) r = MaxF(r, v);
  return r;
}

// One contiguous row.
template <bool kLog>
void SoftmaxRow(const float* x, float* y, int64_t n) {
  if (n == 0) return;
  const float m = RowMax(x, n);
  for (int64_t i = 0; i < n; ++i) y[i] = ExpUpTo88(x[i] - m);
  const float s =
      static_cast<float>(BlockedSum(y, n, [](float v) { return v; }));
  if constexpr (kLog) {
    const float log_s = std::log(s);
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) - log_s;
  } else {
    const float inv = 1.0f / s;
    for (int64_t i = 0; i < n; ++i) y[i] *= inv;
  }
}

// One [len, inner] block: softmax along len, for every inner position, with
// contiguous inner loops; m and s are scratch of `inner` floats.
template <bool kLog>
void SoftmaxBlock(const float* x, float* y, int64_t len, int64_t inner,
                  float* m, float* s) {
  if (len == 0) return;
  std::copy(x, x + inner, m);
  for (int64_t k = 1; k < len; ++k) {
    const float* xk = x + k * inner;
    for (int64_t i = 0; i < inner; ++i) m[i] = MaxF(m[i], xk[i]);
  }
  std::fill(s, s + inner, 0.0f);
  for (int64_t k = 0; k < len; ++k) {
    const float* xk = x + k * inner;
    float* yk = y + k * inner;
    for (int64_t i = 0; i < inner; ++i) {
      yk[i] = ExpUpTo88(xk[i] - m[i]);
      s[i] += yk[i];
    }
  }
  if constexpr (kLog) {
    for (int64_t i = 0; i < inner; ++i) s[i] = std::log(s[i]);
    for (int64_t k = 0; k < len; ++k) {
      const float* xk = x + k * inner;
      float* yk = y + k * inner;
      for (int64_t i = 0; i < inner; ++i) yk[i] = (xk[i] - m[i]) - s[i];
    }
  } else {
    for (int64_t i = 0; i < inner; ++i) s[i] = 1.0f / s[i];
    for (int64_t k = 0; k < len; ++k) {
      float* yk = y + k * inner;
      for (int64_t i = 0; i < inner; ++i) yk[i] *= s[i];
    }
  }
}

template <bool kLog>
Status SoftmaxRun(KernelContext& c) {
  SoftmaxDims d;
  int64_t axis;
  SoftmaxDimsOf(c.node(), c.opset(), c.in(0).shape(), &d, &axis);
  const float* px = c.in(0).data<float>();
  float* py = c.out(0).data<float>();
  const int64_t block = d.len * d.inner;
  if (d.inner == 1) {
    c.pool().ParallelFor(d.outer, Grain(block), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        SoftmaxRow<kLog>(px + r * block, py + r * block, d.len);
      }
    });
    return Status::Ok();
  }
  Workspace::Scope scope(c.ws());
  const int threads = c.pool().num_threads();
  float* scratch = c.ws().Take<float>(2 * d.inner * threads);
  c.pool().ParallelForSlots(
      d.outer, Grain(block), [&](int64_t r0, int64_t r1, int slot) {
        float* m = scratch + 2 * d.inner * slot;
        float* s = m + d.inner;
        for (int64_t r = r0; r < r1; ++r) {
          SoftmaxBlock<kLog>(px + r * block, py + r * block, d.len, d.inner, m,
                             s);
        }
      });
  return Status::Ok();
}

}  // namespace

void AddNormOps(std::vector<OpSchema>& t) {
  OpSchema bn;
  bn.name = "BatchNormalization";
  bn.min_inputs = 5;
  bn.max_inputs = 5;
  bn.max_outputs = 5;
  bn.check = BatchNormCheck;
  bn.infer = BatchNormInfer;
  bn.run = BatchNormRun;
  t.push_back(bn);

  OpSchema in;
  in.name = "InstanceNormalization";
  in.min_inputs = 3;
  in.max_inputs = 3;
  in.infer = InstanceNormInfer;
  in.run = InstanceNormRun;
  t.push_back(in);

  OpSchema ln;
  ln.name = "LayerNormalization";
  ln.min_inputs = 2;
  ln.max_inputs = 3;
  ln.max_outputs = 3;
  ln.check = LayerNormCheck;
  ln.infer = LayerNormInfer;
  ln.run = LayerNormRun;
  t.push_back(ln);

  OpSchema lrn;
  lrn.name = "LRN";
  lrn.check = LrnCheck;
  lrn.infer = LrnInfer;
  lrn.run = LrnRun;
  t.push_back(lrn);

  OpSchema sm;
  sm.name = "Softmax";
  sm.infer = SoftmaxInfer;
  sm.run = SoftmaxRun<false>;
  t.push_back(sm);
  sm.name = "LogSoftmax";
  sm.run = SoftmaxRun<true>;
  t.push_back(sm);
}

}  // namespace lowbit::graph
