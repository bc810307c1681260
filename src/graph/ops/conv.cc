// Conv and ConvTranspose (ONNX, f32, N x C x spatial, 1-D to 3-D): a 1x1
// convolution is one OpenBLAS GEMM per group, a depthwise one a direct Highway
// loop, any other im2col + GEMM per group; ConvTranspose is GEMM + col2im.
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

// Floats of im2col / col2im scratch per thread (512 KiB: about an L2 cache).
constexpr int64_t kColBudget = int64_t{1} << 17;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct ConvDims {
  Window w;
  int64_t n = 0, c = 0, m = 0, g = 1;
  int64_t cg = 1, mg = 1;  // channels per group, in and out
};

// Channels and groups of X [N, C, ...], W (Conv: [M, C/group, k...];
// ConvTranspose: [C, M/group, k...]) and B [M]. Messages have no node label.
Status ConvChannels(const Node& n, const Shape& x, const Shape& wt,
                    const Shape* b, bool transpose, ConvDims* cd) {
  if (x.size() < 3 || x.size() > 5) {
    return InvalidArgument("X has shape " + ShapeString(x) +
                           "; convolutions take rank 3 to 5 (1-D to 3-D)");
  }
  if (wt.size() != x.size()) {
    return InvalidArgument("W has shape " + ShapeString(wt) + " for X of " +
                           ShapeString(x));
  }
  const size_t r = x.size() - 2;
  for (size_t i = 2; i < wt.size(); ++i) {
    if (wt[i] < 1) {
      return InvalidArgument("W has shape " + ShapeString(wt) +
                             ": an empty kernel");
    }
  }
  cd->n = x[0];
  cd->c = x[1];
  cd->g = std::max<int64_t>(1, n.Int("group", 1));  // checked at load
  if (cd->c % cd->g != 0) {
    return InvalidArgument("X has " + std::to_string(cd->c) +
                           " channels, not a multiple of group " +
                           std::to_string(cd->g));
  }
  cd->cg = cd->c / cd->g;
  if (transpose) {
    if (wt[0] != cd->c) {
      return InvalidArgument("W has shape " + ShapeString(wt) + "; X has " +
                             std::to_string(cd->c) + " channels");
    }
    cd->m = wt[1] * cd->g;
  } else {
    if (wt[1] != cd->cg) {
      return InvalidArgument("W has shape " + ShapeString(wt) + ": " +
                             std::to_string(wt[1]) +
                             " input channels per group; X has " +
                             std::to_string(cd->cg) + " (C / group)");
    }
    if (wt[0] % cd->g != 0) {
      return InvalidArgument("W has " + std::to_string(wt[0]) +
                             " output channels, not a multiple of group " +
                             std::to_string(cd->g));
    }
    cd->m = wt[0];
  }
  cd->mg = cd->m / cd->g;
  const std::vector<int64_t> ks = n.Ints("kernel_shape");
  if (!ks.empty() &&
      (ks.size() != r || !std::equal(ks.begin(), ks.end(), wt.begin() + 2))) {
    return InvalidArgument("kernel_shape " + ShapeString(ks) +
                           " differs from W's shape " + ShapeString(wt));
  }
  if (b != nullptr && (b->size() != 1 || (*b)[0] != cd->m)) {
    return InvalidArgument("B has shape " + ShapeString(*b) + "; expected [" +
                           std::to_string(cd->m) + "]");
  }
  return Status::Ok();
}

Status ResolveConv(const Node& n, const Shape& x, const Shape& wt,
                   const Shape* b, ConvDims* cd) {
  LB_RETURN_IF_ERROR(ConvChannels(n, x, wt, b, false, cd));
  return MakeWindow(n, x, wt.data() + 2, false, &cd->w);
}

// ConvTranspose: in = X's spatial sizes, out = Y's; pads from output_shape
// or auto_pad (the larger half at the end for SAME_UPPER, else at the
// beginning) or the pads attribute.
Status ResolveConvTranspose(const Node& n, const Shape& x, const Shape& wt,
                            const Shape* b, ConvDims* cd) {
  LB_RETURN_IF_ERROR(ConvChannels(n, x, wt, b, true, cd));
  const int r = static_cast<int>(x.size()) - 2;
  std::vector<int64_t> strides, dil, pads, opad;
  LB_RETURN_IF_ERROR(SpatialList(n, "strides", r, 1, 1, &strides));
  LB_RETURN_IF_ERROR(SpatialList(n, "dilations", r, 1, 1, &dil));
  LB_RETURN_IF_ERROR(SpatialList(n, "pads", r, 2, 0, &pads));
  LB_RETURN_IF_ERROR(SpatialList(n, "output_padding", r, 1, 0, &opad));
  std::vector<int64_t> oshape = n.Ints("output_shape");
  if (oshape.size() == x.size()) {  // N and C given too
    oshape.erase(oshape.begin(), oshape.begin() + 2);
  }
  if (!oshape.empty() && static_cast<int>(oshape.size()) != r) {
    return InvalidArgument("output_shape " + ShapeString(oshape) + " for " +
                           std::to_string(r) + " spatial dimensions");
  }
  const std::string ap = n.String("auto_pad", "NOTSET");
  const bool same = ap == "SAME_UPPER" || ap == "SAME_LOWER";
  Window& w = cd->w;
  w = Window();
  w.rank = r;
  for (int i = 0; i < r; ++i) {
    const int j = 3 - r + i;
    w.in[j] = x[2 + i];
    w.k[j] = wt[2 + i];
    w.s[j] = strides[i];
    w.d[j] = dil[i];
    const int64_t full =
        w.s[j] * (w.in[j] - 1) + opad[i] + w.d[j] * (w.k[j] - 1) + 1;
    if (!oshape.empty() || same) {
      const int64_t want = oshape.empty() ? w.in[j] * w.s[j] : oshape[i];
      if (want > full && !oshape.empty()) {
        return InvalidArgument("output_shape " + ShapeString(oshape) +
                               " exceeds the full output size " +
                               std::to_string(full) + " in spatial dimension " +
                               std::to_string(i));
      }
      const int64_t total = std::max<int64_t>(0, full - want);
      w.pb[j] = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
      w.pe[j] = total - w.pb[j];
    } else if (ap != "VALID") {
      w.pb[j] = pads[i];
      w.pe[j] = pads[r + i];
    }
    w.out[j] = full - w.pb[j] - w.pe[j];
    if (w.in[j] < 1 || w.out[j] < 1) {
      return InvalidArgument("spatial dimension " + std::to_string(i) +
                             " of X (" + std::to_string(w.in[j]) +
                             ") gives an output size of " +
                             std::to_string(w.out[j]));
    }
  }
  return Status::Ok();
}

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

// The im2col rows of output rows [r0, r1) (a row: one depth and height
// index) of one group's input xg (cg planes): col[(ch * taps + t) * np + q].
void Im2col(const float* xg, const Window& w, int64_t cg, int64_t r0,
            int64_t r1, float* col) {
  const int64_t ow = w.out[2], np = (r1 - r0) * ow, pin = w.InSize();
  const int64_t taps = w.Taps();
  for (int64_t ch = 0; ch < cg; ++ch) {
    const float* xc = xg + ch * pin;
    for (int64_t t = 0; t < taps; ++t) {
      const int64_t kd = t / (w.k[1] * w.k[2]), kh = t / w.k[2] % w.k[1];
      const int64_t kw = t % w.k[2];
      const int64_t off = kw * w.d[2] - w.pb[2];
      int64_t lo, hi;
      ValidRange(off, w.s[2], w.in[2], ow, &lo, &hi);
      float* dst = col + (ch * taps + t) * np;
      for (int64_t r = r0; r < r1; ++r) {
        float* drow = dst + (r - r0) * ow;
        const int64_t id = r / w.out[1] * w.s[0] - w.pb[0] + kd * w.d[0];
        const int64_t ih = r % w.out[1] * w.s[1] - w.pb[1] + kh * w.d[1];
        if (id < 0 || id >= w.in[0] || ih < 0 || ih >= w.in[1]) {
          std::fill_n(drow, ow, 0.0f);
          continue;
        }
        const float* src = xc + (id * w.in[1] + ih) * w.in[2];
        std::fill_n(drow, lo, 0.0f);
        if (w.s[2] == 1) {
          std::memcpy(drow + lo, src + lo + off,
                      static_cast<size_t>(hi - lo) * sizeof(float));
        } else {
          for (int64_t q = lo; q < hi; ++q) drow[q] = src[q * w.s[2] + off];
        }
        std::fill_n(drow + hi, ow - hi, 0.0f);
      }
    }
  }
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
  int64_t tile = std::clamp<int64_t>(kColBudget / (kdim * ow), 1, rows);
  if (threads > 1 && items < 2 * threads) {
    tile = std::min(tile, CeilDiv(rows, CeilDiv(2 * threads, items)));
  }
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

// Adds the col2im rows of output channel m (col rows m * taps + t, input rows
// [r0, r1)) into ym, that channel's output planes, on output rows (depth and
// height, flattened) in [o0, o1) only: callers split one channel's rows
// between threads without two writing the same row.
void Col2im(const float* col, int64_t np, int64_t m, const Window& w,
            int64_t r0, int64_t r1, float* ym, int64_t o0, int64_t o1) {
  const int64_t taps = w.Taps(), iw = w.in[2], ow = w.out[2];
  for (int64_t t = 0; t < taps; ++t) {
    const int64_t kd = t / (w.k[1] * w.k[2]), kh = t / w.k[2] % w.k[1];
    const int64_t off = t % w.k[2] * w.d[2] - w.pb[2];
    int64_t lo, hi;
    ValidRange(off, w.s[2], ow, iw, &lo, &hi);
    const float* src = col + (m * taps + t) * np;
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t od = r / w.in[1] * w.s[0] - w.pb[0] + kd * w.d[0];
      const int64_t oh = r % w.in[1] * w.s[1] - w.pb[1] + kh * w.d[1];
      if (od < 0 || od >= w.out[0] || oh < 0 || oh >= w.out[1]) continue;
      const int64_t orow = od * w.out[1] + oh;
      if (orow < o0 || orow >= o1) continue;
      float* yrow = ym + orow * ow;
      const float* s = src + (r - r0) * iw;
      if (w.s[2] == 1) {
        for (int64_t q = lo; q < hi; ++q) yrow[q + off] += s[q];
      } else {
        for (int64_t q = lo; q < hi; ++q) yrow[q * w.s[2] + off] += s[q];
      }
    }
  }
}

// True when every output element of the ConvTranspose comes from exactly
// one tap of one input element: kernel equal to stride (dilation 1) in every
// spatial dimension and no output_padding (the 2x2 stride-2 upsampling of
// detectors).
bool TapsTileOutput(const Window& w) {
  for (int j = 0; j < 3; ++j) {
    if (w.k[j] != w.s[j] || (w.k[j] > 1 && w.d[j] != 1) ||
        w.out[j] + w.pb[j] + w.pe[j] != w.s[j] * w.in[j]) {
      return false;
    }
  }
  return true;
}

// The TapsTileOutput case: per image, group and tile of input rows (each
// thread its own), col = W_g^T X_g and then each output row it reaches is
// written once, y = bias + col, then the activation: no fill of the output
// and no accumulation into it.
void TiledConvTranspose(KernelContext& c, const ConvDims& cd, const float* x,
                        const float* wt, const float* b, float* y,
                        const Activation& act) {
  const Window& w = cd.w;
  const int64_t taps = w.Taps(), mk = cd.mg * taps;
  const int64_t pin = w.InSize(), p = w.OutSize();
  const int64_t rows = w.in[0] * w.in[1], iw = w.in[2], ow = w.out[2];
  const int threads = c.pool().num_threads();
  const int64_t items = cd.n * cd.g;
  int64_t tile = std::clamp<int64_t>(kColBudget / (mk * iw), 1, rows);
  if (threads > 1 && items < 2 * threads) {
    tile = std::min(tile, CeilDiv(rows, CeilDiv(2 * threads, items)));
  }
  const int64_t tiles = CeilDiv(rows, tile), per_slot = mk * tile * iw;
  float* cols = c.ws().Take<float>(per_slot * threads);
  c.pool().ParallelForSlots(
      items * tiles, 1, [&](int64_t i0, int64_t i1, int slot) {
        float* col = cols + slot * per_slot;
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t item = i / tiles, r0 = i % tiles * tile;
          const int64_t nn = item / cd.g, g = item % cd.g;
          const int64_t r1 = std::min(rows, r0 + tile), np = (r1 - r0) * iw;
          Sgemm(true, false, mk, np, cd.cg, 1.0f, wt + g * cd.cg * mk, mk,
                x + (nn * cd.c + g * cd.cg) * pin + r0 * iw, pin, 0.0f, col,
                np);
          for (int64_t m = 0; m < cd.mg; ++m) {
            const int64_t o = g * cd.mg + m;
            const float bias = b != nullptr ? b[o] : 0.0f;
            float* ym = y + (nn * cd.m + o) * p;
            for (int64_t r = r0; r < r1; ++r) {
              const int64_t id = r / w.in[1], ih = r % w.in[1];
              for (int64_t kd = 0; kd < w.k[0]; ++kd) {
                const int64_t od = id * w.s[0] + kd - w.pb[0];
                if (od < 0 || od >= w.out[0]) continue;
                for (int64_t kh = 0; kh < w.k[1]; ++kh) {
                  const int64_t oh = ih * w.s[1] + kh - w.pb[1];
                  if (oh < 0 || oh >= w.out[1]) continue;
                  float* yrow = ym + (od * w.out[1] + oh) * ow;
                  const float* src =
                      col + (m * taps + (kd * w.k[1] + kh) * w.k[2]) * np +
                      (r - r0) * iw;
                  if (w.k[2] == 2 && w.pb[2] == 0 && ow == 2 * iw) {
                    const float* s1 = src + np;
                    for (int64_t q = 0; q < iw; ++q) {
                      yrow[2 * q] = bias + src[q];
                      yrow[2 * q + 1] = bias + s1[q];
                    }
                  } else {
                    for (int64_t kw = 0; kw < w.k[2]; ++kw) {
                      int64_t lo, hi;
                      const int64_t off = kw - w.pb[2];
                      ValidRange(off, w.s[2], ow, iw, &lo, &hi);
                      const float* sk = src + kw * np;
                      for (int64_t q = lo; q < hi; ++q) {
                        yrow[q * w.s[2] + off] = bias + sk[q];
                      }
                    }
                  }
                  act.ApplyRows(yrow, 1, ow, ow);
                }
              }
            }
          }
        }
      });
}

// Per image and group, tiles of input rows: col = W_g^T X_g (GEMM, split
// along the columns), then each output channel adds its col rows (col2im).
// Then the activation fused into it (graph/fuse.h), if any.
Status RunConvTranspose(KernelContext& c) {
  ConvDims cd;
  const float* b = c.has(2) ? c.in(2).data<float>() : nullptr;
  const Status st =
      ResolveConvTranspose(c.node(), c.in(0).shape(), c.in(1).shape(),
                           c.has(2) ? &c.in(2).shape() : nullptr, &cd);
  if (!st.ok()) return c.Fail(st.message());
  if (c.out(0).numel() == 0) return Status::Ok();
  const float* x = c.in(0).data<float>();
  const float* wt = c.in(1).data<float>();
  float* y = c.out(0).data<float>();
  const Window& w = cd.w;
  const int64_t mk = cd.mg * w.Taps(), pin = w.InSize(), p = w.OutSize();
  const int64_t rows = w.in[0] * w.in[1], iw = w.in[2];
  const int64_t tile = std::clamp<int64_t>(kColBudget / (mk * iw), 1, rows);
  const int threads = c.pool().num_threads();
  Workspace::Scope scope(c.ws());
  const Activation act = Activation::Of(c.node());
  if (TapsTileOutput(w)) {
    TiledConvTranspose(c, cd, x, wt, b, y, act);
    return Status::Ok();
  }
  // The activation over the finished output, one plane at a time.
  auto activate = [&] {
    if (!act.active()) return;
    c.pool().ParallelFor(cd.n * cd.m, 1, [&](int64_t i0, int64_t i1) {
      act.ApplyRows(y + i0 * p, i1 - i0, p, p);
    });
  };
  // When different input rows never reach the same output row (kernel
  // extent within the stride, as in the 2x2 stride-2 upsampling of
  // detectors), tiles are independent: each thread takes whole tiles, its
  // own GEMM and col2im, with no synchronisation inside a tile.
  const bool disjoint =
      (w.k[0] - 1) * w.d[0] < w.s[0] && (w.k[1] - 1) * w.d[1] < w.s[1];
  if (threads > 1 && disjoint) {
    const int64_t t2 = std::min(tile, CeilDiv(rows, 2 * threads));
    const int64_t tiles = CeilDiv(rows, t2), per_slot = mk * t2 * iw;
    float* cols = c.ws().Take<float>(per_slot * threads);
    for (int64_t nn = 0; nn < cd.n; ++nn) {
      for (int64_t g = 0; g < cd.g; ++g) {
        float* yg = y + (nn * cd.m + g * cd.mg) * p;
        for (int64_t m = 0; m < cd.mg; ++m) {
          std::fill_n(yg + m * p, p, b != nullptr ? b[g * cd.mg + m] : 0.0f);
        }
      }
      c.pool().ParallelForSlots(
          cd.g * tiles, 1, [&](int64_t i0, int64_t i1, int slot) {
            float* col = cols + slot * per_slot;
            for (int64_t i = i0; i < i1; ++i) {
              const int64_t g = i / tiles, r0 = i % tiles * t2;
              const int64_t r1 = std::min(rows, r0 + t2), np = (r1 - r0) * iw;
              const float* xg = x + (nn * cd.c + g * cd.cg) * pin;
              Sgemm(true, false, mk, np, cd.cg, 1.0f, wt + g * cd.cg * mk, mk,
                    xg + r0 * iw, pin, 0.0f, col, np);
              float* yg = y + (nn * cd.m + g * cd.mg) * p;
              for (int64_t m = 0; m < cd.mg; ++m) {
                Col2im(col, np, m, w, r0, r1, yg + m * p, 0,
                       w.out[0] * w.out[1]);
              }
            }
          });
    }
    activate();
    return Status::Ok();
  }
  float* col = c.ws().Take<float>(mk * tile * iw);
  for (int64_t nn = 0; nn < cd.n; ++nn) {
    for (int64_t g = 0; g < cd.g; ++g) {
      const float* xg = x + (nn * cd.c + g * cd.cg) * pin;
      const float* wg = wt + g * cd.cg * mk;
      float* yg = y + (nn * cd.m + g * cd.mg) * p;
      for (int64_t m = 0; m < cd.mg; ++m) {
        std::fill_n(yg + m * p, p, b != nullptr ? b[g * cd.mg + m] : 0.0f);
      }
      for (int64_t r0 = 0; r0 < rows; r0 += tile) {
        const int64_t r1 = std::min(rows, r0 + tile), np = (r1 - r0) * iw;
        const int64_t chunks =
            threads > 1 ? std::min<int64_t>(CeilDiv(np, 64), 2 * threads) : 1;
        const int64_t chunk = CeilDiv(np, chunks);
        c.pool().ParallelFor(chunks, 1, [&](int64_t q0, int64_t q1) {
          for (int64_t q = q0; q < q1; ++q) {
            const int64_t c0 = q * chunk, cw = std::min(chunk, np - c0);
            if (cw <= 0) continue;
            Sgemm(true, false, mk, cw, cd.cg, 1.0f, wg, mk, xg + r0 * iw + c0,
                  pin, 0.0f, col + c0, np);
          }
        });
        // Channels, and when they are fewer than the threads, bands of
        // output rows within each.
        const int64_t orows = w.out[0] * w.out[1];
        const int64_t bands =
            cd.mg >= 2 * threads ? 1
                                 : std::min(orows, CeilDiv(2 * threads, cd.mg));
        const int64_t band = CeilDiv(orows, bands);
        c.pool().ParallelFor(cd.mg * bands, 1, [&](int64_t i0, int64_t i1) {
          for (int64_t i = i0; i < i1; ++i) {
            const int64_t m = i / bands, o0 = i % bands * band;
            Col2im(col, np, m, w, r0, r1, yg + m * p, o0,
                   std::min(orows, o0 + band));
          }
        });
      }
    }
  }
  activate();
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
