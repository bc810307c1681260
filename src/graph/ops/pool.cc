// MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool (ONNX, f32,
// N x C x spatial; the windowed pools 1-D to 3-D): each output row takes, for
// every kernel column, that column's valid run along the row (vectorizable).
#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "graph/ops/families.h"
#include "graph/ops/window.h"

namespace lowbit::graph {
namespace {

// Taps j < k of output index o in dimension j0 of w whose input position lies
// in [0, in) (include_pad: in [-pb, in + pe)).
int64_t TapCount(const Window& w, int j0, int64_t o, bool include_pad) {
  const int64_t lo = include_pad ? -w.pb[j0] : 0;
  const int64_t hi = include_pad ? w.in[j0] + w.pe[j0] : w.in[j0];
  int64_t a, b;
  ValidRange(o * w.s[j0] - w.pb[j0] - lo, w.d[j0], hi - lo, w.k[j0], &a, &b);
  return b - a;
}

Status CheckF32(const InferContext& c) {
  if (c.in(0).dtype != DType::kF32) {
    return c.Fail("X is " + std::string(DTypeName(c.in(0).dtype)) +
                  "; only f32 is supported");
  }
  return Status::Ok();
}

Status ResolvePool(const Node& n, const Shape& x, Window* w) {
  if (x.size() < 3 || x.size() > 5) {
    return InvalidArgument("X has shape " + ShapeString(x) +
                           "; pools take rank 3 to 5 (1-D to 3-D)");
  }
  const std::vector<int64_t> k = n.Ints("kernel_shape");
  if (k.size() != x.size() - 2) {
    return InvalidArgument("kernel_shape has " + std::to_string(k.size()) +
                           " values; X of shape " + ShapeString(x) + " has " +
                           std::to_string(x.size() - 2) +
                           " spatial dimensions");
  }
  return MakeWindow(n, x, k.data(), n.Int("ceil_mode", 0) != 0, w);
}

Status InferPool(InferContext& c) {
  LB_RETURN_IF_ERROR(CheckF32(c));
  const Shape& x = c.in(0).shape;
  Window w;
  const Status st = ResolvePool(c.node(), x, &w);
  if (!st.ok()) return c.Fail(st.message());
  Shape out = {x[0], x[1]};
  for (int i = 0; i < w.rank; ++i) out.push_back(w.out[3 - w.rank + i]);
  c.Set(0, DType::kF32, out);
  return Status::Ok();
}

// Accumulates the valid taps of one input row into the output row yr: for
// kernel column kw, outputs [lo[kw], hi[kw]) read src[q * s + off(kw)].
template <bool kMax>
void AccumulateRow(const float* __restrict src, const Window& w,
                   const int64_t* lo, const int64_t* hi, float* __restrict yr) {
  // (Unaliased rows: the loops below vectorize, strided ones included.)
  const int64_t sw = w.s[2];
  for (int64_t kw = 0; kw < w.k[2]; ++kw) {
    const int64_t off = kw * w.d[2] - w.pb[2];
    if (sw == 1) {
      for (int64_t q = lo[kw]; q < hi[kw]; ++q) {
        const float v = src[q + off];
        yr[q] = kMax ? std::max(yr[q], v) : yr[q] + v;
      }
    } else {
      for (int64_t q = lo[kw]; q < hi[kw]; ++q) {
        const float v = src[q * sw + off];
        yr[q] = kMax ? std::max(yr[q], v) : yr[q] + v;
      }
    }
  }
}

template <bool kMax>
void PoolPlanes(KernelContext& c, const Window& w, int64_t planes,
                const float* x, float* y) {
  const int64_t ow = w.out[2], rows = w.out[0] * w.out[1];
  const int64_t pin = w.InSize(), p = w.OutSize();
  const bool include_pad = c.node().Int("count_include_pad", 0) != 0;
  Workspace::Scope scope(c.ws());
  int64_t* lo = c.ws().Take<int64_t>(w.k[2]);
  int64_t* hi = c.ws().Take<int64_t>(w.k[2]);
  for (int64_t kw = 0; kw < w.k[2]; ++kw) {
    ValidRange(kw * w.d[2] - w.pb[2], w.s[2], w.in[2], ow, &lo[kw], &hi[kw]);
  }
  float* count_w = c.ws().Take<float>(ow);  // taps per output column
  for (int64_t q = 0; q < ow; ++q) {
    count_w[q] = static_cast<float>(TapCount(w, 2, q, include_pad));
  }
  const float init = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
  const int64_t grain = std::max<int64_t>(1, (1 << 15) / (p * w.Taps() + 1));
  c.pool().ParallelFor(planes, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float* xp = x + i * pin;
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t od = r / w.out[1], oh = r % w.out[1];
        float* yr = y + i * p + r * ow;
        std::fill_n(yr, ow, init);
        int64_t valid = 0;  // (depth, height) taps inside the input
        for (int64_t kd = 0; kd < w.k[0]; ++kd) {
          const int64_t id = od * w.s[0] - w.pb[0] + kd * w.d[0];
          if (id < 0 || id >= w.in[0]) continue;
          for (int64_t kh = 0; kh < w.k[1]; ++kh) {
            const int64_t ih = oh * w.s[1] - w.pb[1] + kh * w.d[1];
            if (ih < 0 || ih >= w.in[1]) continue;
            ++valid;
            AccumulateRow<kMax>(xp + (id * w.in[1] + ih) * w.in[2], w, lo, hi,
                                yr);
          }
        }
        if (kMax) continue;
        const float dh = include_pad
                             ? static_cast<float>(TapCount(w, 0, od, true) *
                                                  TapCount(w, 1, oh, true))
                             : static_cast<float>(valid);
        for (int64_t q = 0; q < ow; ++q) {
          const float n = dh * count_w[q];
          yr[q] = n > 0.0f ? yr[q] / n : 0.0f;
        }
      }
    }
  });
}

// MaxPool over Whole2x2Windows: each output the maximum of its four taps,
// taken in the general loop's order (row by row, -inf first, NaNs passed
// over), so the same values.
void MaxPool2x2Planes(ThreadPool& pool, const Window& w, int64_t planes,
                      const float* x, float* y) {
  const int64_t iw = w.in[2], oh_n = w.out[1], ow_n = w.out[2];
  const int64_t pin = w.InSize(), pout = w.OutSize();
  pool.ParallelFor(planes, std::max<int64_t>(1, (1 << 14) / (pin + 1)),
                   [&](int64_t i0, int64_t i1) {
                     for (int64_t i = i0; i < i1; ++i) {
                       for (int64_t oh = 0; oh < oh_n; ++oh) {
                         const float* __restrict r0 = x + i * pin + 2 * oh * iw;
                         const float* __restrict r1 = r0 + iw;
                         float* __restrict yr = y + i * pout + oh * ow_n;
                         for (int64_t q = 0; q < ow_n; ++q) {
                           float m = -std::numeric_limits<float>::infinity();
                           m = std::max(m, r0[2 * q]);
                           m = std::max(m, r0[2 * q + 1]);
                           m = std::max(m, r1[2 * q]);
                           m = std::max(m, r1[2 * q + 1]);
                           yr[q] = m;
                         }
                       }
                     }
                   });
}

Status RunPool(KernelContext& c) {
  Window w;
  const Status st = ResolvePool(c.node(), c.in(0).shape(), &w);
  if (!st.ok()) return c.Fail(st.message());
  const int64_t planes = c.in(0).dim(0) * c.in(0).dim(1);
  if (c.out(0).numel() == 0) return Status::Ok();
  const float* x = c.in(0).data<float>();
  float* y = c.out(0).data<float>();
  if (c.node().op == "MaxPool" && Whole2x2Windows(w)) {
    MaxPool2x2Planes(c.pool(), w, planes, x, y);
  } else if (c.node().op == "MaxPool") {
    PoolPlanes<true>(c, w, planes, x, y);
  } else {
    PoolPlanes<false>(c, w, planes, x, y);
  }
  return Status::Ok();
}

Status InferGlobalPool(InferContext& c) {
  LB_RETURN_IF_ERROR(CheckF32(c));
  const Shape& x = c.in(0).shape;
  if (x.size() < 3) {
    return c.Fail("X has shape " + ShapeString(x) +
                  "; global pools take N x C x spatial (rank 3 or more)");
  }
  Shape out(x.size(), 1);
  out[0] = x[0];
  out[1] = x[1];
  c.Set(0, DType::kF32, out);
  return Status::Ok();
}

Status RunGlobalPool(KernelContext& c) {
  const Tensor& x = c.in(0);
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t size = planes == 0 ? 0 : x.numel() / planes;
  const bool is_max = c.node().op == "GlobalMaxPool";
  const float* xp = x.data<float>();
  float* y = c.out(0).data<float>();
  const int64_t grain = std::max<int64_t>(1, (1 << 15) / (size + 1));
  c.pool().ParallelFor(planes, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float* p = xp + i * size;
      // Eight partial results (vectorizable), then the rest.
      float acc[8];
      std::fill_n(acc, 8,
                  is_max ? -std::numeric_limits<float>::infinity() : 0.0f);
      int64_t q = 0;
      for (; q + 8 <= size; q += 8) {
        for (int j = 0; j < 8; ++j) {
          acc[j] = is_max ? std::max(acc[j], p[q + j]) : acc[j] + p[q + j];
        }
      }
      float r = acc[0];
      for (int j = 1; j < 8; ++j) r = is_max ? std::max(r, acc[j]) : r + acc[j];
      for (; q < size; ++q) r = is_max ? std::max(r, p[q]) : r + p[q];
      y[i] = is_max || size == 0 ? r : r / static_cast<float>(size);
    }
  });
  return Status::Ok();
}

Status CheckPool(const Graph& g, const Node& n) {
  auto fail = [&](const std::string& m) {
    return InvalidArgument(g.NodeLabel(n) + ": " + m);
  };
  LB_RETURN_IF_ERROR(CheckWindowAttrs(g, n, true));
  for (const char* a : {"ceil_mode", "count_include_pad"}) {
    const int64_t v = n.Int(a, 0);
    if (v != 0 && v != 1) {
      return fail(std::string(a) + " is " + std::to_string(v) +
                  "; it must be 0 or 1");
    }
  }
  if (n.op == "MaxPool") {
    if (n.Int("storage_order", 0) != 0) {
      return fail("storage_order " + std::to_string(n.Int("storage_order", 0)) +
                  " is not supported (only 0, row-major)");
    }
    if (n.outputs.size() > 1 && n.outputs[1] >= 0) {
      return fail("the second output (Indices) is not supported");
    }
  }
  return Status::Ok();
}

}  // namespace

void AddPoolOps(std::vector<OpSchema>& t) {
  for (const char* name : {"MaxPool", "AveragePool"}) {
    OpSchema s;
    s.name = name;
    s.max_outputs = std::string(name) == "MaxPool" ? 2 : 1;
    s.check = CheckPool;
    s.infer = InferPool;
    s.run = RunPool;
    t.push_back(s);
  }
  for (const char* name : {"GlobalAveragePool", "GlobalMaxPool"}) {
    OpSchema s;
    s.name = name;
    s.infer = InferGlobalPool;
    s.run = RunGlobalPool;
    t.push_back(s);
  }
}

}  // namespace lowbit::graph
