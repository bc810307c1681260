// MatMul (NumPy semantics: 1-D operands promoted, batch dimensions
// broadcast) and Gemm (transA, transB, alpha, beta, C broadcast to the
// output) on f32 through kernels/sgemm.h, one call per batch matrix.

#include <algorithm>
#include <cstring>

#include "graph/ops/broadcast.h"
#include "graph/ops/families.h"
#include "graph/qweight.h"
#include "kernels/qgemm.h"
#include "kernels/sgemm.h"

namespace lowbit::graph {
namespace {

Status InferMatMul(InferContext& c) {
  if (c.in(0).dtype != DType::kF32 || c.in(1).dtype != DType::kF32) {
    return c.Fail("MatMul runs on f32 inputs");
  }
  Shape a = c.in(0).shape, b = c.in(1).shape;
  if (a.empty() || b.empty()) return c.Fail("inputs must have rank >= 1");
  const bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), 1);
  if (b1) b.push_back(1);
  if (a.back() != b[b.size() - 2]) {
    return c.Fail("shapes " + ShapeString(c.in(0).shape) + " and " +
                  ShapeString(c.in(1).shape) + " do not multiply");
  }
  const Shape ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  const auto batch = BroadcastShapes({ab, bb});
  if (!batch) return c.Fail("batch dimensions do not broadcast");
  Shape out = *batch;
  if (!a1) out.push_back(a[a.size() - 2]);
  if (!b1) out.push_back(b.back());
  c.Set(0, DType::kF32, out);
  return Status::Ok();
}

Status RunMatMul(KernelContext& c) {
  const Tensor& x = c.in(0);
  const Tensor& w = c.in(1);
  Workspace::Scope scope(c.ws());
  const float* wdata = w.data<float>();
  if (const QuantWeight* qw = c.qweight(1)) {
    const int64_t rows = x.numel() / std::max<int64_t>(1, x.shape().back());
    if (c.fast() && qw->fast != nullptr && x.rank() >= 2 && w.rank() == 2) {
      // Fast mode: every activation row against the quantized columns.
      QGemm(*qw->fast, x.data<float>(), rows, w.dim(0), c.out(0).data<float>(),
            w.dim(1), c.pool(), c.ws());
      return Status::Ok();
    }
    float* decoded = c.ws().Take<float>(NumElements(qw->shape));
    if (x.rank() >= 2 && w.rank() == 2 && qw->axis == 1) {
      // Exact: the decoded rows (N x K, no transpose) times the activations.
      qw->DecodeRows(decoded);
      SgemmParallel(c.pool(), false, true, rows, w.dim(1), w.dim(0), 1.0f,
                    x.data<float>(), w.dim(0), decoded, w.dim(0), 0.0f,
                    c.out(0).data<float>(), w.dim(1));
      return Status::Ok();
    }
    qw->Decode(decoded);
    wdata = decoded;
  }
  Shape a = x.shape(), b = w.shape();
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  const int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
  const Shape ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  const Shape batch = *BroadcastShapes({ab, bb});
  const int64_t nb = NumElements(batch);
  float* y = c.out(0).data<float>();
  if (m * k * n == 0 || nb == 0) {
    std::memset(y, 0, static_cast<size_t>(c.out(0).nbytes()));
    return Status::Ok();
  }
  // Batch offsets through the broadcast walk (in matrices).
  const BroadcastWalk walk({ab, bb}, batch);
  std::vector<int64_t> offs(static_cast<size_t>(2 * nb));
  int64_t r = 0;
  for (int64_t run = 0; run < walk.runs(); ++run) {
    int64_t o[2];
    walk.Offsets(run, o);
    for (int64_t i = 0; i < walk.run_length(); ++i, ++r) {
      offs[2 * r] = o[0] + i * walk.steps()[0];
      offs[2 * r + 1] = o[1] + i * walk.steps()[1];
    }
  }
  // A shared weight and a batch of row blocks is one big GEMM.
  bool shared_b = true;
  for (int64_t i = 0; i < nb; ++i) shared_b = shared_b && offs[2 * i + 1] == 0;
  bool contiguous_a = true;
  for (int64_t i = 0; i < nb; ++i)
    contiguous_a = contiguous_a && offs[2 * i] == i;
  if (shared_b && contiguous_a) {
    SgemmParallel(c.pool(), false, false, nb * m, n, k, 1.0f, x.data<float>(),
                  k, wdata, n, 0.0f, y, n);
    return Status::Ok();
  }
  auto body = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      Sgemm(false, false, m, n, k, 1.0f, x.data<float>() + offs[2 * i] * m * k,
            k, wdata + offs[2 * i + 1] * k * n, n, 0.0f, y + i * m * n, n);
    }
  };
  if (nb > 1 && m * n * k * nb > (1 << 18)) {
    c.pool().ParallelFor(nb, 1, body);
  } else {
    body(0, nb);
  }
  return Status::Ok();
}

Status InferGemm(InferContext& c) {
  const Shape& a = c.in(0).shape;
  const Shape& b = c.in(1).shape;
  if (a.size() != 2 || b.size() != 2) return c.Fail("A and B must be 2-D");
  if (c.in(0).dtype != DType::kF32 || c.in(1).dtype != DType::kF32) {
    return c.Fail("Gemm runs on f32 inputs");
  }
  const bool ta = c.node().Int("transA", 0) != 0,
             tb = c.node().Int("transB", 0) != 0;
  const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  const int64_t kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (k != kb) {
    return c.Fail("A " + ShapeString(a) + " and B " + ShapeString(b) +
                  " do not multiply");
  }
  if (c.has(2)) {
    const auto s = BroadcastShapes({c.in(2).shape, Shape{m, n}});
    if (!s || *s != Shape{m, n}) {
      return c.Fail("C of shape " + ShapeString(c.in(2).shape) +
                    " does not broadcast to " + ShapeString({m, n}));
    }
  }
  c.Set(0, DType::kF32, {m, n});
  return Status::Ok();
}

Status RunGemm(KernelContext& c) {
  const Tensor& a = c.in(0);
  const Tensor& b = c.in(1);
  Tensor& y = c.out(0);
  const bool ta = c.node().Int("transA", 0) != 0;
  bool tb = c.node().Int("transB", 0) != 0;
  const float alpha = c.node().Float("alpha", 1.0f);
  float beta = c.node().Float("beta", 1.0f);
  const int64_t m = y.dim(0), n = y.dim(1), k = ta ? a.dim(0) : a.dim(1);
  float* out = y.data<float>();
  Workspace::Scope scope(c.ws());
  const float* bdata = b.data<float>();
  const QuantWeight* qw = c.qweight(1);
  const bool fast = qw != nullptr && c.fast() && qw->fast != nullptr && !ta;
  int64_t ldb = b.dim(1);
  if (qw != nullptr && !fast) {
    float* decoded = c.ws().Take<float>(NumElements(qw->shape));
    if (qw->axis == (tb ? 0 : 1)) {  // rows N x K: B^T, no transpose
      qw->DecodeRows(decoded);
      tb = true;
      ldb = k;
    } else {
      qw->Decode(decoded);
    }
    bdata = decoded;
  }
  if (c.has(2) && c.in(2).numel() > 0 && beta != 0.0f) {
    const Tensor& cc = c.in(2);
    const BroadcastWalk w({cc.shape()}, y.shape());
    int64_t off;
    for (int64_t r = 0; r < w.runs(); ++r) {
      w.Offsets(r, &off);
      float* o = out + r * w.run_length();
      const float* src = cc.data<float>() + off;
      for (int64_t i = 0; i < w.run_length(); ++i) o[i] = src[i * w.steps()[0]];
    }
  } else {
    beta = 0.0f;
  }
  if (m * n == 0) return Status::Ok();
  if (k == 0) {
    for (int64_t i = 0; i < m * n; ++i) out[i] *= beta;
    return Status::Ok();
  }
  if (fast) {  // Y = alpha A W^T + beta C, W quantized (graph/qweight.h)
    float* t = c.ws().Take<float>(m * n);
    QGemm(*qw->fast, a.data<float>(), m, k, t, n, c.pool(), c.ws());
    for (int64_t i = 0; i < m * n; ++i) {
      out[i] = alpha * t[i] + (beta != 0.0f ? beta * out[i] : 0.0f);
    }
    return Status::Ok();
  }
  SgemmParallel(c.pool(), ta, tb, m, n, k, alpha, a.data<float>(), a.dim(1),
                bdata, ldb, beta, out, n);
  return Status::Ok();
}

}  // namespace

void AddMatMulOps(std::vector<OpSchema>& t) {
  OpSchema mm;
  mm.name = "MatMul";
  mm.min_inputs = mm.max_inputs = 2;
  mm.infer = InferMatMul;
  mm.run = RunMatMul;
  t.push_back(mm);
  OpSchema g;
  g.name = "Gemm";
  g.min_inputs = 2;
  g.max_inputs = 3;
  g.infer = InferGemm;
  g.run = RunGemm;
  t.push_back(g);
}

}  // namespace lowbit::graph
