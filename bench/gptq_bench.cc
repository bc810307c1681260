// gptq_bench: GPTQ of one square layer with its statistics given (issue 14:
// 4096 x 4096 in at most 5 s on one thread), next to round-to-nearest with the
// same scale search. H comes from correlated random inputs (not timed). Prints
// the time of each step of QuantizeGptq's work and the layer-output error
// proxies.
//   gptq_bench [--size N] [--rounds R] [--scheme int4] [--group-size 128]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "formats/scheme.h"
#include "kernels/linalg.h"
#include "quant/gptq.h"
#include "quant/quantize.h"

using namespace lowbit;

namespace {
double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

int main(int argc, char** argv) {
  int64_t n = 4096, group = 128;
  int rounds = 3;
  std::string scheme = "int4";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--size") n = std::atoll(argv[i + 1]);
    if (a == "--rounds") rounds = std::atoi(argv[i + 1]);
    if (a == "--scheme") scheme = argv[i + 1];
    if (a == "--group-size") group = std::atoll(argv[i + 1]);
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  // Inputs x = z A + noise with a low-rank mixing: correlated channels.
  const int64_t samples = 2 * n, rank = 64;
  std::vector<float> z(static_cast<size_t>(samples * rank)),
      a(static_cast<size_t>(rank * n)), x(static_cast<size_t>(samples * n));
  for (float& v : z) v = nd(rng);
  for (float& v : a) v = nd(rng);
  for (int64_t s = 0; s < samples; ++s) {
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.5f * nd(rng);
      for (int64_t r = 0; r < rank; ++r) acc += z[s * rank + r] * a[r * n + j];
      x[s * n + j] = acc;
    }
  }
  std::vector<float> h(static_cast<size_t>(n * n), 0.0f);
  AccumulateGram(x.data(), samples, n, h.data());
  SymmetrizeFromUpper(h.data(), n);
  for (float& v : h) v /= static_cast<float>(samples);
  x = std::vector<float>();
  std::vector<float> w(static_cast<size_t>(n * n));
  for (float& v : w) v = 0.02f * nd(rng);
  QuantConfig cfg;
  cfg.scheme = *ParseScheme(scheme);
  cfg.granularity =
      static_cast<int>(group > 0 ? Granularity::kGroup : Granularity::kChannel);
  cfg.group_size = group;
  ThreadPool pool(1);
  fmt::print("GPTQ, {} x {} layer, {} {}, one thread, {} rounds\n", n, n,
             scheme, group > 0 ? fmt::format("g{}", group) : "per channel",
             rounds);
  std::vector<double> rtn_s, gptq_s, gptq_report_s;
  GptqReport rep;
  for (int r = 0; r < rounds; ++r) {
    double t0 = Now();
    auto q = Quantize(w.data(), {n, n}, cfg, pool);
    rtn_s.push_back(Now() - t0);
    t0 = Now();
    auto g =
        QuantizeGptq(w.data(), {n, n}, cfg, h.data(), 1, GptqOptions{}, pool);
    gptq_s.push_back(Now() - t0);
    t0 = Now();
    auto g2 = QuantizeGptq(w.data(), {n, n}, cfg, h.data(), 1, GptqOptions{},
                           pool, &rep);
    gptq_report_s.push_back(Now() - t0);
    if (!q.ok() || !g.ok() || !g2.ok()) {
      fmt::print(stderr, "failed\n");
      return 1;
    }
  }
  auto med = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  auto spread = [](const std::vector<double>& v) {
    return fmt::format("{:.2f} .. {:.2f}",
                       *std::min_element(v.begin(), v.end()),
                       *std::max_element(v.begin(), v.end()));
  };
  fmt::print("round-to-nearest (mse search):      {:.2f} s ({})\n", med(rtn_s),
             spread(rtn_s));
  fmt::print("GPTQ:                               {:.2f} s ({})\n", med(gptq_s),
             spread(gptq_s));
  fmt::print("GPTQ with both error proxies:       {:.2f} s ({})\n",
             med(gptq_report_s), spread(gptq_report_s));
  fmt::print(
      "layer-output error proxy: RTN {:.4g}, GPTQ {:.4g} ({:.3f} of RTN)\n",
      rep.rtn_error, rep.gptq_error, rep.gptq_error / rep.rtn_error);
  return 0;
}
