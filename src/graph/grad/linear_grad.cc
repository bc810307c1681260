// Gradients of the layers with weights: Conv (groups, strides, pads,
// dilations; 1-D to 3-D), Gemm and MatMul (batched, broadcast, 1-D operands).
//   Conv, per image and group: dW += dY col(X)^T, dX = col2im(W^T dY),
//     dB = sum of dY; images in one fixed chunk per thread, each chunk with
//     its own dW and dB, summed in chunk order (deterministic).
//   ConvTranspose, per image and group (the forward: col = W^T X, then
//     col2im): with C = im2col(dY) over the forward's window seen from the
//     output (its adjoint), dX = W C, dW += X C^T, dB = sum of dY; chunked
//     as Conv.
//   Gemm, Y = alpha A' B' + beta C: dA' = alpha dY B'^T, dB' = alpha A'^T dY,
//     dC = beta dY summed to C's shape.
//   MatMul: per batch index, dA = dY B^T, dB = A^T dY, summed over the batch
//     dimensions an operand was broadcast along.
#include <algorithm>
#include <vector>

#include "graph/grad/grad.h"
#include "graph/ops/broadcast.h"
#include "graph/ops/conv_geometry.h"
#include "kernels/sgemm.h"

namespace lowbit::graph {
namespace {

Status CheckF32(GradContext& c) {
  for (int k = 0; k < c.num_inputs(); ++k) {
    if (c.has(k) && c.in(k).dtype() != DType::kF32) {
      return c.Fail("gradients are computed for f32 only");
    }
  }
  return Status::Ok();
}

// out[k] += sum over the chunks of slots[chunk * size + k], chunks in order.
void AddSlots(const float* slots, int64_t chunks, int64_t size, float* out) {
  for (int64_t s = 0; s < chunks; ++s) {
    for (int64_t k = 0; k < size; ++k) out[k] += slots[s * size + k];
  }
}

// db[m] += the sum of plane m of dy (planes of p elements), in double.
void AddPlaneSums(const float* dy, int64_t planes, int64_t p, float* db) {
  for (int64_t m = 0; m < planes; ++m) {
    double s = 0.0;
    for (int64_t i = 0; i < p; ++i) s += dy[m * p + i];
    db[m] += static_cast<float>(s);
  }
}

Status ConvGrad(GradContext& c) {
  LB_RETURN_IF_ERROR(CheckF32(c));
  const Tensor* dy = c.dout(0);
  if (dy == nullptr) return Status::Ok();
  const Tensor &x = c.in(0), &wt = c.in(1);
  const Shape bshape = c.has(2) ? c.in(2).shape() : Shape{};
  ConvDims cd;
  LB_RETURN_IF_ERROR(ResolveConv(c.node(), x.shape(), wt.shape(),
                                 c.has(2) ? &bshape : nullptr, &cd)
                         .WithPrefix(c.graph().NodeLabel(c.node())));
  const Window& w = cd.w;
  const int64_t taps = w.Taps(), cgt = cd.cg * taps, P = w.OutSize();
  const int64_t pin = w.InSize(), rows = w.out[0] * w.out[1];
  // The transposed window (Col2im's convention: `in` the small grid).
  Window wt_win = w;
  for (int j = 0; j < 3; ++j) std::swap(wt_win.in[j], wt_win.out[j]);
  const bool need_x = c.need(0), need_w = c.need(1),
             need_b = c.has(2) && c.need(2);
  float* dx = need_x ? c.din(0).data<float>() : nullptr;
  // Images in fixed chunks, each with its own dW and dB, summed in chunk
  // order: the same sums whichever thread runs a chunk (runs repeat).
  const int64_t chunks =
      std::min<int64_t>(cd.n, std::max(1, c.pool().num_threads()));
  const int64_t wsize = wt.numel();
  Workspace::Scope scope(c.ws());
  float* col = c.ws().Take<float>(chunks * cgt * P);
  float* dw_slots = need_w ? c.ws().TakeZeroed<float>(chunks * wsize) : nullptr;
  float* db_slots = need_b ? c.ws().TakeZeroed<float>(chunks * cd.m) : nullptr;
  const float* xd = x.data<float>();
  const float* wd = wt.data<float>();
  const float* dyd = dy->data<float>();
  c.pool().ParallelFor(chunks, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t slot = k0; slot < k1; ++slot) {
      float* cs = col + slot * cgt * P;
      for (int64_t i = slot * cd.n / chunks; i < (slot + 1) * cd.n / chunks;
           ++i) {
        for (int64_t g = 0; g < cd.g; ++g) {
          const float* xg = xd + (i * cd.c + g * cd.cg) * pin;
          const float* dyg = dyd + (i * cd.m + g * cd.mg) * P;
          if (need_b)
            AddPlaneSums(dyg, cd.mg, P, db_slots + slot * cd.m + g * cd.mg);
          if (need_w) {
            Im2col(xg, w, cd.cg, 0, rows, cs);
            Sgemm(false, true, cd.mg, cgt, P, 1.0f, dyg, P, cs, P, 1.0f,
                  dw_slots + slot * wsize + g * cd.mg * cgt, cgt);
          }
          if (need_x) {
            Sgemm(true, false, cgt, P, cd.mg, 1.0f, wd + g * cd.mg * cgt, cgt,
                  dyg, P, 0.0f, cs, P);
            float* dxg = dx + (i * cd.c + g * cd.cg) * pin;
            for (int64_t ch = 0; ch < cd.cg; ++ch) {
              Col2im(cs, P, ch, wt_win, 0, rows, dxg + ch * pin, 0,
                     w.in[0] * w.in[1]);
            }
          }
        }
      }
    }
  });
  if (need_w) AddSlots(dw_slots, chunks, wsize, c.din(1).data<float>());
  if (need_b) AddSlots(db_slots, chunks, cd.m, c.din(2).data<float>());
  return Status::Ok();
}

Status ConvTransposeGrad(GradContext& c) {
  LB_RETURN_IF_ERROR(CheckF32(c));
  const Tensor* dy = c.dout(0);
  if (dy == nullptr) return Status::Ok();
  const Tensor &x = c.in(0), &wt = c.in(1);
  const Shape bshape = c.has(2) ? c.in(2).shape() : Shape{};
  ConvDims cd;
  LB_RETURN_IF_ERROR(ResolveConvTranspose(c.node(), x.shape(), wt.shape(),
                                          c.has(2) ? &bshape : nullptr, &cd)
                         .WithPrefix(c.graph().NodeLabel(c.node())));
  const Window& w = cd.w;
  const int64_t mk = cd.mg * w.Taps(), pin = w.InSize(), P = w.OutSize();
  // The forward's window seen from the output: a convolution of Y's grid
  // onto X's, whose im2col is the adjoint of the forward's col2im.
  Window back = w;
  for (int j = 0; j < 3; ++j) std::swap(back.in[j], back.out[j]);
  const int64_t rows = w.in[0] * w.in[1];
  const bool need_x = c.need(0), need_w = c.need(1),
             need_b = c.has(2) && c.need(2);
  float* dx = need_x ? c.din(0).data<float>() : nullptr;
  const int64_t chunks =
      std::min<int64_t>(cd.n, std::max(1, c.pool().num_threads()));
  const int64_t wsize = wt.numel();
  Workspace::Scope scope(c.ws());
  float* col = c.ws().Take<float>(chunks * mk * pin);
  float* dw_slots = need_w ? c.ws().TakeZeroed<float>(chunks * wsize) : nullptr;
  float* db_slots = need_b ? c.ws().TakeZeroed<float>(chunks * cd.m) : nullptr;
  const float* xd = x.data<float>();
  const float* wd = wt.data<float>();
  const float* dyd = dy->data<float>();
  c.pool().ParallelFor(chunks, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t slot = k0; slot < k1; ++slot) {
      float* cs = col + slot * mk * pin;
      for (int64_t i = slot * cd.n / chunks; i < (slot + 1) * cd.n / chunks;
           ++i) {
        for (int64_t g = 0; g < cd.g; ++g) {
          const float* dyg = dyd + (i * cd.m + g * cd.mg) * P;
          if (need_b)
            AddPlaneSums(dyg, cd.mg, P, db_slots + slot * cd.m + g * cd.mg);
          if (!need_w && !need_x) continue;
          Im2col(dyg, back, cd.mg, 0, rows, cs);
          if (need_w) {
            Sgemm(false, true, cd.cg, mk, pin, 1.0f,
                  xd + (i * cd.c + g * cd.cg) * pin, pin, cs, pin, 1.0f,
                  dw_slots + slot * wsize + g * cd.cg * mk, mk);
          }
          if (need_x) {
            Sgemm(false, false, cd.cg, pin, mk, 1.0f, wd + g * cd.cg * mk, mk,
                  cs, pin, 1.0f, dx + (i * cd.c + g * cd.cg) * pin, pin);
          }
        }
      }
    }
  });
  if (need_w) AddSlots(dw_slots, chunks, wsize, c.din(1).data<float>());
  if (need_b) AddSlots(db_slots, chunks, cd.m, c.din(2).data<float>());
  return Status::Ok();
}

Status GemmGrad(GradContext& c) {
  LB_RETURN_IF_ERROR(CheckF32(c));
  const Tensor* dy = c.dout(0);
  if (dy == nullptr) return Status::Ok();
  const Node& n = c.node();
  const bool ta = n.Int("transA", 0) != 0, tb = n.Int("transB", 0) != 0;
  const float alpha = n.Float("alpha", 1.0f), beta = n.Float("beta", 1.0f);
  const Tensor &a = c.in(0), &b = c.in(1);
  if (a.rank() != 2 || b.rank() != 2) return c.Fail("A and B must be 2-D");
  const int64_t M = ta ? a.dim(1) : a.dim(0), K = ta ? a.dim(0) : a.dim(1);
  const int64_t N = tb ? b.dim(0) : b.dim(1);
  const int64_t lda = a.dim(1), ldb = b.dim(1);
  const float* g = dy->data<float>();
  if (c.need(0)) {
    float* da = c.din(0).data<float>();
    if (!ta) {  // dA [M, K] = alpha dY B'^T
      SgemmParallel(c.pool(), false, !tb, M, K, N, alpha, g, N, b.data<float>(),
                    ldb, 1.0f, da, K);
    } else {  // dA [K, M] = alpha B' dY^T
      SgemmParallel(c.pool(), tb, true, K, M, N, alpha, b.data<float>(), ldb, g,
                    N, 1.0f, da, M);
    }
  }
  if (c.need(1)) {
    float* db = c.din(1).data<float>();
    if (!tb) {  // dB [K, N] = alpha A'^T dY
      SgemmParallel(c.pool(), !ta, false, K, N, M, alpha, a.data<float>(), lda,
                    g, N, 1.0f, db, N);
    } else {  // dB [N, K] = alpha dY^T A'
      SgemmParallel(c.pool(), true, ta, N, K, M, alpha, g, N, a.data<float>(),
                    lda, 1.0f, db, K);
    }
  }
  if (c.has(2) && c.need(2)) {
    Tensor scaled = Tensor::Zeros(DType::kF32, dy->shape());
    for (int64_t i = 0; i < dy->numel(); ++i) {
      scaled.data<float>()[i] = beta * g[i];
    }
    SumToShape(scaled, c.in(2).shape(), &c.din(2));
  }
  return Status::Ok();
}

Status MatMulGrad(GradContext& c) {
  LB_RETURN_IF_ERROR(CheckF32(c));
  const Tensor* dy = c.dout(0);
  if (dy == nullptr) return Status::Ok();
  // Promote 1-D operands as MatMul does: A [K] -> [1, K], B [K] -> [K, 1].
  Shape sa = c.in(0).shape(), sb = c.in(1).shape();
  if (sa.size() == 1) sa.insert(sa.begin(), 1);
  if (sb.size() == 1) sb.push_back(1);
  const int64_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
  if (sb[sb.size() - 2] != K) return c.Fail("inner dimensions differ");
  const Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  const std::optional<Shape> bo = BroadcastShapes({ba, bb});
  if (!bo) return c.Fail("batch dimensions do not broadcast");
  const int64_t batches = NumElements(*bo);
  const std::vector<int64_t> stra = BroadcastStrides(ba, *bo),
                             strb = BroadcastStrides(bb, *bo);
  const float* A = c.in(0).data<float>();
  const float* B = c.in(1).data<float>();
  const float* G = dy->data<float>();
  float* dA = c.need(0) ? c.din(0).data<float>() : nullptr;
  float* dB = c.need(1) ? c.din(1).data<float>() : nullptr;
  // Sequential over batch indices (a broadcast operand's gradient sums over
  // several), each product over the pool.
  for (int64_t bi = 0; bi < batches; ++bi) {
    int64_t ia = 0, ib = 0, rem = bi;
    for (int d = static_cast<int>(bo->size()) - 1; d >= 0; --d) {
      const int64_t idx = rem % (*bo)[d];
      rem /= (*bo)[d];
      ia += idx * stra[d];
      ib += idx * strb[d];
    }
    const float* g = G + bi * M * N;
    if (dA != nullptr) {  // dA [M, K] += dY [M, N] B^T
      SgemmParallel(c.pool(), false, true, M, K, N, 1.0f, g, N, B + ib * K * N,
                    N, 1.0f, dA + ia * M * K, K);
    }
    if (dB != nullptr) {  // dB [K, N] += A^T dY
      SgemmParallel(c.pool(), true, false, K, N, M, 1.0f, A + ia * M * K, K, g,
                    N, 1.0f, dB + ib * K * N, N);
    }
  }
  return Status::Ok();
}

}  // namespace

void AddLinearGrads(std::vector<GradSchema>& t) {
  t.push_back({"Conv", ConvGrad, {}});
  t.push_back({"ConvTranspose", ConvTransposeGrad, {}});
  t.push_back({"Gemm", GemmGrad, {}});
  t.push_back({"MatMul", MatMulGrad, {}});
}

}  // namespace lowbit::graph
