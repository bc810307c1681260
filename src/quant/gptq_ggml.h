// GPTQ (Frantar et al., arXiv 2210.17323) for ggml's block types: each row's
// scales are fitted first, as the format allows (one-level blocks: the block
// scale; q4_1/q5_1: scale and offset; k-quants: the f16 super-block scale
// and minimum with the integer sub-block scales and minimums), weighted by
// the inputs' mean squares diag(H) (quant/ggml_quantize.h GgmlRowGrid), then
// the codes are chosen column by column on that fixed grid, each column's
// rounding error spread over the columns not yet quantized (quant/
// gptq_sweep.h; act-order keeps every block's scales: "static groups").
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "formats/ggml/ggml_type.h"
#include "quant/gptq.h"

namespace lowbit {

struct GgmlGptqResult {
  std::vector<uint8_t> bytes;  // rows x RowBytes(cols), ggml's layout
  // tr(D H D^T) with D the weight minus its decoded blocks: for the nearest
  // codes on the same scales, and for GPTQ's.
  double rtn_error = 0.0, gptq_error = 0.0;
};

// w: rows x cols (row-major, a row = one output's weights over the cols
// inputs), h: H = E[x x^T], cols x cols. InvalidArgument for a type without
// a fixed grid (GgmlRowGrid::Supports), rows not a whole number of blocks,
// or H not finite and symmetric.
Result<GgmlGptqResult> QuantizeGgmlGptq(GgmlType t, const float* w,
                                        int64_t rows, int64_t cols,
                                        const float* h, const GptqOptions& opt,
                                        ThreadPool& pool);

}  // namespace lowbit
