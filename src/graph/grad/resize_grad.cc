// The gradient of Resize and Upsample (nearest, linear, cubic; f32): the
// forward is linear in X, y[o] = sum over the taps of the product of the
// axes' weights times x at the taps' indices (graph/ops/resize_taps.h), so
// dX[taps of o] += dY[o] times the same product; outputs outside the input
// (tf_crop_and_resize's extrapolation value) pass nothing back. The scales,
// sizes and region of interest take no gradient.
#include <vector>

#include "graph/grad/grad.h"
#include "graph/ops/resize_taps.h"

namespace lowbit::graph {
namespace {

Status ResizeGrad(GradContext& c) {
  const Tensor* dy = c.dout(0);
  if (dy == nullptr || !c.need(0)) return Status::Ok();
  const Tensor& x = c.in(0);
  if (x.dtype() != DType::kF32) return c.Fail("gradients of f32 tensors only");
  std::vector<ResizeTaps> taps;
  Shape out;
  const std::string err = ResizeAxisTaps(
      c.node(), c.graph().opset(), x,
      [&](int k) { return c.has(k) ? &c.in(k) : nullptr; }, &taps, &out);
  if (!err.empty()) return c.Fail(err);
  if (out != dy->shape()) return c.Fail("the gradient's shape differs");
  const int r = x.rank();
  std::vector<int64_t> xstride(static_cast<size_t>(r), 1);
  for (int d = r - 2; d >= 0; --d) xstride[d] = xstride[d + 1] * x.dim(d + 1);
  const float* g = dy->data<float>();
  float* dx = c.din(0).data<float>();
  std::vector<int64_t> o(static_cast<size_t>(r), 0), k(static_cast<size_t>(r));
  for (int64_t i = 0; i < dy->numel(); ++i) {
    bool outside = false;
    for (int d = 0; d < r; ++d) outside = outside || taps[d].outside[o[d]];
    if (!outside && g[i] != 0.0f) {
      // Every combination of the axes' taps.
      std::fill(k.begin(), k.end(), 0);
      for (;;) {
        float w = g[i];
        int64_t off = 0;
        for (int d = 0; d < r && w != 0.0f; ++d) {
          const int64_t t = o[d] * taps[d].taps + k[d];
          w *= taps[d].w[t];
          off += taps[d].idx[t] * xstride[d];
        }
        if (w != 0.0f) dx[off] += w;
        int d = r - 1;
        for (; d >= 0; --d) {
          if (++k[d] < taps[d].taps) break;
          k[d] = 0;
        }
        if (d < 0) break;
      }
    }
    for (int d = r - 1; d >= 0; --d) {
      if (++o[d] < out[d]) break;
      o[d] = 0;
    }
  }
  return Status::Ok();
}

}  // namespace

void AddResizeGrads(std::vector<GradSchema>& t) {
  t.push_back({"Resize", ResizeGrad, {1, 2, 3}});
  t.push_back({"Upsample", ResizeGrad, {1}});
}

}  // namespace lowbit::graph
