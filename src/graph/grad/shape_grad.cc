// Gradients of the operators that move values without changing them
// (Flatten, Reshape, Squeeze, Unsqueeze: the same elements in the same order;
// Transpose: the inverse permutation; Concat: the output's gradient cut back
// into the inputs) and of ReduceMean / ReduceSum (the gradient broadcast back
// over the reduced axes, divided by their size for the mean); Slice (the
// output's gradient added back at the positions it was taken from), Split
// (each output's gradient into its part), Cast between f32 tensors (as is)
// and Shape (no gradient: its output holds no values of its input).
#include <algorithm>
#include <vector>

#include "graph/grad/grad.h"
#include "graph/ops/broadcast.h"
#include "graph/ops/slice_spec.h"

namespace lowbit::graph {
namespace {

Status SameOrderGrad(GradContext& c) {
  const Tensor* dy = c.dout(0);
  if (dy == nullptr || !c.need(0)) return Status::Ok();
  if (dy->numel() != c.in(0).numel() || c.in(0).dtype() != DType::kF32) {
    return c.Fail("gradients of f32 tensors of equal size only");
  }
  float* dx = c.din(0).data<float>();
  const float* g = dy->data<float>();
  for (int64_t i = 0; i < dy->numel(); ++i) dx[i] += g[i];
  return Status::Ok();
}

Status TransposeGrad(GradContext& c) {
  const Tensor* dy = c.dout(0);
  if (dy == nullptr || !c.need(0)) return Status::Ok();
  const Shape& xs = c.in(0).shape();
  const int r = static_cast<int>(xs.size());
  std::vector<int64_t> perm = c.node().Ints("perm");
  if (perm.empty()) {
    for (int d = r - 1; d >= 0; --d) perm.push_back(d);
  }
  if (static_cast<int>(perm.size()) != r) return c.Fail("perm does not fit");
  // y[i_0..] = x[j] with j[perm[d]] = i[d]: walk y, add into x.
  std::vector<int64_t> xstride(static_cast<size_t>(r), 1);
  for (int d = r - 2; d >= 0; --d) xstride[d] = xstride[d + 1] * xs[d + 1];
  const Shape& ys = dy->shape();
  std::vector<int64_t> step(static_cast<size_t>(r));
  for (int d = 0; d < r; ++d) step[d] = xstride[perm[d]];
  std::vector<int64_t> idx(static_cast<size_t>(r), 0);
  const float* g = dy->data<float>();
  float* dx = c.din(0).data<float>();
  int64_t off = 0;
  for (int64_t i = 0; i < dy->numel(); ++i) {
    dx[off] += g[i];
    for (int d = r - 1; d >= 0; --d) {
      off += step[d];
      if (++idx[d] < ys[d]) break;
      off -= step[d] * ys[d];
      idx[d] = 0;
    }
  }
  return Status::Ok();
}

Status ConcatGrad(GradContext& c) {
  const Tensor* dy = c.dout(0);
  if (dy == nullptr) return Status::Ok();
  const Shape& ys = dy->shape();
  const int r = static_cast<int>(ys.size());
  int64_t axis = c.node().Int("axis", 0);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return c.Fail("axis out of range");
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= ys[d];
  for (int d = static_cast<int>(axis) + 1; d < r; ++d) inner *= ys[d];
  const float* g = dy->data<float>();
  int64_t at = 0;  // position along the axis
  for (int k = 0; k < c.num_inputs(); ++k) {
    if (!c.has(k)) continue;
    const int64_t len = c.in(k).rank() > axis ? c.in(k).dim(axis) : 0;
    if (c.need(k)) {
      float* dx = c.din(k).data<float>();
      for (int64_t o = 0; o < outer; ++o) {
        const float* src = g + (o * ys[axis] + at) * inner;
        float* dst = dx + o * len * inner;
        for (int64_t i = 0; i < len * inner; ++i) dst[i] += src[i];
      }
    }
    at += len;
  }
  return Status::Ok();
}

Status ReduceGrad(GradContext& c) {
  const Tensor* dy = c.dout(0);
  if (dy == nullptr || !c.need(0)) return Status::Ok();
  const Node& n = c.node();
  const Shape& xs = c.in(0).shape();
  const int r = static_cast<int>(xs.size());
  std::vector<int64_t> axes = n.Ints("axes");
  if (c.has(1)) {
    axes.clear();
    for (int64_t i = 0; i < c.in(1).numel(); ++i) {
      axes.push_back(c.in(1).GetInt(i));
    }
  }
  if (axes.empty()) {
    if (n.Int("noop_with_empty_axes", 0) != 0) return SameOrderGrad(c);
    for (int d = 0; d < r; ++d) axes.push_back(d);
  }
  Shape kept = xs;
  std::vector<bool> seen(static_cast<size_t>(r), false);
  int64_t count = 1;
  for (int64_t a : axes) {
    if (a < 0) a += r;
    if (a < 0 || a >= r) return c.Fail("axis out of range");
    if (seen[a]) continue;
    seen[a] = true;
    count *= xs[a];
    kept[a] = 1;
  }
  if (NumElements(kept) != dy->numel()) return c.Fail("axes do not fit");
  const float scale =
      n.op == "ReduceMean" ? 1.0f / static_cast<float>(count) : 1.0f;
  // dx[i] += scale dy[kept index of i].
  const std::vector<int64_t> st = BroadcastStrides(kept, xs);
  std::vector<int64_t> idx(static_cast<size_t>(r), 0);
  const float* g = dy->data<float>();
  float* dx = c.din(0).data<float>();
  int64_t off = 0;
  for (int64_t i = 0; i < c.in(0).numel(); ++i) {
    dx[i] += scale * g[off];
    for (int d = r - 1; d >= 0; --d) {
      off += st[d];
      if (++idx[d] < xs[d]) break;
      off -= st[d] * xs[d];
      idx[d] = 0;
    }
  }
  return Status::Ok();
}

std::vector<int64_t> IntsOf(GradContext& c, int k) {
  std::vector<int64_t> v;
  if (!c.has(k)) return v;
  for (int64_t i = 0; i < c.in(k).numel(); ++i) v.push_back(c.in(k).GetInt(i));
  return v;
}

Status SliceGrad(GradContext& c) {
  const Tensor* dy = c.dout(0);
  if (dy == nullptr || !c.need(0)) return Status::Ok();
  const Shape& xs = c.in(0).shape();
  const bool attrs = c.graph().opset() < 10;
  const Node& n = c.node();
  Result<SliceSpec> s = attrs ? MakeSlice(xs, n.Ints("starts"), n.Ints("ends"),
                                          n.Ints("axes"), {})
                              : MakeSlice(xs, IntsOf(c, 1), IntsOf(c, 2),
                                          IntsOf(c, 3), IntsOf(c, 4));
  if (!s.ok()) return c.Fail(s.status().message());
  if (s->out != dy->shape()) return c.Fail("the gradient's shape differs");
  const int r = static_cast<int>(xs.size());
  std::vector<int64_t> xstride(static_cast<size_t>(r), 1);
  for (int d = r - 2; d >= 0; --d) xstride[d] = xstride[d + 1] * xs[d + 1];
  int64_t off = 0;
  std::vector<int64_t> step(static_cast<size_t>(r));
  for (int d = 0; d < r; ++d) {
    off += s->start[d] * xstride[d];
    step[d] = s->step[d] * xstride[d];
  }
  std::vector<int64_t> idx(static_cast<size_t>(r), 0);
  const float* g = dy->data<float>();
  float* dx = c.din(0).data<float>();
  for (int64_t i = 0; i < dy->numel(); ++i) {
    dx[off] += g[i];
    for (int d = r - 1; d >= 0; --d) {
      off += step[d];
      if (++idx[d] < s->out[d]) break;
      off -= step[d] * s->out[d];
      idx[d] = 0;
    }
  }
  return Status::Ok();
}

Status SplitGrad(GradContext& c) {
  if (!c.need(0)) return Status::Ok();
  const Shape& xs = c.in(0).shape();
  const int r = static_cast<int>(xs.size());
  int64_t axis = c.node().Int("axis", 0);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return c.Fail("axis out of range");
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= xs[d];
  for (int d = static_cast<int>(axis) + 1; d < r; ++d) inner *= xs[d];
  float* dx = c.din(0).data<float>();
  int64_t at = 0;
  for (int k = 0; k < static_cast<int>(c.node().outputs.size()); ++k) {
    const int64_t len = c.out(k).dim(static_cast<int>(axis));
    if (const Tensor* dy = c.dout(k); dy != nullptr) {
      const float* g = dy->data<float>();
      for (int64_t o = 0; o < outer; ++o) {
        float* dst = dx + (o * xs[axis] + at) * inner;
        const float* src = g + o * len * inner;
        for (int64_t i = 0; i < len * inner; ++i) dst[i] += src[i];
      }
    }
    at += len;
  }
  return Status::Ok();
}

Status CastGrad(GradContext& c) {
  const Tensor* dy = c.dout(0);
  if (dy == nullptr || !c.need(0)) return Status::Ok();
  if (dy->dtype() != DType::kF32 || c.in(0).dtype() != DType::kF32) {
    return c.Fail("gradients of casts between f32 tensors only");
  }
  return SameOrderGrad(c);
}

Status NoGrad(GradContext&) { return Status::Ok(); }

}  // namespace

void AddShapeGrads(std::vector<GradSchema>& t) {
  t.push_back({"Flatten", SameOrderGrad, {}});
  t.push_back({"Reshape", SameOrderGrad, {1}});
  t.push_back({"Squeeze", SameOrderGrad, {1}});
  t.push_back({"Unsqueeze", SameOrderGrad, {1}});
  t.push_back({"Transpose", TransposeGrad, {}});
  t.push_back({"Concat", ConcatGrad, {}});
  t.push_back({"ReduceMean", ReduceGrad, {1}});
  t.push_back({"ReduceSum", ReduceGrad, {1}});
  t.push_back({"Slice", SliceGrad, {1, 2, 3, 4}});
  t.push_back({"Split", SplitGrad, {1}});
  t.push_back({"Cast", CastGrad, {}});
  t.push_back({"Shape", NoGrad, {0}});
}

}  // namespace lowbit::graph
