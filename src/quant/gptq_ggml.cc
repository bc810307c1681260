#include "quant/gptq_ggml.h"

#include <algorithm>
#include <string>

#include "formats/ggml/blocks.h"
#include "formats/ggml/decode.h"
#include "quant/ggml_quantize.h"
#include "quant/gptq_sweep.h"

namespace lowbit {
namespace {

// tr(D H D^T) for D = w - decode(bytes).
double BlocksError(GgmlType t, const float* w, const uint8_t* bytes,
                   int64_t rows, int64_t cols, const float* h) {
  const int64_t rb = GetGgmlTypeInfo(t).RowBytes(cols);
  std::vector<float> d(static_cast<size_t>(rows * cols)), dh(d.size());
  for (int64_t r = 0; r < rows; ++r) {
    float* dr = d.data() + r * cols;
    DequantizeGgmlRow(t, bytes + r * rb, dr, cols);
    for (int64_t c = 0; c < cols; ++c) dr[c] = w[r * cols + c] - dr[c];
  }
  return TraceDHDt(d.data(), rows, cols, h, dh.data());
}

}  // namespace

Result<GgmlGptqResult> QuantizeGgmlGptq(GgmlType t, const float* w,
                                        int64_t rows, int64_t cols,
                                        const float* h, const GptqOptions& opt,
                                        ThreadPool& pool) {
  const GgmlTypeInfo& info = GetGgmlTypeInfo(t);
  if (!GgmlRowGrid::Supports(t)) {
    return InvalidArgument(
        "GPTQ takes ggml types with a fixed grid per block "
        "(q8_0, q4_0, q5_0, iq4_nl, q4_1, q5_1, q2_K .. "
        "q6_K, iq4_xs), not " +
        std::string(info.ggml_name));
  }
  if (rows < 1 || cols < 1 || cols % info.block_elements != 0) {
    return InvalidArgument("rows of " + std::to_string(cols) +
                           " values are not whole " +
                           std::string(info.ggml_name) + " blocks of " +
                           std::to_string(info.block_elements));
  }
  LB_RETURN_IF_ERROR(CheckGptqStatistics(h, cols, 1));
  std::vector<float> imp(static_cast<size_t>(cols));
  bool any = false;
  for (int64_t i = 0; i < cols; ++i) {
    imp[i] = std::max(0.0f, h[i * cols + i]);
    any = any || imp[i] > 0.0f;
  }
  // Scales fitted per row; the nearest codes are the round-to-nearest result.
  std::vector<GgmlRowGrid> grids(static_cast<size_t>(rows));
  pool.ParallelFor(rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      grids[r].Fit(t, w + r * cols, cols, any ? imp.data() : nullptr);
    }
  });
  const int64_t rb = info.RowBytes(cols);
  GgmlGptqResult res;
  res.bytes.resize(static_cast<size_t>(rows * rb));
  for (int64_t r = 0; r < rows; ++r) grids[r].Pack(res.bytes.data() + r * rb);
  res.rtn_error = BlocksError(t, w, res.bytes.data(), rows, cols, h);
  // The rows in one chunk per thread, each a sweep of its own.
  const int64_t chunks =
      std::min<int64_t>(rows, std::max(1, pool.num_threads()));
  const int64_t per = (rows + chunks - 1) / chunks;
  pool.ParallelFor(chunks, 1, [&](int64_t c0, int64_t c1) {
    GptqScratch scratch;
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t r0 = c * per, n = std::min(rows, r0 + per) - r0;
      if (n <= 0) continue;
      GptqSweep(
          w + r0 * cols, n, cols, h, opt, scratch,
          [](int64_t, int64_t, const float*) {},
          [&](int64_t r, int64_t col, float x) {
            return grids[r0 + r].Round(col, x);
          });  // false: H degenerate, the nearest codes stay
    }
  });
  for (int64_t r = 0; r < rows; ++r) grids[r].Pack(res.bytes.data() + r * rb);
  res.gptq_error = BlocksError(t, w, res.bytes.data(), rows, cols, h);
  return res;
}

}  // namespace lowbit
