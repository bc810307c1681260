// GPTQ (Frantar et al., arXiv 2210.17323): codes chosen column by column so
// that the rounding error of each column is compensated by the columns not yet
// quantized, minimising the layer-output error ||X W^T - X Q^T||^2 over
// calibration inputs X through H = E[x x^T] (graph/calib_stats.h).
//
// The scales (and zero points) are fixed first, per group as the scheme and
// granularity say, by the configured search weighted by diag(H) (quant/
// quantize.h with that importance): "static groups", so that act-order (columns
// by decreasing H_ii) keeps every group's parameters. Then, per block of
// `block` columns: each column is rounded to its nearest level, its error
// divided by the pivot of the upper Cholesky factor U of H^-1 and subtracted
// from the block's later columns; the block's errors update all later columns
// at once (one GEMM: the paper's lazy batch updates). H is damped by
// `damp` x mean(diag H) on the diagonal; columns no input reaches (H_ii = 0)
// get code 0 error compensation only from rounding.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "formats/quantized_tensor.h"
#include "quant/config.h"

namespace lowbit {

struct GptqOptions {
  double damp = 0.01;     // of the mean diagonal, added to the diagonal
  int64_t block = 128;    // columns per lazy batch update
  bool act_order = true;  // columns by decreasing H_ii (static groups)
  // Without act-order: refit each group's scale (and zero point) when its
  // first column is reached, from the weights as the earlier columns' errors
  // left them (the paper's original grouping), instead of fixing them first.
  bool static_groups = true;
  // Then each row's scales (and zero points) refitted by least squares on
  // the layer-output error, the codes fixed (quant/scale_refit.h), where the
  // layer costs at most refit_max_madds multiply-adds (rows x cols^2).
  bool refit = true;
  double refit_max_madds = 8.6e9;
};

// The proxy of the layer-output error, sum over groups of tr(D H D^T) with D
// the weight minus its decoded codes (undamped H): for the round-to-nearest
// codes of the same scales and for GPTQ's.
struct GptqReport {
  double rtn_error = 0.0, gptq_error = 0.0;
};

// Quantizes w (row-major, rows = shape[0] output channels, cols = the rest)
// given `groups` matrices H [cols x cols], row-major, one after another: the
// rows split into `groups` equal consecutive blocks (a grouped convolution's
// output channels), block g using matrix g. Every scheme with a fixed level
// table (not k-means). InvalidArgument for a k-means scheme, rows not a
// multiple of groups, NaN/Inf in w or h, or a non-symmetric h.
Result<QuantizedTensor> QuantizeGptq(const float* w, const Shape& shape,
                                     QuantConfig config, const float* h,
                                     int64_t groups, const GptqOptions& opt,
                                     ThreadPool& pool,
                                     GptqReport* report = nullptr);

// tr(D H D^T) for D = w - decode(q) over the row blocks of the `groups`
// matrices h (as above), in double.
double LayerOutputError(const float* w, const QuantizedTensor& q,
                        const float* h, int64_t groups);

}  // namespace lowbit
