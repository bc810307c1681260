// Relative RMSE and bits per weight of every scheme and method on an N(0,1)
// tensor (default 1024 x 4096), printed as the markdown table of
// docs/benchmarks.md. Usage: scheme_error_bench [ROWS COLS] [--threads N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "eval/error_stats.h"
#include "eval/synthetic.h"
#include "quant/quantize.h"

using namespace lowbit;

namespace {

struct Row {
  std::string scheme;
  int granularity;  // -1 default
  int64_t group;
  int symmetric;
  std::string label;
};

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 1024, cols = 4096;
  int threads = 0;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else {
      pos.push_back(argv[i]);
    }
  }
  if (pos.size() == 2) {
    rows = std::atoll(pos[0].c_str());
    cols = std::atoll(pos[1].c_str());
  }
  const std::vector<float> x = GaussianValues(rows * cols, 42);
  ThreadPool pool(threads);
  const int T = static_cast<int>(Granularity::kTensor);
  const int C = static_cast<int>(Granularity::kChannel);
  const int G = static_cast<int>(Granularity::kGroup);
  const std::vector<Row> grid = {
      {"int8", T, 0, 1, "per-tensor"},
      {"int8", C, 0, 1, "per-channel"},
      {"int8", G, 32, 1, "group 32"},
      {"int6", C, 0, 1, "per-channel"},
      {"int5", G, 32, 1, "group 32"},
      {"int4", C, 0, 1, "per-channel"},
      {"int4", G, 128, 1, "group 128"},
      {"int4", G, 64, 1, "group 64"},
      {"int4", G, 32, 1, "group 32"},
      {"int4", G, 32, 0, "group 32 asym"},
      {"int4", G, 128, 0, "group 128 asym"},
      {"int3", G, 32, 1, "group 32"},
      {"int3", G, 32, 0, "group 32 asym"},
      {"int2", G, 32, 1, "group 32"},
      {"int2", G, 32, 0, "group 32 asym"},
      {"binary", C, 0, 1, "per-channel"},
      {"ternary", C, 0, 1, "per-channel"},
      {"nf4", G, 64, 1, "group 64"},
      {"nf4", G, 32, 1, "group 32"},
      {"fp8_e4m3", C, 0, 1, "per-channel"},
      {"fp8_e5m2", C, 0, 1, "per-channel"},
      {"fp4_e2m1", G, 32, 1, "group 32"},
      {"mxfp4", G, 32, 1, "group 32"},
      {"kmeans4", C, 0, 1, "per-channel"},
      {"kmeans3", C, 0, 1, "per-channel"},
      {"kmeans2", C, 0, 1, "per-channel"},
      {"kmeans8", C, 0, 1, "per-channel"},
      {"kmeans4", T, 0, 1, "per-tensor"},
  };
  const std::vector<std::string> methods = {"minmax", "percentile:99.9", "mse"};
  std::printf("N(0,1) tensor %lld x %lld, seed 42, %d threads\n\n",
              static_cast<long long>(rows), static_cast<long long>(cols),
              pool.num_threads());
  std::printf(
      "| scheme | granularity | method | bits/weight | rel. RMSE | SQNR dB | "
      "seconds |\n|---|---|---|---:|---:|---:|---:|\n");
  for (const Row& r : grid) {
    const bool kmeans = r.scheme.rfind("kmeans", 0) == 0;
    for (const std::string& mname : methods) {
      if (kmeans && mname != "mse") continue;  // k-means has no clipping choice
      QuantConfig cfg;
      cfg.scheme = *ParseScheme(r.scheme);
      cfg.granularity = r.granularity;
      cfg.group_size = r.group;
      cfg.symmetric = r.symmetric;
      cfg.method = ParseMethod(mname).value();
      const auto t0 = std::chrono::steady_clock::now();
      auto q = Quantize(x.data(), {rows, cols}, cfg, pool);
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
              .count();
      if (!q.ok()) {
        std::printf("| %s | %s | %s | error: %s |\n", r.scheme.c_str(),
                    r.label.c_str(), mname.c_str(),
                    q.status().message().c_str());
        continue;
      }
      const std::vector<float> y = Dequantize(*q);
      ErrorStats s;
      s.Add(x.data(), y.data(), rows * cols);
      std::printf("| %s | %s | %s | %.3f | %.4f | %.2f | %.2f |\n",
                  r.scheme.c_str(), r.label.c_str(),
                  kmeans ? "k-means++/Lloyd" : mname.c_str(),
                  q->BitsPerWeight(), s.rel_rmse(), s.sqnr_db(), secs);
      std::fflush(stdout);
    }
  }
  return 0;
}
