// Gradients of the elementwise operators: the binary ones with NumPy
// broadcasting (Add, Sub, Mul, Div, Pow, PRelu: each input's gradient summed
// over the dimensions it was broadcast along), the unary activations from
// their inputs and outputs, and Softmax / LogSoftmax along their axis
// (opset < 13: the input coerced to 2-D at the axis).
#include <cmath>
#include <vector>

#include "graph/grad/grad.h"
#include "graph/ops/broadcast.h"

namespace lowbit::graph {

void SumToShape(const Tensor& g, const Shape& in, Tensor* out) {
  const Shape& os = g.shape();
  float* o = out->data<float>();
  const float* gd = g.data<float>();
  if (in == os) {
    for (int64_t i = 0; i < g.numel(); ++i) o[i] += gd[i];
    return;
  }
  const std::vector<int64_t> st = BroadcastStrides(in, os);
  const int r = static_cast<int>(os.size());
  std::vector<int64_t> idx(static_cast<size_t>(r), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < g.numel(); ++i) {
    o[off] += gd[i];
    for (int d = r - 1; d >= 0; --d) {  // next index, odometer order
      off += st[d];
      if (++idx[d] < os[d]) break;
      off -= st[d] * os[d];
      idx[d] = 0;
    }
  }
}

namespace {

// Calls f(i, offsets of a and b) over the output of a binary node.
template <class F>
void ForEachPair(const Shape& out, const Shape& a, const Shape& b, F f) {
  const std::vector<int64_t> sa = BroadcastStrides(a, out),
                             sb = BroadcastStrides(b, out);
  const int r = static_cast<int>(out.size());
  std::vector<int64_t> idx(static_cast<size_t>(r), 0);
  int64_t oa = 0, ob = 0;
  const int64_t n = NumElements(out);
  for (int64_t i = 0; i < n; ++i) {
    f(i, oa, ob);
    for (int d = r - 1; d >= 0; --d) {
      oa += sa[d];
      ob += sb[d];
      if (++idx[d] < out[d]) break;
      oa -= sa[d] * out[d];
      ob -= sb[d] * out[d];
      idx[d] = 0;
    }
  }
}

Status BinaryGrad(GradContext& c) {
  const Tensor* dy = c.dout(0);
  if (dy == nullptr) return Status::Ok();
  const std::string& name = c.node().op;
  enum { kAdd, kSub, kMul, kDiv, kPow, kPRelu } op;
  if (name == "Add") {
    op = kAdd;
  } else if (name == "Sub") {
    op = kSub;
  } else if (name == "Mul") {
    op = kMul;
  } else if (name == "Div") {
    op = kDiv;
  } else if (name == "Pow") {
    op = kPow;
  } else {
    op = kPRelu;
  }
  const Tensor &a = c.in(0), &b = c.in(1);
  if (a.dtype() != DType::kF32 || b.dtype() != DType::kF32) {
    return c.Fail("gradients are computed for f32 only");
  }
  const float* ad = a.data<float>();
  const float* bd = b.data<float>();
  const float* g = dy->data<float>();
  const float* y = c.out(0).data<float>();
  float* da = c.need(0) ? c.din(0).data<float>() : nullptr;
  float* db = c.need(1) ? c.din(1).data<float>() : nullptr;
  ForEachPair(dy->shape(), a.shape(), b.shape(),
              [&](int64_t i, int64_t ia, int64_t ib) {
                const float x0 = ad[ia], x1 = bd[ib], gi = g[i];
                float ga = 0.0f, gb = 0.0f;
                switch (op) {
                  case kAdd:
                    ga = gi;
                    gb = gi;
                    break;
                  case kSub:
                    ga = gi;
                    gb = -gi;
                    break;
                  case kMul:
                    ga = gi * x1;
                    gb = gi * x0;
                    break;
                  case kDiv:
                    ga = gi / x1;
                    gb = -gi * y[i] / x1;
                    break;
                  case kPow:
                    ga = x1 == 0.0f ? 0.0f : gi * x1 * std::pow(x0, x1 - 1.0f);
                    gb = x0 > 0.0f ? gi * y[i] * std::log(x0) : 0.0f;
                    break;
                  case kPRelu:
                    ga = x0 < 0.0f ? gi * x1 : gi;
                    gb = x0 < 0.0f ? gi * x0 : 0.0f;
                    break;
                }
                if (da != nullptr) da[ia] += ga;
                if (db != nullptr) db[ib] += gb;
              });
  return Status::Ok();
}

// dy/dx of a unary activation at x (its output y at hand; p: the node's
// alpha and beta).
using Derivative = float (*)(float x, float y, const float* p);

Derivative DerivativeOf(const std::string& op) {
  if (op == "Relu")
    return [](float x, float, const float*) { return x > 0.0f ? 1.0f : 0.0f; };
  if (op == "LeakyRelu")
    return
        [](float x, float, const float* p) { return x < 0.0f ? p[0] : 1.0f; };
  if (op == "Sigmoid")
    return [](float, float y, const float*) { return y * (1.0f - y); };
  if (op == "Tanh")
    return [](float, float y, const float*) { return 1.0f - y * y; };
  if (op == "Exp") return [](float, float y, const float*) { return y; };
  if (op == "Log") return [](float x, float, const float*) { return 1.0f / x; };
  if (op == "Sqrt")
    return [](float, float y, const float*) { return 0.5f / y; };
  if (op == "Neg") return [](float, float, const float*) { return -1.0f; };
  if (op == "Identity") return [](float, float, const float*) { return 1.0f; };
  if (op == "Abs")
    return [](float x, float, const float*) {
      return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : 0.0f;
    };
  if (op == "Reciprocal")
    return [](float, float y, const float*) { return -y * y; };
  if (op == "Erf")
    return [](float x, float, const float*) {
      return 1.1283791670955126f * std::exp(-x * x);  // 2 / sqrt(pi)
    };
  if (op == "Softplus")
    return [](float x, float, const float*) {
      return 1.0f / (1.0f + std::exp(-x));
    };
  if (op == "HardSigmoid")
    return [](float x, float, const float* p) {
      const float v = p[0] * x + p[1];
      return v > 0.0f && v < 1.0f ? p[0] : 0.0f;
    };
  if (op == "HardSwish")
    return [](float x, float, const float*) {
      return x <= -3.0f ? 0.0f : x >= 3.0f ? 1.0f : x / 3.0f + 0.5f;
    };
  if (op == "GeluTanh")
    return [](float x, float, const float*) {
      const float k = 0.7978845608028654f;  // sqrt(2 / pi)
      const float t = std::tanh(k * (x + 0.044715f * x * x * x));
      return 0.5f * (1.0f + t) +
             0.5f * x * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * x * x);
    };
  if (op == "Gelu")
    return [](float x, float, const float*) {
      const float cdf = 0.5f * (1.0f + std::erf(x * 0.7071067811865476f));
      return cdf + x * 0.3989422804014327f * std::exp(-0.5f * x * x);
    };
  return nullptr;
}

Status UnaryGrad(GradContext& c) {
  const Tensor* dy = c.dout(0);
  if (dy == nullptr || !c.need(0)) return Status::Ok();
  if (c.in(0).dtype() != DType::kF32) {
    return c.Fail("gradients are computed for f32 only");
  }
  const Node& n = c.node();
  const bool tanh_gelu =
      n.op == "Gelu" && n.String("approximate", "none") == "tanh";
  const Derivative f = DerivativeOf(tanh_gelu ? "GeluTanh" : n.op);
  if (f == nullptr) return c.Fail("no gradient");
  float p[2] = {0.0f, 0.0f};
  if (n.op == "LeakyRelu") p[0] = n.Float("alpha", 0.01f);
  if (n.op == "HardSigmoid") {
    p[0] = n.Float("alpha", 0.2f);
    p[1] = n.Float("beta", 0.5f);
  }
  const float* x = c.in(0).data<float>();
  const float* y = c.out(0).data<float>();
  const float* g = dy->data<float>();
  float* dx = c.DinToWrite(0).data<float>();
  if (n.op == "Relu") {  // the common case, without a call per element
    c.pool().ParallelFor(dy->numel(), 1 << 14, [&](int64_t i0, int64_t i1) {
      // Local, unaliased pointers and a select: vectorized, and no branch on
      // the signs (which are random).
      const float* __restrict xr = x;
      const float* __restrict gr = g;
      float* __restrict dr = dx;
      for (int64_t i = i0; i < i1; ++i) {
        const float gi = gr[i];  // read unconditionally: a select, no jump
        dr[i] = xr[i] > 0.0f ? gi : 0.0f;
      }
    });
    return Status::Ok();
  }
  c.pool().ParallelFor(dy->numel(), 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) dx[i] = g[i] * f(x[i], y[i], p);
  });
  return Status::Ok();
}

// Clip passes the gradient where min < x < max (bounds from attributes before
// opset 11, inputs 1 and 2 after; missing ones unbounded).
Status ClipGrad(GradContext& c) {
  const Tensor* dy = c.dout(0);
  if (dy == nullptr || !c.need(0)) return Status::Ok();
  float lo = -INFINITY, hi = INFINITY;
  if (c.graph().opset() < 11) {
    lo = c.node().Float("min", lo);
    hi = c.node().Float("max", hi);
  } else {
    if (c.has(1) && c.in(1).numel() == 1) lo = c.in(1).data<float>()[0];
    if (c.has(2) && c.in(2).numel() == 1) hi = c.in(2).data<float>()[0];
  }
  const float* x = c.in(0).data<float>();
  const float* g = dy->data<float>();
  float* dx = c.din(0).data<float>();
  for (int64_t i = 0; i < dy->numel(); ++i) {
    if (x[i] > lo && x[i] < hi) dx[i] += g[i];
  }
  return Status::Ok();
}

// Softmax: dx = y (g - sum(g y)); LogSoftmax: dx = g - softmax * sum(g),
// along the axis ([outer, len, inner] view; opset < 13: len is everything
// from the axis on).
Status SoftmaxGrad(GradContext& c) {
  const Tensor* dy = c.dout(0);
  if (dy == nullptr || !c.need(0)) return Status::Ok();
  const Shape& s = c.in(0).shape();
  const int r = static_cast<int>(s.size());
  const int opset = c.graph().opset();
  int64_t axis = c.node().Int("axis", opset < 13 ? 1 : -1);
  if (axis < 0) axis += r;
  if (r > 0 && (axis < 0 || axis >= r)) return c.Fail("axis out of range");
  int64_t outer = 1, len = 1, inner = 1;
  for (int d = 0; d < r; ++d) {
    if (d < axis) {
      outer *= s[d];
    } else if (d == axis || opset < 13) {
      len *= s[d];
    } else {
      inner *= s[d];
    }
  }
  const bool log = c.node().op == "LogSoftmax";
  const float* y = c.out(0).data<float>();
  const float* g = dy->data<float>();
  float* dx = c.din(0).data<float>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      const int64_t base = o * len * inner + in;
      double sum = 0.0;
      for (int64_t k = 0; k < len; ++k) {
        const int64_t i = base + k * inner;
        sum += log ? g[i] : static_cast<double>(g[i]) * y[i];
      }
      for (int64_t k = 0; k < len; ++k) {
        const int64_t i = base + k * inner;
        dx[i] += log ? static_cast<float>(g[i] - std::exp(y[i]) * sum)
                     : static_cast<float>(y[i] * (g[i] - sum));
      }
    }
  }
  return Status::Ok();
}

}  // namespace

void AddElementwiseGrads(std::vector<GradSchema>& t) {
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "PRelu"}) {
    t.push_back({op, BinaryGrad, {}});
  }
  for (const char* op : {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Exp", "Log",
                         "Sqrt", "Neg", "Identity", "Abs", "Reciprocal", "Erf",
                         "Softplus", "HardSigmoid", "HardSwish", "Gelu"}) {
    t.push_back({op, UnaryGrad, {}});
  }
  t.push_back({"Clip", ClipGrad, {1, 2}});
  t.push_back({"Softmax", SoftmaxGrad, {}});
  t.push_back({"LogSoftmax", SoftmaxGrad, {}});
}

}  // namespace lowbit::graph
