// ConvTranspose (ONNX, f32, N x C x spatial, 1-D to 3-D): per image, group
// and tile of input rows, col = W_g^T X_g (one GEMM), then col2im; with the
// kernel equal to the stride each output is written once instead.
#include <algorithm>
#include <string>
#include <vector>

#include "graph/ops/activation.h"
#include "graph/ops/conv_geometry.h"
#include "graph/ops/families.h"
#include "kernels/sgemm.h"

namespace lowbit::graph {
namespace {

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
  const int64_t tile = RowTile(mk * iw, rows, threads, items);
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

}  // namespace

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

}  // namespace lowbit::graph
