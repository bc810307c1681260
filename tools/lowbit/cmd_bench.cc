// lowbit bench kernels: the machine's read bandwidth, then the quantized
// matrix-vector products (kernels/matvec.h) on LLM-sized shapes with the
// weights streamed from memory, next to OpenBLAS sgemv on the same shapes in
// the same run. Medians of several timed rounds.
#include <cblas-openblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>

#include "core/round.h"
#include "kernels/matvec.h"
#include "quant/quantize.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a) {
  return std::chrono::duration<double>(Clock::now() - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Read bandwidth: a vectorizable sum over `bytes` of floats, per thread a
// slice; the best of `rounds`, in GB/s.
double ReadBandwidth(size_t bytes, ThreadPool& pool, int rounds) {
  std::vector<float> buf(bytes / sizeof(float));
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<float>(i & 1023);
  double best = 0.0;
  volatile double sink = 0.0;
  for (int k = 0; k < rounds; ++k) {
    const auto t0 = Clock::now();
    std::vector<double> part(static_cast<size_t>(pool.num_threads()) + 1, 0.0);
    const int64_t n = static_cast<int64_t>(buf.size());
    const int64_t chunk = (n + pool.num_threads() - 1) / pool.num_threads();
    pool.ParallelFor(pool.num_threads(), 1, [&](int64_t a, int64_t b) {
      for (int64_t t = a; t < b; ++t) {
        const int64_t lo = t * chunk, hi = std::min(n, lo + chunk);
        if (lo < hi) {
          part[t] = LaneSum<float>(hi - lo, nullptr,
                                   [&](int64_t i) { return buf[lo + i]; });
        }
      }
    });
    const double s = Seconds(t0);
    for (double p : part) sink = sink + p;
    best = std::max(best, static_cast<double>(bytes) / s / 1e9);
  }
  return best;
}

struct Shape2 {
  int64_t rows, cols;
};

}  // namespace

Runner AddBench(CLI::App& app) {
  struct Opts {
    std::string what;
    bool json = false;
    int threads = 1, rounds = 5;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "bench",
      "Measure lowbit's kernels on this machine.\n"
      "  lowbit bench kernels: read bandwidth (a streaming sum over 1 GiB), "
      "then "
      "y = W x\n"
      "  for W of 4096x4096, 11008x4096 and 4096x11008 in int8 per channel and "
      "int4 in\n"
      "  groups of 32, weights streamed from memory (copies cycled past the "
      "caches), with\n"
      "  time, GB/s of weight bytes, the fraction of the measured bandwidth "
      "and "
      "the speed-up\n"
      "  over OpenBLAS sgemv on the f32 weights, all in the same run.");
  sub->add_option("WHAT", o->what, "what to measure: kernels")
      ->required()
      ->check(CLI::IsMember({"kernels"}));
  sub->add_option("--threads", o->threads, "threads (default 1)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--rounds", o->rounds, "timed rounds per figure (median)")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--json", o->json, "print the results as JSON");
  return [o]() -> Status {
    ThreadPool pool(o->threads);
    openblas_set_num_threads(o->threads);
    const double bw = ReadBandwidth(size_t{1} << 30, pool, 3);
    nlohmann::json j;
    j["threads"] = o->threads;
    j["read_bandwidth_gbs"] = bw;
    j["batch"] = 1;
    if (!o->json) {
      fmt::print(
          "read bandwidth: {:.1f} GB/s ({} thread(s), streaming sum over 1 "
          "GiB)\n\n",
          bw, o->threads);
      fmt::print("{:<12} {:<12} {:>9} {:>8} {:>11} {:>10} {:>10}\n", "shape",
                 "weights", "ms", "GB/s", "of bandw.", "sgemv ms", "vs sgemv");
    }
    nlohmann::json rows = nlohmann::json::array();
    std::mt19937 rng(1);
    std::normal_distribution<float> g(0.0f, 0.02f);
    constexpr size_t kStream = size_t{256} << 20;  // bytes cycled per figure
    for (const Shape2 s :
         {Shape2{4096, 4096}, Shape2{11008, 4096}, Shape2{4096, 11008}}) {
      const size_t n = static_cast<size_t>(s.rows * s.cols);
      std::vector<float> w(n);
      for (float& v : w) v = g(rng);
      std::vector<float> x(static_cast<size_t>(s.cols)),
          y(static_cast<size_t>(s.rows));
      for (float& v : x) v = g(rng);
      // OpenBLAS on f32 weights, two copies cycled (each already past the
      // last-level cache).
      std::vector<std::vector<float>> fw = {w, w};
      std::vector<double> tb;
      for (int k = 0; k < o->rounds; ++k) {
        const auto t0 = Clock::now();
        for (const auto& m : fw) {
          cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(s.rows),
                      static_cast<int>(s.cols), 1.0f, m.data(),
                      static_cast<int>(s.cols), x.data(), 1, 0.0f, y.data(), 1);
        }
        tb.push_back(Seconds(t0) / fw.size());
      }
      const double t_blas = Median(tb);
      for (const auto& [label, scheme, group, int_act] :
           {std::tuple<const char*, const char*, int64_t, bool>{
                "int8/channel", "int8", 0, false},
            {"int8 x int8act", "int8", 0, true},
            {"int4/g32", "int4", 32, false},
            {"int4 x int8act", "int4", 32, true}}) {
        QuantConfig c;
        c.scheme = *ParseScheme(scheme);
        c.granularity = static_cast<int>(group ? Granularity::kGroup
                                               : Granularity::kChannel);
        c.group_size = group;
        c.method.method = Method::kMinMax;
        c.scale_type = ScaleType::kF32;
        LB_ASSIGN_OR_RETURN(QuantizedTensor q,
                            Quantize(w.data(), Shape{s.rows, s.cols}, c, pool));
        const double bytes = static_cast<double>(q.StoredBytes());
        const size_t copies = std::max<size_t>(
            2, (kStream + q.codes.size() - 1) / q.codes.size());
        std::vector<QuantizedTensor> qs(copies, q);
        std::vector<double> tq;
        for (int k = 0; k < o->rounds; ++k) {
          const auto t0 = Clock::now();
          for (const auto& m : qs) {
            LB_RETURN_IF_ERROR(int_act ? MatVecQ8(m, x.data(), y.data(), pool)
                                       : MatVec(m, x.data(), y.data(), pool));
          }
          tq.push_back(Seconds(t0) / copies);
        }
        const double t = Median(tq), gbs = bytes / t / 1e9;
        const std::string shape = fmt::format("{}x{}", s.rows, s.cols);
        rows.push_back({{"shape", shape},
                        {"weights", label},
                        {"weight_bytes", bytes},
                        {"ms", t * 1e3},
                        {"gbs", gbs},
                        {"fraction_of_bandwidth", gbs / bw},
                        {"sgemv_ms", t_blas * 1e3},
                        {"speedup_vs_sgemv", t_blas / t}});
        if (!o->json) {
          fmt::print(
              "{:<12} {:<12} {:>9.3f} {:>8.1f} {:>10.0f}% {:>10.3f} "
              "{:>9.2f}x\n",
              shape, label, t * 1e3, gbs, 100 * gbs / bw, t_blas * 1e3,
              t_blas / t);
        }
      }
    }
    j["products"] = rows;
    if (o->json) {
      fmt::print("{}\n", j.dump(2));
    } else {
      fmt::print(
          "\n(batch 1; sgemv's own GB/s = 4 bytes per weight / its time)\n");
    }
    return Status::Ok();
  };
}

}  // namespace lowbit::cli
