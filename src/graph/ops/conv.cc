// Conv (ONNX, f32, N x C x spatial, 1-D to 3-D): a 1x1 convolution is one
// GEMM per group, a depthwise one a direct Highway loop, any other im2col +
// GEMM per group; and the registration of Conv and ConvTranspose
// (conv_transpose.cc).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "graph/ops/conv.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format off
#include "hwy/highway.h"
// clang-format on

#include <cblas-openblas.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "graph/ops/activation.h"
#include "graph/ops/conv_geometry.h"
#include "graph/ops/families.h"
#include "graph/ops/window.h"
#include "graph/qweight.h"
#include "kernels/qgemm.h"
#include "kernels/sgemm.h"

#ifndef LOWBIT_GRAPH_OPS_CONV_CONSTANTS_
#define LOWBIT_GRAPH_OPS_CONV_CONSTANTS_  // once, not per Highway target
namespace lowbit::graph {
// Floats after a padded depthwise plane that the last vector of a row may
// read (more than the lanes of any target).
constexpr int64_t kDepthwiseSlack = 256;
}  // namespace lowbit::graph
#endif

HWY_BEFORE_NAMESPACE();
namespace lowbit::graph {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Depthwise rows: y[r * ow + x] = bias + sum over taps t of w[t] *
// buf[row_off[r] + tap_off[t] + x], for x < ow. kTaps > 0 is the tap count
// as a constant (unrolled, the weights stay in registers). Four accumulators
// (four rows, or four vectors of one row) hide the latency of MulAdd. The
// last vector of a row reads past its end (buf has kDepthwiseSlack floats
// after the plane) and stores only the row's lanes.
template <int kTaps>
HWY_INLINE void FourRows(const float* HWY_RESTRICT buf, const int64_t* row_off,
                         const int64_t* tap_off, const float* w, int64_t taps,
                         float bias, float* HWY_RESTRICT y, int64_t ow) {
  const hn::ScalableTag<float> d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t nt = kTaps > 0 ? kTaps : taps;
  const float* b0 = buf + row_off[0];
  const float* b1 = buf + row_off[1];
  const float* b2 = buf + row_off[2];
  const float* b3 = buf + row_off[3];
  for (int64_t x = 0; x < ow; x += n) {
    auto a0 = hn::Set(d, bias), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t t = 0; t < nt; ++t) {
      const int64_t o = tap_off[t] + x;
      const auto wv = hn::Set(d, w[t]);
      a0 = hn::MulAdd(wv, hn::LoadU(d, b0 + o), a0);
      a1 = hn::MulAdd(wv, hn::LoadU(d, b1 + o), a1);
      a2 = hn::MulAdd(wv, hn::LoadU(d, b2 + o), a2);
      a3 = hn::MulAdd(wv, hn::LoadU(d, b3 + o), a3);
    }
    if (x + n <= ow) {
      hn::StoreU(a0, d, y + x);
      hn::StoreU(a1, d, y + ow + x);
      hn::StoreU(a2, d, y + 2 * ow + x);
      hn::StoreU(a3, d, y + 3 * ow + x);
    } else {
      HWY_ALIGN float tmp[4 * hn::MaxLanes(d)];
      hn::Store(a0, d, tmp);
      hn::Store(a1, d, tmp + n);
      hn::Store(a2, d, tmp + 2 * n);
      hn::Store(a3, d, tmp + 3 * n);
      for (int64_t r = 0; r < 4; ++r) {
        std::copy_n(tmp + r * n, ow - x, y + r * ow + x);
      }
    }
  }
}

template <int kTaps>
HWY_INLINE void OneRow(const float* HWY_RESTRICT base, const int64_t* tap_off,
                       const float* w, int64_t taps, float bias,
                       float* HWY_RESTRICT y, int64_t ow) {
  const hn::ScalableTag<float> d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t nt = kTaps > 0 ? kTaps : taps;
  int64_t x = 0;
  for (; x + 4 * n <= ow; x += 4 * n) {
    auto a0 = hn::Set(d, bias), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t t = 0; t < nt; ++t) {
      const float* p = base + tap_off[t] + x;
      const auto wv = hn::Set(d, w[t]);
      a0 = hn::MulAdd(wv, hn::LoadU(d, p), a0);
      a1 = hn::MulAdd(wv, hn::LoadU(d, p + n), a1);
      a2 = hn::MulAdd(wv, hn::LoadU(d, p + 2 * n), a2);
      a3 = hn::MulAdd(wv, hn::LoadU(d, p + 3 * n), a3);
    }
    hn::StoreU(a0, d, y + x);
    hn::StoreU(a1, d, y + x + n);
    hn::StoreU(a2, d, y + x + 2 * n);
    hn::StoreU(a3, d, y + x + 3 * n);
  }
  for (; x < ow; x += n) {
    auto a = hn::Set(d, bias);
    for (int64_t t = 0; t < nt; ++t) {
      a = hn::MulAdd(hn::Set(d, w[t]), hn::LoadU(d, base + tap_off[t] + x), a);
    }
    if (x + n <= ow) {
      hn::StoreU(a, d, y + x);
    } else {
      HWY_ALIGN float tmp[hn::MaxLanes(d)];
      hn::Store(a, d, tmp);
      std::copy_n(tmp, ow - x, y + x);
    }
  }
}

template <int kTaps>
HWY_INLINE void DepthwiseRowsT(const float* buf, const int64_t* row_off,
                               int64_t rows, const int64_t* tap_off,
                               const float* w, int64_t taps, float bias,
                               float* y, int64_t ow) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    FourRows<kTaps>(buf, row_off + r, tap_off, w, taps, bias, y + r * ow, ow);
  }
  for (; r < rows; ++r) {
    OneRow<kTaps>(buf + row_off[r], tap_off, w, taps, bias, y + r * ow, ow);
  }
}

void DepthwiseRows(const float* buf, const int64_t* row_off, int64_t rows,
                   const int64_t* tap_off, const float* w, int64_t taps,
                   float bias, float* y, int64_t ow) {
  switch (taps) {
    case 3:
      return DepthwiseRowsT<3>(buf, row_off, rows, tap_off, w, taps, bias, y,
                               ow);
    case 9:
      return DepthwiseRowsT<9>(buf, row_off, rows, tap_off, w, taps, bias, y,
                               ow);
    case 25:
      return DepthwiseRowsT<25>(buf, row_off, rows, tap_off, w, taps, bias, y,
                                ow);
    default:
      return DepthwiseRowsT<0>(buf, row_off, rows, tap_off, w, taps, bias, y,
                               ow);
  }
}

// The input plane xp into buf as the depthwise rows read it: padded to the
// extent the windows reach (ext), each row split by column phase modulo the
// width stride s so that every tap reads a contiguous run (column q at
// (q % s) * pws + q / s). Only the input's positions are written: buf holds
// zeros everywhere else (the same positions for every plane).
void CopyPlane(const float* xp, const Window& w, const int64_t* ext,
               int64_t pws, float* buf) {
  const hn::ScalableTag<float> d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t sw = w.s[2], rowlen = sw * pws, in2 = w.in[2];
  for (int64_t pd = 0; pd < ext[0]; ++pd) {
    const int64_t id = pd - w.pb[0];
    if (id < 0 || id >= w.in[0]) continue;
    for (int64_t ph = 0; ph < ext[1]; ++ph) {
      const int64_t ih = ph - w.pb[1];
      if (ih < 0 || ih >= w.in[1]) continue;
      const float* src = xp + (id * w.in[1] + ih) * in2;
      float* dst = buf + (pd * ext[1] + ph) * rowlen;
      for (int64_t phase = 0; phase < sw; ++phase) {
        float* dp = dst + phase * pws;
        const int64_t off = phase - w.pb[2];
        int64_t lo, hi;
        ValidRange(off, sw, in2, pws, &lo, &hi);
        if (sw == 1) {
          std::copy(src + lo + off, src + hi + off, dp + lo);
          continue;
        }
        int64_t q = lo;
        if (sw == 2) {  // deinterleaving loads while they stay in the row
          for (; q + n <= hi && 2 * (q + n) + off <= in2; q += n) {
            hn::Vec<decltype(d)> even, odd;
            hn::LoadInterleaved2(d, src + 2 * q + off, even, odd);
            hn::StoreU(even, d, dp + q);
          }
        }
        for (; q < hi; ++q) dp[q] = src[q * sw + off];
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace lowbit::graph
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit::graph {

HWY_EXPORT(DepthwiseRows);
HWY_EXPORT(CopyPlane);

namespace {
// y[m x n] (row stride ldc) = bias (per row; null: 0) + a[m x k] b[k x n].
void Gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, const float* bias, float* y,
          int64_t ldc) {
  float beta = 0.0f;
  if (bias != nullptr || n == 1) {
    for (int64_t i = 0; i < m; ++i) {
      std::fill_n(y + i * ldc, n, bias != nullptr ? bias[i] : 0.0f);
    }
    beta = 1.0f;
  }
  Sgemm(false, false, m, n, k, 1.0f, a, lda, b, ldb, beta, y, ldc);
}

// 1x1 kernel, unit strides, no pads: per image and group one GEMM
// (W_g [Mg x Cg] times X_g [Cg x P]), split along P when threads would idle.
void PointwiseConv(KernelContext& c, const ConvDims& cd, const float* x,
                   const float* wt, const float* b, float* y,
                   const Activation& act) {
  const int64_t p = cd.w.OutSize(), items = cd.n * cd.g;
  const int threads = c.pool().num_threads();
  int64_t chunks = 1;
  if (threads > 1 && items < 2 * threads) {
    chunks = std::min(CeilDiv(p, 64), CeilDiv(2 * threads, items));
  }
  const int64_t chunk = CeilDiv(CeilDiv(p, chunks), 16) * 16;
  chunks = CeilDiv(p, chunk);
  c.pool().ParallelFor(items * chunks, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t item = i / chunks, p0 = (i % chunks) * chunk;
      const int64_t nn = item / cd.g, g = item % cd.g;
      float* yb = y + (nn * cd.m + g * cd.mg) * p + p0;
      const int64_t len = std::min(chunk, p - p0);
      Gemm(cd.mg, len, cd.cg, wt + g * cd.mg * cd.cg, cd.cg,
           x + (nn * cd.c + g * cd.cg) * p + p0, p,
           b != nullptr ? b + g * cd.mg : nullptr, yb, p);
      act.ApplyRows(yb, cd.mg, len, p);
    }
  });
}

// Any kernel: per image, group and tile of output rows, im2col into the
// thread's scratch and one GEMM (W_g [Mg x Cg*taps] times col).
void Im2colConv(KernelContext& c, const ConvDims& cd, const float* x,
                const float* wt, const float* b, float* y,
                const Activation& act) {
  const Window& w = cd.w;
  const int64_t kdim = cd.cg * w.Taps(), p = w.OutSize(), pin = w.InSize();
  const int64_t ow = w.out[2], rows = w.out[0] * w.out[1];
  const int64_t items = cd.n * cd.g;
  const int threads = c.pool().num_threads();
  const int64_t tile = RowTile(kdim * ow, rows, threads, items);
  const int64_t tiles = CeilDiv(rows, tile), per_slot = kdim * tile * ow;
  float* cols = c.ws().Take<float>(per_slot * threads);
  c.pool().ParallelForSlots(
      items * tiles, 1, [&](int64_t i0, int64_t i1, int slot) {
        float* col = cols + slot * per_slot;
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t item = i / tiles, r0 = (i % tiles) * tile;
          const int64_t r1 = std::min(rows, r0 + tile), np = (r1 - r0) * ow;
          const int64_t nn = item / cd.g, g = item % cd.g;
          Im2col(x + (nn * cd.c + g * cd.cg) * pin, w, cd.cg, r0, r1, col);
          float* yb = y + (nn * cd.m + g * cd.mg) * p + r0 * ow;
          Gemm(cd.mg, np, kdim, wt + g * cd.mg * kdim, kdim, col, np,
               b != nullptr ? b + g * cd.mg : nullptr, yb, p);
          act.ApplyRows(yb, cd.mg, np, p);
        }
      });
}

// One input channel per group (depthwise, or C = 1): per input plane, copy
// it once into the thread's padded scratch (CopyPlane), then each of its Mg
// output planes is a direct sum over the taps (DepthwiseRows).
void DepthwiseConv(KernelContext& c, const ConvDims& cd, const float* x,
                   const float* wt, const float* b, float* y,
                   const Activation& act) {
  const Window& w = cd.w;
  const int64_t taps = w.Taps(), p = w.OutSize(), pin = w.InSize();
  int64_t ext[3];
  for (int j = 0; j < 3; ++j) {
    ext[j] = (w.out[j] - 1) * w.s[j] + (w.k[j] - 1) * w.d[j] + 1;
  }
  const int64_t sw = w.s[2], pws = CeilDiv(ext[2], sw), rowlen = sw * pws;
  const int64_t plane = ext[0] * ext[1] * rowlen + kDepthwiseSlack;
  const int64_t rows = w.out[0] * w.out[1];
  Workspace& ws = c.ws();
  int64_t* tap_off = ws.Take<int64_t>(taps);
  int64_t* row_off = ws.Take<int64_t>(rows);
  for (int64_t t = 0; t < taps; ++t) {
    const int64_t kd = t / (w.k[1] * w.k[2]), kh = t / w.k[2] % w.k[1];
    const int64_t cw = t % w.k[2] * w.d[2];
    tap_off[t] =
        (kd * w.d[0] * ext[1] + kh * w.d[1]) * rowlen + cw % sw * pws + cw / sw;
  }
  for (int64_t r = 0; r < rows; ++r) {
    row_off[r] =
        (r / w.out[1] * w.s[0] * ext[1] + r % w.out[1] * w.s[1]) * rowlen;
  }
  const int threads = c.pool().num_threads();
  float* bufs = ws.Take<float>(plane * threads);
  std::fill_n(bufs, plane * threads, 0.0f);  // the pads, once (CopyPlane)
  c.pool().ParallelForSlots(
      cd.n * cd.c, 0, [&](int64_t i0, int64_t i1, int slot) {
        float* buf = bufs + slot * plane;
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t nn = i / cd.c, ch = i % cd.c;
          HWY_DYNAMIC_DISPATCH(CopyPlane)(x + i * pin, w, ext, pws, buf);
          for (int64_t k = 0; k < cd.mg; ++k) {
            const int64_t m = ch * cd.mg + k;
            HWY_DYNAMIC_DISPATCH(DepthwiseRows)
            (buf, row_off, rows, tap_off, wt + m * taps, taps,
             b != nullptr ? b[m] : 0.0f, y + (nn * cd.m + m) * p, w.out[2]);
            act.Apply(y + (nn * cd.m + m) * p, p);
          }
        }
      });
}

Status CheckF32(const InferContext& c) {
  for (int k = 0; k < c.num_inputs(); ++k) {
    if (c.has(k) && c.in(k).dtype != DType::kF32) {
      return c.Fail("input " + std::to_string(k) + " is " +
                    std::string(DTypeName(c.in(k).dtype)) +
                    "; only f32 is supported");
    }
  }
  return Status::Ok();
}

Status InferConvFamily(InferContext& c) {
  LB_RETURN_IF_ERROR(CheckF32(c));
  const bool transpose = c.node().op == "ConvTranspose";
  ConvDims cd;
  const Shape* b = c.has(2) ? &c.in(2).shape : nullptr;
  const Status st =
      transpose
          ? ResolveConvTranspose(c.node(), c.in(0).shape, c.in(1).shape, b, &cd)
          : ResolveConv(c.node(), c.in(0).shape, c.in(1).shape, b, &cd);
  if (!st.ok()) return c.Fail(st.message());
  Shape out = {cd.n, cd.m};
  for (int i = 0; i < cd.w.rank; ++i)
    out.push_back(cd.w.out[3 - cd.w.rank + i]);
  c.Set(0, DType::kF32, out);
  return Status::Ok();
}

// Fast mode (graph/qweight.h), one group: per image and tile of output
// rows, the input patches as rows (pixels x C k...: the 1x1 input transposed,
// or im2col transposed), kernels/qgemm.h for all output channels, then the
// result transposed back with the bias and the activation.
void QuantizedConv(KernelContext& c, const ConvDims& cd, const float* x,
                   const QGemmWeight& qw, const float* b, float* y,
                   const Activation& act, bool pointwise) {
  const Window& w = cd.w;
  const int64_t kdim = cd.c * w.Taps(), p = w.OutSize(), pin = w.InSize();
  const int64_t ow = w.out[2], rows = w.out[0] * w.out[1];
  const int64_t tile = std::clamp<int64_t>(kColBudget / (kdim * ow), 1, rows);
  float* col = c.ws().Take<float>(pointwise ? 0 : kdim * tile * ow);
  float* patches = c.ws().Take<float>(tile * ow * kdim);
  float* yt = c.ws().Take<float>(tile * ow * cd.m);
  for (int64_t nn = 0; nn < cd.n; ++nn) {
    const float* xn = x + nn * cd.c * pin;
    float* yn = y + nn * cd.m * p;
    for (int64_t r0 = 0; r0 < rows; r0 += tile) {
      const int64_t r1 = std::min(rows, r0 + tile), np = (r1 - r0) * ow;
      const float* src = xn + r0 * ow;  // [kdim x np] with row stride ld
      int64_t ld = p;
      if (!pointwise) {
        Im2col(xn, w, cd.c, r0, r1, col);
        src = col;
        ld = np;
      }
      cblas_somatcopy(CblasRowMajor, CblasTrans, kdim, np, 1.0f, src, ld,
                      patches, kdim);
      QGemm(qw, patches, np, kdim, yt, cd.m, c.pool(), c.ws());
      cblas_somatcopy(CblasRowMajor, CblasTrans, np, cd.m, 1.0f, yt, cd.m,
                      yn + r0 * ow, p);
      if (b != nullptr) {
        for (int64_t m = 0; m < cd.m; ++m) {
          float* ym = yn + m * p + r0 * ow;
          for (int64_t q = 0; q < np; ++q) ym[q] += b[m];
        }
      }
      act.ApplyRows(yn + r0 * ow, cd.m, np, p);
    }
  }
}

Status RunConv(KernelContext& c) {
  ConvDims cd;
  const float* b = c.has(2) ? c.in(2).data<float>() : nullptr;
  const Status st = ResolveConv(c.node(), c.in(0).shape(), c.in(1).shape(),
                                c.has(2) ? &c.in(2).shape() : nullptr, &cd);
  if (!st.ok()) return c.Fail(st.message());
  if (c.out(0).numel() == 0) return Status::Ok();
  const float* x = c.in(0).data<float>();
  const float* wt = c.in(1).data<float>();
  float* y = c.out(0).data<float>();
  const Window& w = cd.w;
  Workspace::Scope scope(c.ws());
  bool pointwise = w.Taps() == 1;
  for (int j = 0; j < 3; ++j) {
    pointwise = pointwise && w.s[j] == 1 && w.pb[j] == 0 && w.pe[j] == 0;
  }
  const Activation act = Activation::Of(c.node());
  if (const QuantWeight* qw = c.qweight(1)) {
    if (c.fast() && qw->fast != nullptr && cd.g == 1) {
      QuantizedConv(c, cd, x, *qw->fast, b, y, act, pointwise);
      return Status::Ok();
    }
    // Exact: the decoded weight, then the float convolution.
    float* decoded = c.ws().Take<float>(NumElements(qw->shape));
    qw->Decode(decoded);
    wt = decoded;
  }
  if (cd.cg == 1) {
    DepthwiseConv(c, cd, x, wt, b, y, act);
  } else if (pointwise) {
    PointwiseConv(c, cd, x, wt, b, y, act);
  } else {
    Im2colConv(c, cd, x, wt, b, y, act);
  }
  return Status::Ok();
}

Status CheckConvFamily(const Graph& g, const Node& n) {
  const bool transpose = n.op == "ConvTranspose";
  if (!Activation::Known(n.String("lowbit.activation", ""))) {
    return InvalidArgument(g.NodeLabel(n) + ": unknown lowbit.activation");
  }
  if (const Attribute* pa = n.Find("lowbit.post_affine")) {
    if (transpose || pa->kind != Attribute::Kind::kFloats ||
        pa->floats.size() != 2) {
      return InvalidArgument(g.NodeLabel(n) +
                             ": lowbit.post_affine takes two floats");
    }
  }
  if (transpose) {
    LB_RETURN_IF_ERROR(CheckWindowAttrs(g, n, false, {"output_padding"}));
    for (int64_t v : n.Ints("output_shape")) {
      if (v < 1) {
        return InvalidArgument(g.NodeLabel(n) + ": output_shape has " +
                               std::to_string(v) + "; sizes must be positive");
      }
    }
  } else {
    LB_RETURN_IF_ERROR(CheckWindowAttrs(g, n, false));
  }
  if (const Attribute* a = n.Find("group");
      a != nullptr && (a->kind != Attribute::Kind::kInt || a->i < 1)) {
    return InvalidArgument(g.NodeLabel(n) +
                           ": group must be an integer of at least 1");
  }
  return Status::Ok();
}

}  // namespace

void AddConvOps(std::vector<OpSchema>& t) {
  for (const char* name : {"Conv", "ConvTranspose"}) {
    OpSchema s;
    s.name = name;
    s.min_inputs = 2;
    s.max_inputs = 3;
    s.check = CheckConvFamily;
    s.infer = InferConvFamily;
    s.run = std::string(name) == "Conv" ? RunConv : RunConvTranspose;
    t.push_back(s);
  }
}

}  // namespace lowbit::graph
#endif  // HWY_ONCE
