// qgemm_bench: the products the engine's fast mode runs on quantized weights
// (kernels/packed.h MatMulQ8: int8 activations per row, VNNI) against the f32
// product of the exact mode (kernels/sgemm.h, oneDNN), at the PaddleOCR
// recognizer's pointwise-convolution shapes: M pixels x K inputs -> N outputs.
// Rounds interleave the kernels; prints medians in GMAC/s.
//   qgemm_bench [--rounds N]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "core/workspace.h"
#include "kernels/packed.h"
#include "kernels/qgemm.h"
#include "kernels/sgemm.h"
#include "quant/quantize.h"

using namespace lowbit;

namespace {
double Seconds() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--rounds") rounds = std::atoi(argv[i + 1]);
  ThreadPool pool(1);
  Workspace ws;
  struct S {
    int64_t m, k, n;
  };
  const S shapes[] = {{3840, 64, 64},  {1920, 128, 128}, {960, 240, 240},
                      {480, 480, 480}, {240, 480, 480},  {40, 120, 6625},
                      {40, 120, 360}};
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  fmt::print(
      "{:>18} {:>10} {:>10} {:>10} {:>10} {:>10}  (GMAC/s, median of {})\n",
      "M x K -> N", "sgemm f32", "q8 int8", "q8 int4g32", "qgemm i8",
      "qgemm i4", rounds);
  fmt::print(
      "qgemm columns: int8 per channel, int4 groups of 32 (kernel: {})\n",
      QGemmKernelName(QGemmBestKernel()));
  for (const S& s : shapes) {
    std::vector<float> x(s.m * s.k), w(s.n * s.k), y(s.m * s.n);
    for (float& v : x) v = nd(rng);
    for (float& v : w) v = nd(rng);
    QuantConfig c8;
    c8.scheme = *ParseScheme("int8");
    c8.granularity = static_cast<int>(Granularity::kChannel);
    QuantConfig c4;
    c4.scheme = *ParseScheme("int4");
    c4.granularity = static_cast<int>(Granularity::kGroup);
    c4.group_size = 32;
    auto q8 = Quantize(w.data(), {s.n, s.k}, c8, pool);
    auto q4 = Quantize(w.data(), {s.n, s.k}, c4, pool);
    if (!q8.ok() || !q4.ok()) {
      fmt::print("quantize failed\n");
      return 1;
    }
    auto p8 = Pack(*q8);
    auto p4 = Pack(*q4);

    std::vector<double> t[5];
    auto g8 = PrepareQGemm(*q8);
    auto g4 = PrepareQGemm(*q4);
    const double macs = double(s.m) * s.k * s.n;
    for (int r = 0; r < rounds; ++r) {
      for (int kind = 0; kind < 5; ++kind) {
        if ((kind == 1 && !p8.ok()) || (kind == 2 && !p4.ok())) {
          t[kind].push_back(0);
          continue;
        }
        const int reps = std::max<int>(1, int(2e8 / macs));
        double t0 = Seconds();
        for (int i = 0; i < reps; ++i) {
          if (kind == 0)
            Sgemm(false, true, s.m, s.n, s.k, 1, x.data(), s.k, w.data(), s.k,
                  0, y.data(), s.n);
          else if (kind >= 3)
            QGemm(kind == 3 ? *g8 : *g4, x.data(), s.m, s.k, y.data(), s.n,
                  pool, ws);
          else
            (void)MatMulQ8(kind == 1 ? *p8 : *p4, x.data(), s.m, y.data(), pool,
                           ws);
        }
        t[kind].push_back(macs * reps / (Seconds() - t0) / 1e9);
      }
    }
    fmt::print("{:>18} {:>10.1f} {:>10.1f} {:>10.1f} {:>10.1f} {:>10.1f}\n",
               fmt::format("{}x{}->{}", s.m, s.k, s.n), Median(t[0]),
               Median(t[1]), Median(t[2]), Median(t[3]), Median(t[4]));
  }
}
