// The geometry shared by Conv and ConvTranspose (conv.cc,
// conv_transpose.cc) and by calibration (graph/calib_stats.h): channels,
// groups and windows resolved from a node and its shapes, and the im2col /
// col2im copies between an input and its patch matrix.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "graph/ir.h"
#include "graph/op.h"
#include "graph/ops/window.h"

namespace lowbit::graph {

// Floats of im2col / col2im scratch per thread (512 KiB: about an L2 cache).
constexpr int64_t kColBudget = int64_t{1} << 17;

inline int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Rows per tile of a patch matrix of `row_floats` floats per row (of `rows`),
// within kColBudget, and small enough that `items` images x groups give every
// thread at least two tiles.
inline int64_t RowTile(int64_t row_floats, int64_t rows, int threads,
                       int64_t items) {
  int64_t tile = kColBudget / row_floats;
  tile = tile < 1 ? 1 : (tile > rows ? rows : tile);
  if (threads > 1 && items < 2 * threads) {
    const int64_t cap = CeilDiv(rows, CeilDiv(2 * threads, items));
    tile = tile < cap ? tile : cap;
  }
  return tile;
}

struct ConvDims {
  Window w;
  int64_t n = 0, c = 0, m = 0, g = 1;
  int64_t cg = 1, mg = 1;  // channels per group, in and out
};

// Conv: X [N, C, ...], W [M, C/group, k...], B [M] (null: none). Messages
// have no node label.
Status ResolveConv(const Node& n, const Shape& x, const Shape& wt,
                   const Shape* b, ConvDims* cd);

// ConvTranspose: W [C, M/group, k...]; in = X's spatial sizes, out = Y's.
Status ResolveConvTranspose(const Node& n, const Shape& x, const Shape& wt,
                            const Shape* b, ConvDims* cd);

// The im2col rows of output rows [r0, r1) (a row: one depth and height
// index) of one group's input xg (cg planes): col[(ch * taps + t) * np + q],
// np = (r1 - r0) * out[2].
void Im2col(const float* xg, const Window& w, int64_t cg, int64_t r0,
            int64_t r1, float* col);

// Adds the col2im rows of output channel m (col rows m * taps + t, input rows
// [r0, r1)) into ym, that channel's output planes, on output rows (depth and
// height, flattened) in [o0, o1) only: callers split one channel's rows
// between threads without two writing the same row.
void Col2im(const float* col, int64_t np, int64_t m, const Window& w,
            int64_t r0, int64_t r1, float* ym, int64_t o0, int64_t o1);

Status RunConvTranspose(KernelContext& c);

}  // namespace lowbit::graph
