// ggml block formats on a 1024 x 4096 N(0,1) tensor: lowbit's relative RMSE and
// single-thread quantization speed (MB/s of f32 input), next to ggml's figures.
// With --golden FILE (../shared/testdata/ggml/golden.gguf), instead compares
// lowbit with ggml's own encoder on the golden src rows 0-5, read through
// lowbit's GGUF reader. Usage: ggml_quant_bench [--rows N] [--types q4_K,q6_K]
// [--threads N] [--repeat R] [--golden FILE]; with --repeat the median of R
// timed runs is reported.
#include <algorithm>
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
#include "io/gguf.h"
#include "quant/ggml_baseline.h"
#include "quant/ggml_quantize.h"

using namespace lowbit;

namespace {

double RelRmse(const float* x, const float* y, int64_t n) {
  double e = 0, r = 0;
  for (int64_t i = 0; i < n; ++i) {
    e +=
        (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    r += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(e / r);
}

int Golden(const std::string& path) {
  auto f = GgufFile::Open(path);
  if (!f.ok()) {
    std::fprintf(stderr, "%s\n", f.status().message().c_str());
    return 2;
  }
  const GgufTensorInfo* src = (*f)->FindTensor("src");
  const int64_t cols = 512, n = 6 * cols;  // rows 0-5: N(0,1)
  std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(cols));
  std::memcpy(x.data(), src->data, static_cast<size_t>(n) * 4);
  std::printf("golden src rows 0-5 (3072 N(0,1) values written by ggml)\n\n");
  std::printf(
      "| type | ggml rel. RMSE | lowbit rel. RMSE | lowbit vs ggml |\n"
      "|---|---:|---:|---:|\n");
  for (const GgmlTypeInfo& info : AllGgmlTypeInfos()) {
    if (!info.codec || info.type == GgmlType::kF32) continue;
    const GgufTensorInfo* deq =
        (*f)->FindTensor("deq." + std::string(info.ggml_name));
    if (deq == nullptr) continue;
    std::vector<float> g(static_cast<size_t>(n)), ours(static_cast<size_t>(n));
    std::memcpy(g.data(), deq->data, static_cast<size_t>(n) * 4);
    std::vector<uint8_t> q(static_cast<size_t>(info.RowBytes(cols)));
    for (int r = 0; r < 6; ++r) {
      QuantizeGgmlRow(info.type, x.data() + r * cols, q.data(), cols, nullptr);
      DequantizeGgmlRow(info.type, q.data(), ours.data() + r * cols, cols);
    }
    const double a = RelRmse(x.data(), g.data(), n),
                 b = RelRmse(x.data(), ours.data(), n);
    std::printf("| %s | %.6f | %.6f | %+.1f%% |\n",
                std::string(info.ggml_name).c_str(), a, b,
                100.0 * (b / a - 1.0));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 1024;
  const int64_t cols = 4096;
  int threads = 1;
  int repeat = 1;  // timed runs per type; the median is reported
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--rows")) rows = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--types")) only = argv[i + 1];
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--repeat")) repeat = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--golden")) return Golden(argv[i + 1]);
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
    std::vector<double> times;
    for (int rep = 0; rep < std::max(1, repeat); ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      pool.ParallelFor(rows, 0, [&](int64_t r0, int64_t r1) {
        QuantizeGgmlRows(info.type, x.data() + r0 * cols, q.data() + r0 * rb,
                         r1 - r0, cols, nullptr);
      });
      times.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
              .count());
    }
    std::sort(times.begin(), times.end());
    const double secs = times[times.size() / 2];
    // Sum of squared differences from x of the rows `decode` writes.
    std::vector<float> y(static_cast<size_t>(cols));
    auto squared_error = [&](auto decode) {
      double e = 0;
      for (int64_t r = 0; r < rows; ++r) {
        decode(r, y.data());
        for (int64_t c = 0; c < cols; ++c) {
          const double d = static_cast<double>(x[r * cols + c]) - y[c];
          e += d * d;
        }
      }
      return e;
    };
    const double err = squared_error([&](int64_t r, float* out) {
      DequantizeGgmlRow(info.type, q.data() + r * rb, out, cols);
    });
    // ggml's own choice on the same tensor, where lowbit has a bit-exact
    // re-implementation of it (quant/ggml_baseline.h).
    std::string same = "";
    if (HasGgmlBaseline(info.type)) {
      const double ge = squared_error([&](int64_t r, float* out) {
        GgmlBaselineRow(info.type, x.data() + r * cols, out, cols);
      });
      char buf[96];
      std::snprintf(buf, sizeof(buf), " (ggml on this tensor %.5f: %+.1f%%)",
                    std::sqrt(ge / ref), 100.0 * (std::sqrt(err / ge) - 1.0));
      same = buf;
    }
    std::printf("| %s%s | %.4f | %.5f | %.1f |\n",
                std::string(info.ggml_name).c_str(), same.c_str(),
                8.0 * static_cast<double>(rb) / cols, std::sqrt(err / ref),
                static_cast<double>(rows * cols * 4) / secs / 1e6);
    std::fflush(stdout);
  }
  return 0;
}
