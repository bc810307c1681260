#include "graph/ops/conv_geometry.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace lowbit::graph {
namespace {

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

}  // namespace

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

void Im2col(const float* xg, const Window& w, int64_t cg, int64_t r0,
            int64_t r1, float* col) {
  const int64_t ow = w.out[2], np = (r1 - r0) * ow, pin = w.InSize();
  const int64_t taps = w.Taps(), sw = w.s[2];
  for (int64_t ch = 0; ch < cg; ++ch) {
    const float* xc = xg + ch * pin;
    for (int64_t t = 0; t < taps; ++t) {
      const int64_t kd = t / (w.k[1] * w.k[2]), kh = t / w.k[2] % w.k[1];
      const int64_t kw = t % w.k[2];
      const int64_t off = kw * w.d[2] - w.pb[2];
      int64_t lo, hi;
      ValidRange(off, sw, w.in[2], ow, &lo, &hi);
      float* dst = col + (ch * taps + t) * np;
      // Output row r = (od, oh), counted along without a division per row
      // (rows are short: 11 values in a small CNN).
      int64_t od = r0 / w.out[1], oh = r0 % w.out[1];
      for (int64_t r = r0; r < r1; ++r) {
        float* __restrict drow = dst + (r - r0) * ow;
        const int64_t id = od * w.s[0] - w.pb[0] + kd * w.d[0];
        const int64_t ih = oh * w.s[1] - w.pb[1] + kh * w.d[1];
        if (++oh == w.out[1]) {
          oh = 0;
          ++od;
        }
        if (id < 0 || id >= w.in[0] || ih < 0 || ih >= w.in[1]) {
          std::fill_n(drow, ow, 0.0f);
          continue;
        }
        const float* __restrict src = xc + (id * w.in[1] + ih) * w.in[2];
        for (int64_t q = 0; q < lo; ++q) drow[q] = 0.0f;
        if (sw == 1) {
          for (int64_t q = lo; q < hi; ++q) drow[q] = src[q + off];
        } else {
          for (int64_t q = lo; q < hi; ++q) drow[q] = src[q * sw + off];
        }
        for (int64_t q = hi; q < ow; ++q) drow[q] = 0.0f;
      }
    }
  }
}

void Col2im(const float* col, int64_t np, int64_t m, const Window& w,
            int64_t r0, int64_t r1, float* ym, int64_t o0, int64_t o1) {
  const int64_t taps = w.Taps(), iw = w.in[2], ow = w.out[2], sw = w.s[2];
  for (int64_t t = 0; t < taps; ++t) {
    const int64_t kd = t / (w.k[1] * w.k[2]), kh = t / w.k[2] % w.k[1];
    const int64_t off = t % w.k[2] * w.d[2] - w.pb[2];
    int64_t lo, hi;
    ValidRange(off, sw, ow, iw, &lo, &hi);
    const float* src = col + (m * taps + t) * np;
    int64_t id = r0 / w.in[1], ih = r0 % w.in[1];  // row r, counted along
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t od = id * w.s[0] - w.pb[0] + kd * w.d[0];
      const int64_t oh = ih * w.s[1] - w.pb[1] + kh * w.d[1];
      if (++ih == w.in[1]) {
        ih = 0;
        ++id;
      }
      if (od < 0 || od >= w.out[0] || oh < 0 || oh >= w.out[1]) continue;
      const int64_t orow = od * w.out[1] + oh;
      if (orow < o0 || orow >= o1) continue;
      float* __restrict yrow = ym + orow * ow;
      const float* __restrict s = src + (r - r0) * iw;
      if (sw == 1) {
        for (int64_t q = lo; q < hi; ++q) yrow[q + off] += s[q];
      } else {
        for (int64_t q = lo; q < hi; ++q) yrow[q * sw + off] += s[q];
      }
    }
  }
}

}  // namespace lowbit::graph
