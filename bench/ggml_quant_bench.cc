// ggml block formats on a 1024 x 4096 N(0,1) tensor: lowbit's relative RMSE and
// single-thread quantization speed (MB/s of f32 input), next to ggml's figures.
// Usage: ggml_quant_bench [--rows N] [--types q4_K,q6_K] [--threads N]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "eval/synthetic.h"
#include "formats/ggml/decode.h"
#include "formats/ggml/encode.h"

using namespace lowbit;

int main(int argc, char** argv) {
  int64_t rows = 1024;
  const int64_t cols = 4096;
  int threads = 1;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--rows")) rows = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--types")) only = argv[i + 1];
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
  }
  const std::vector<float> x = GaussianValues(rows * cols, 42);
  double ref = 0;
  for (float v : x) ref += static_cast<double>(v) * v;
  ThreadPool pool(threads);
  std::printf("N(0,1) %lld x %lld, seed 42, %d thread(s)\n\n",
              static_cast<long long>(rows), static_cast<long long>(cols),
              pool.num_threads());
  std::printf(
      "| type | bits/weight | lowbit rel. RMSE | lowbit MB/s "
      "|\n|---|---:|---:|---:|\n");
  for (const GgmlTypeInfo& info : AllGgmlTypeInfos()) {
    if (!CanEncodeGgml(info.type) || info.type == GgmlType::kF32) continue;
    if (!only.empty() &&
        ("," + only + ",").find("," + std::string(info.ggml_name) + ",") ==
            std::string::npos) {
      continue;
    }
    const int64_t rb = info.RowBytes(cols);
    std::vector<uint8_t> q(static_cast<size_t>(rows * rb));
    const auto t0 = std::chrono::steady_clock::now();
    pool.ParallelFor(rows, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        QuantizeGgmlRow(info.type, x.data() + r * cols, q.data() + r * rb, cols,
                        nullptr);
      }
    });
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    std::vector<float> y(static_cast<size_t>(cols));
    double err = 0;
    for (int64_t r = 0; r < rows; ++r) {
      DequantizeGgmlRow(info.type, q.data() + r * rb, y.data(), cols);
      for (int64_t c = 0; c < cols; ++c) {
        const double d = static_cast<double>(x[r * cols + c]) - y[c];
        err += d * d;
      }
    }
    std::printf("| %s | %.4f | %.4f | %.1f |\n",
                std::string(info.ggml_name).c_str(),
                8.0 * static_cast<double>(rb) / cols, std::sqrt(err / ref),
                static_cast<double>(rows * cols * 4) / secs / 1e6);
    std::fflush(stdout);
  }
  return 0;
}
