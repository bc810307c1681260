// Gradients of the pools: MaxPool sends each output's gradient to the first
// input position holding its window's maximum (the value the forward kernel
// kept); AveragePool spreads it over the window's taps, divided as the
// forward kernel divides (count_include_pad or the valid taps);
// GlobalAveragePool and GlobalMaxPool over the whole plane.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "graph/grad/grad.h"
#include "graph/ops/window.h"

namespace lowbit::graph {
namespace {

// fn(x's plane, dy's plane, dx's plane) for each plane of a rank-4 pool,
// planes split between the pool's threads.
template <typename Fn>
void EachPlane(ThreadPool& pool, const Window& w, int64_t planes,
               const float* xd, const float* g, float* dx, Fn fn) {
  const int64_t pin = w.in[1] * w.in[2], pout = w.out[1] * w.out[2];
  pool.ParallelFor(planes, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t pl = i0; pl < i1; ++pl) {
      fn(xd + pl * pin, g + pl * pout, dx + pl * pin);
    }
  });
}

// MaxPool over planes of one depth (rank-4 inputs): the general loop below
// without its per-output index arithmetic; the same taps in the same order,
// so the same maximum (the first on ties) takes the gradient.
void MaxPool2dGrad(ThreadPool& pool, const Window& w, int64_t planes,
                   const float* xd, const float* g, float* dx) {
  const int64_t ih_n = w.in[1], iw_n = w.in[2], oh_n = w.out[1],
                ow_n = w.out[2];
  EachPlane(pool, w, planes, xd, g, dx,
            [&](const float* xp, const float* gp, float* dp) {
              for (int64_t oh = 0; oh < oh_n; ++oh) {
                const int64_t h0 = oh * w.s[1] - w.pb[1];
                for (int64_t ow = 0; ow < ow_n; ++ow) {
                  const int64_t w0 = ow * w.s[2] - w.pb[2];
                  // The taps inside the plane: kw in [kw0, kw1).
                  int64_t kw0 = 0, kw1 = w.k[2];
                  while (kw0 < kw1 && w0 + kw0 * w.d[2] < 0) ++kw0;
                  while (kw1 > kw0 && w0 + (kw1 - 1) * w.d[2] >= iw_n) --kw1;
                  int64_t best = -1;
                  float bv = -INFINITY;
                  for (int64_t kh = 0; kh < w.k[1]; ++kh) {
                    const int64_t ih = h0 + kh * w.d[1];
                    if (ih < 0 || ih >= ih_n) continue;
                    const float* row = xp + ih * iw_n;
                    for (int64_t kw = kw0; kw < kw1; ++kw) {
                      // Without a branch on the data (selects, not jumps).
                      const int64_t iw = w0 + kw * w.d[2];
                      const float v = row[iw];
                      const bool gt = v > bv;
                      bv = gt ? v : bv;
                      best = gt ? ih * iw_n + iw : best;
                    }
                  }
                  if (best >= 0) dp[best] += gp[oh * ow_n + ow];
                }
              }
            });
}

// MaxPool whose windows do not overlap and need no padding (strides equal
// to the kernel, no dilation: the 2x2 pools of CNNs): every input position
// belongs to at most one window, so the gradient is written, not added:
// each window's first maximum takes its output's gradient, its other taps
// and the positions no window covers take 0. The taps in the forward
// kernel's order (the same first maximum on ties).
bool DisjointWindows(const Window& w) {
  for (int j = 1; j < 3; ++j) {
    if (w.s[j] != w.k[j] || w.d[j] != 1 || w.pb[j] != 0 || w.pe[j] != 0) {
      return false;
    }
  }
  return true;
}

void MaxPool2dDisjointGrad(ThreadPool& pool, const Window& w, int64_t planes,
                           const float* xd, const float* g, float* dx) {
  const int64_t ih_n = w.in[1], iw_n = w.in[2], oh_n = w.out[1],
                ow_n = w.out[2], kh_n = w.k[1], kw_n = w.k[2];
  const int64_t pin = ih_n * iw_n;
  EachPlane(pool, w, planes, xd, g, dx,
            [&](const float* xp, const float* gp, float* dp) {
              int64_t covered_h = 0;  // rows [0, covered_h) are written
              for (int64_t oh = 0; oh < oh_n; ++oh) {
                const int64_t h0 = oh * kh_n, h1 = std::min(h0 + kh_n, ih_n);
                int64_t covered_w = 0;
                for (int64_t ow = 0; ow < ow_n; ++ow) {
                  const int64_t w0 = ow * kw_n, w1 = std::min(w0 + kw_n, iw_n);
                  int64_t best = -1;
                  float bv = -INFINITY;
                  for (int64_t ih = h0; ih < h1; ++ih) {
                    const float* row = xp + ih * iw_n;
                    float* drow = dp + ih * iw_n;
                    for (int64_t iw = w0; iw < w1; ++iw) {
                      const float v = row[iw];
                      const bool gt = v > bv;
                      bv = gt ? v : bv;
                      best = gt ? ih * iw_n + iw : best;
                      drow[iw] = 0.0f;
                    }
                  }
                  if (best >= 0) dp[best] = gp[oh * ow_n + ow];
                  covered_w = w1;
                }
                for (int64_t ih = h0; ih < h1; ++ih) {
                  std::fill(dp + ih * iw_n + covered_w, dp + (ih + 1) * iw_n,
                            0.0f);
                }
                covered_h = h1;
              }
              std::fill(dp + covered_h * iw_n, dp + pin, 0.0f);
            });
}

// MaxPool over Whole2x2Windows (the disjoint case above for 2x2, without
// its loops over the taps): the first maximum of each window's four taps
// (as the forward kernel takes them) gets the gradient, the other three 0;
// a last row or column no window reads, 0.
void MaxPool2x2Grad(ThreadPool& pool, const Window& w, int64_t planes,
                    const float* xd, const float* g, float* dx) {
  const int64_t ih_n = w.in[1], iw_n = w.in[2], oh_n = w.out[1],
                ow_n = w.out[2];
  const int64_t pin = ih_n * iw_n;
  EachPlane(pool, w, planes, xd, g, dx,
            [&](const float* xp, const float* gp, float* dp) {
              for (int64_t oh = 0; oh < oh_n; ++oh) {
                const float* __restrict r0 = xp + 2 * oh * iw_n;
                const float* __restrict r1 = r0 + iw_n;
                const float* __restrict gr = gp + oh * ow_n;
                float* __restrict d0 = dp + 2 * oh * iw_n;
                float* __restrict d1 = d0 + iw_n;
                for (int64_t q = 0; q < ow_n; ++q) {
                  const float a = r0[2 * q], b = r0[2 * q + 1], c = r1[2 * q],
                              d = r1[2 * q + 1], gi = gr[q];
                  // Strictly greater than the maximum so far, from -inf: the
                  // first maximum wins ties; NaNs never win. Masks, not jumps
                  // (the winner is random).
                  const bool ta = a > -INFINITY;
                  float m = std::max(-INFINITY, a);
                  const bool tb = b > m;
                  m = std::max(m, b);
                  const bool tc = c > m;
                  m = std::max(m, c);
                  const bool td = d > m;
                  const uint32_t gb = std::bit_cast<uint32_t>(gi);
                  const uint32_t wd = 0u - static_cast<uint32_t>(td);
                  const uint32_t wc = 0u - static_cast<uint32_t>(tc & !td);
                  const uint32_t wb =
                      0u - static_cast<uint32_t>(tb & !tc & !td);
                  const uint32_t wa =
                      0u - static_cast<uint32_t>(ta & !tb & !tc & !td);
                  d1[2 * q + 1] = std::bit_cast<float>(gb & wd);
                  d1[2 * q] = std::bit_cast<float>(gb & wc);
                  d0[2 * q + 1] = std::bit_cast<float>(gb & wb);
                  d0[2 * q] = std::bit_cast<float>(gb & wa);
                }
                if (iw_n > 2 * ow_n) d0[iw_n - 1] = d1[iw_n - 1] = 0.0f;
              }
              std::fill(dp + 2 * oh_n * iw_n, dp + pin, 0.0f);
            });
}

Status PoolGrad(GradContext& c) {
  const Tensor* dy = c.dout(0);
  if (dy == nullptr || !c.need(0)) return Status::Ok();
  const Node& n = c.node();
  const Tensor& x = c.in(0);
  if (x.dtype() != DType::kF32 || x.rank() < 3 || x.rank() > 5) {
    return c.Fail("gradients of f32 pools of rank 3 to 5 only");
  }
  const std::vector<int64_t> k = n.Ints("kernel_shape");
  if (k.size() != static_cast<size_t>(x.rank() - 2)) {
    return c.Fail("kernel_shape does not match X");
  }
  Window w;
  LB_RETURN_IF_ERROR(
      MakeWindow(n, x.shape(), k.data(), n.Int("ceil_mode", 0) != 0, &w)
          .WithPrefix(c.graph().NodeLabel(n)));
  if (c.out(0).numel() != x.dim(0) * x.dim(1) * w.OutSize()) {
    return c.Fail("output does not match the window");
  }
  const bool is_max = n.op == "MaxPool";
  const bool include_pad = n.Int("count_include_pad", 0) != 0;
  const int64_t planes = x.dim(0) * x.dim(1), pin = w.InSize(),
                pout = w.OutSize();
  const float* xd = x.data<float>();
  const float* g = dy->data<float>();
  const bool rank4 = w.k[0] == 1 && w.in[0] == 1 && w.out[0] == 1;
  if (is_max && Whole2x2Windows(w)) {
    MaxPool2x2Grad(c.pool(), w, planes, xd, g, c.DinToWrite(0).data<float>());
    return Status::Ok();
  }
  if (is_max && rank4 && DisjointWindows(w)) {
    MaxPool2dDisjointGrad(c.pool(), w, planes, xd, g,
                          c.DinToWrite(0).data<float>());
    return Status::Ok();
  }
  float* dx = c.din(0).data<float>();
  if (is_max && rank4) {
    MaxPool2dGrad(c.pool(), w, planes, xd, g, dx);
    return Status::Ok();
  }
  c.pool().ParallelFor(planes, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t pl = i0; pl < i1; ++pl) {
      const float* xp = xd + pl * pin;
      float* dp = dx + pl * pin;
      for (int64_t o = 0; o < pout; ++o) {
        const int64_t od = o / (w.out[1] * w.out[2]);
        const int64_t oh = o / w.out[2] % w.out[1], ow = o % w.out[2];
        int64_t best = -1, valid = 0, padded = 1;
        float bv = -INFINITY;
        for (int j = 0; j < 3 && !is_max && include_pad; ++j) {
          // taps inside [-pb, in + pe)
          const int64_t oj = j == 0 ? od : j == 1 ? oh : ow;
          int64_t cnt = 0;
          for (int64_t t = 0; t < w.k[j]; ++t) {
            const int64_t p = oj * w.s[j] - w.pb[j] + t * w.d[j];
            cnt += p >= -w.pb[j] && p < w.in[j] + w.pe[j];
          }
          padded *= cnt;
        }
        // The window's valid taps (offsets in the plane), in the forward
        // kernel's order.
        auto each_tap = [&](auto&& fn) {
          for (int64_t kd = 0; kd < w.k[0]; ++kd) {
            const int64_t id = od * w.s[0] - w.pb[0] + kd * w.d[0];
            if (id < 0 || id >= w.in[0]) continue;
            for (int64_t kh = 0; kh < w.k[1]; ++kh) {
              const int64_t ih = oh * w.s[1] - w.pb[1] + kh * w.d[1];
              if (ih < 0 || ih >= w.in[1]) continue;
              for (int64_t kw = 0; kw < w.k[2]; ++kw) {
                const int64_t iw = ow * w.s[2] - w.pb[2] + kw * w.d[2];
                if (iw >= 0 && iw < w.in[2]) {
                  fn((id * w.in[1] + ih) * w.in[2] + iw);
                }
              }
            }
          }
        };
        each_tap([&](int64_t at) {
          ++valid;
          if (is_max && xp[at] > bv) {
            bv = xp[at];
            best = at;
          }
        });
        const float gi = g[pl * pout + o];
        if (is_max) {
          if (best >= 0) dp[best] += gi;
          continue;
        }
        const int64_t count = include_pad ? padded : valid;
        if (count == 0) continue;
        const float share = gi / static_cast<float>(count);
        each_tap([&](int64_t at) { dp[at] += share; });
      }
    }
  });
  return Status::Ok();
}

Status GlobalPoolGrad(GradContext& c) {
  const Tensor* dy = c.dout(0);
  if (dy == nullptr || !c.need(0)) return Status::Ok();
  const Tensor& x = c.in(0);
  if (x.dtype() != DType::kF32 || x.rank() < 2) {
    return c.Fail("gradients of f32 pools only");
  }
  const int64_t planes = x.dim(0) * x.dim(1),
                size = planes > 0 ? x.numel() / planes : 0;
  const bool is_max = c.node().op == "GlobalMaxPool";
  const float* xd = x.data<float>();
  const float* g = dy->data<float>();
  float* dx = c.din(0).data<float>();
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* xp = xd + pl * size;
    float* dp = dx + pl * size;
    if (is_max) {
      if (size > 0) dp[std::max_element(xp, xp + size) - xp] += g[pl];
    } else {
      const float share = g[pl] / static_cast<float>(size);
      for (int64_t i = 0; i < size; ++i) dp[i] += share;
    }
  }
  return Status::Ok();
}

}  // namespace

void AddPoolGrads(std::vector<GradSchema>& t) {
  t.push_back({"MaxPool", PoolGrad, {}});
  t.push_back({"AveragePool", PoolGrad, {}});
  t.push_back({"GlobalAveragePool", GlobalPoolGrad, {}});
  t.push_back({"GlobalMaxPool", GlobalPoolGrad, {}});
}

}  // namespace lowbit::graph
