// lowbit bench kernels: the machine's read bandwidth, then the quantized
// products (kernels/matvec.h at batch 1, kernels/matmul.h above) on LLM-sized
// shapes with the weights streamed from memory, next to OpenBLAS sgemv / sgemm
// on the same shapes in the same run. Medians of several timed rounds.
#include <cblas-openblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "core/huge_pages.h"
#include "core/round.h"
#include "io/onnx_model.h"
#include "kernels/matmul.h"
#include "kernels/matvec.h"
#include "kernels/packed.h"
#include "pipeline/bench_model.h"
#include "quant/ggml_quantize.h"
#include "quant/quantize.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {
namespace {

// The sum of n floats in eight independent lanes (a read-rate loop the
// compiler vectorizes without reassociating one running sum).
double SumFloats(const float* x, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += x[i + k];
  }
  for (; i < n; ++i) acc[i & 7] += x[i];
  double sum = 0.0;
  for (float a : acc) sum += a;
  return sum;
}

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
  // On huge pages, like the packed weights: the best streaming rate.
  std::vector<float, HugePageAllocator<float>> buf(bytes / sizeof(float));
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
          part[t] = SumFloats(buf.data() + lo, hi - lo);
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

// The forms measured, in order (see `forms` below).
constexpr const char* kFormLabels[] = {
    "int8/channel",   "int8 x int8act", "int4/g32",       "int4 x int8act",
    "nf4/g64",        "kmeans4/chan",   "int8 packed x8", "int4 packed x8",
    "q4_0 packed x8", "q4_K packed x8", "q8_0 packed x8", "q6_K packed x8"};

// How a form's product is computed.
enum class Mode { kF32, kInt8Act, kPacked };

}  // namespace

Runner AddBench(CLI::App& app) {
  struct Opts {
    std::string what;
    bool json = false;
    int threads = 1, rounds = 5;
    std::vector<int64_t> batches = {1, 8, 32};
    std::vector<std::string> shapes = {"4096x4096", "11008x4096", "4096x11008"};
    std::vector<std::string> only;
    std::vector<std::string> inputs;
    int repeat = 10;
    bool fast = false, no_ort = false;
    std::string ort_model;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "bench",
      "Measure lowbit's kernels on this machine.\n"
      "  lowbit bench kernels: read bandwidth (a streaming sum over 1 GiB), "
      "then Y = X W^T\n"
      "  for W of 4096x4096, 11008x4096 and 4096x11008 (--shape) in every "
      "form: int8 per\n"
      "  channel, int4 in groups of 32, nf4, kmeans4 (f32 or int8 "
      "activations) and the\n"
      "  packed layouts (int8, int4, ggml q4_0/q4_K/q8_0/q6_K; int8 "
      "activations), at\n"
      "  batches of 1, 8 and 32 activation rows, weights streamed from memory "
      "(copies\n"
      "  cycled past the caches): time, GB/s of weight bytes, the fraction of "
      "the measured\n"
      "  bandwidth, GFLOP/s and the speed-up over OpenBLAS (sgemv at batch 1, "
      "sgemm above)\n"
      "  on the f32 weights, all in the same run. The machine is shared: "
      "compare medians\n"
      "  of several runs (docs/benchmarks.md).\n"
      "  Example: lowbit bench kernels --batch 1 --only packed --json\n"
      "  lowbit bench MODEL.onnx: the model on lowbit's engine and on ONNX "
      "Runtime (Node,\n"
      "  tools/ort/run_npy.js) on the same inputs, rounds alternating: median "
      "latency,\n"
      "  spread, peak resident memory of each, ratio_to_ort in --json.\n"
      "  Example: lowbit bench rec.onnx --shape x=1,3,48,320 --threads 1 "
      "--rounds 5");
  sub->add_option("WHAT", o->what, "what to measure: kernels, or a .onnx model")
      ->required();
  sub->add_option("--input", o->inputs, "model: NAME=FILE.npy (repeatable)");
  sub->add_option("--repeat", o->repeat, "model: runs per round (default 10)")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--fast", o->fast,
                "model: int8 activations for quantized weights");
  sub->add_flag("--no-ort", o->no_ort, "model: do not measure ONNX Runtime");
  sub->add_option("--ort-model", o->ort_model,
                  "model: the model ONNX Runtime runs instead of MODEL (e.g. "
                  "the fp32 original of a quantized MODEL)");
  sub->add_option("--threads", o->threads, "threads (default 1)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--rounds", o->rounds, "timed rounds per figure (median)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--batch", o->batches,
                  "activation rows per product (default 1 8 32)")
      ->check(CLI::PositiveNumber);
  sub->add_option(
      "--shape", o->shapes,
      "kernels: weight shapes ROWSxCOLS (default 4096x4096 11008x4096 "
      "4096x11008); model: NAME=d0,d1,... for a random input");
  sub->add_option("--only", o->only,
                  "measure only the forms whose label contains one of these "
                  "words (e.g. packed, q4_K, int8act)");
  sub->add_flag("--json", o->json, "print the results as JSON");
  return [o, sub]() -> Status {
    if (o->what != "kernels") {
      if (!HasOnnxExtension(o->what)) {
        return InvalidArgument("bench " + o->what +
                               ": measure `kernels` or a .onnx model");
      }
      BenchModelOptions b;
      b.model = o->what;
      b.threads = o->threads;
      b.repeat = o->repeat;
      b.rounds = sub->count("--rounds") ? o->rounds : 3;
      b.fast = o->fast;
      b.ort = !o->no_ort;
      b.ort_model = o->ort_model;
      for (const std::string& in : o->inputs) {
        const size_t eq = in.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == in.size()) {
          return InvalidArgument("--input " + in + ": expected NAME=FILE.npy");
        }
        b.inputs[in.substr(0, eq)] = in.substr(eq + 1);
      }
      if (sub->count("--shape")) {
        for (const std::string& sh : o->shapes) {
          const size_t eq = sh.find('=');
          if (eq == std::string::npos || eq == 0) {
            return InvalidArgument("--shape " + sh +
                                   ": expected NAME=d0,d1,...");
          }
          Shape dims;
          for (size_t p = eq + 1; p <= sh.size();) {
            const size_t q = std::min(sh.find(',', p), sh.size());
            int64_t d = 0;
            const auto [end, ec] =
                std::from_chars(sh.data() + p, sh.data() + q, d);
            if (ec != std::errc() || end != sh.data() + q || d < 1) {
              return InvalidArgument("--shape " + sh +
                                     ": dimensions must be positive integers");
            }
            dims.push_back(d);
            p = q + 1;
          }
          b.shapes[sh.substr(0, eq)] = dims;
        }
      }
      LB_ASSIGN_OR_RETURN(BenchModelResult r, BenchModel(b));
      if (o->json) {
        fmt::print("{}\n", r.report.dump(2));
      } else {
        fmt::print("{}", r.text);
      }
      return Status::Ok();
    }
    std::vector<Shape2> shapes;
    for (const std::string& t : o->shapes) {
      Shape2 s{0, 0};
      char x = 0, extra = 0;
      if (std::sscanf(t.c_str(), "%" SCNd64 "%c%" SCNd64 "%c", &s.rows, &x,
                      &s.cols, &extra) != 3 ||
          x != 'x' || s.rows < 1 || s.cols < 1 || s.cols % 256 != 0 ||
          s.rows * s.cols > (int64_t{1} << 28)) {
        return InvalidArgument(fmt::format(
            "--shape {}: expected ROWSxCOLS with COLS a multiple of 256 and "
            "at most 2^28 weights (e.g. 4096x11008)",
            t));
      }
      shapes.push_back(s);
    }
    auto wanted = [&](const std::string& label) {
      if (o->only.empty()) return true;
      for (const std::string& w : o->only) {
        if (label.find(w) != std::string::npos) return true;
      }
      return false;
    };
    {
      bool any = false;
      for (const char* label : kFormLabels) any = any || wanted(label);
      if (!any) {
        std::string all;
        for (const char* label : kFormLabels)
          all += fmt::format(" '{}'", label);
        return InvalidArgument(
            "--only: no form's label contains any of these words; the forms "
            "are" +
            all);
      }
    }
    ThreadPool pool(o->threads);
    Workspace ws;  // the products' scratch, sized by the first call
    openblas_set_num_threads(o->threads);
    const double bw = ReadBandwidth(size_t{1} << 30, pool, 3);
    nlohmann::json j;
    j["threads"] = o->threads;
    j["read_bandwidth_gbs"] = bw;
    j["matmul_target"] = MatMulTarget();
    if (!o->json) {
      fmt::print(
          "read bandwidth: {:.1f} GB/s ({} thread(s), streaming sum over 1 "
          "GiB)\n\n",
          bw, o->threads);
      fmt::print("{:<12} {:>5} {:<15} {:>9} {:>8} {:>11} {:>8} {:>9} {:>10}\n",
                 "shape", "batch", "weights", "ms", "GB/s", "of bandw.",
                 "GFLOP/s", "BLAS ms", "vs BLAS");
    }
    nlohmann::json rows = nlohmann::json::array();
    std::mt19937 rng(1);
    std::normal_distribution<float> g(0.0f, 0.02f);
    constexpr size_t kStream = size_t{256} << 20;  // bytes cycled per figure
    for (const Shape2 s : shapes) {
      const size_t n = static_cast<size_t>(s.rows * s.cols);
      std::vector<float> w(n);
      for (float& v : w) v = g(rng);
      // OpenBLAS on f32 weights, two copies cycled (each already past the
      // last-level cache).
      std::vector<std::vector<float>> fw = {w, w};
      // The weights in every form measured: lowbit tensors (minmax), ggml
      // blocks from lowbit's encoders, and repacked copies.
      struct Form {
        const char* label;
        int tensor;  // index into `tensors`, or -1 for a packed form
        Mode mode;
        int packed;  // index into `packed` for kPacked
      };
      const std::vector<Form> forms = {{kFormLabels[0], 0, Mode::kF32, 0},
                                       {kFormLabels[1], 0, Mode::kInt8Act, 0},
                                       {kFormLabels[2], 1, Mode::kF32, 0},
                                       {kFormLabels[3], 1, Mode::kInt8Act, 0},
                                       {kFormLabels[4], 2, Mode::kF32, 0},
                                       {kFormLabels[5], 3, Mode::kF32, 0},
                                       {kFormLabels[6], -1, Mode::kPacked, 0},
                                       {kFormLabels[7], -1, Mode::kPacked, 1},
                                       {kFormLabels[8], -1, Mode::kPacked, 2},
                                       {kFormLabels[9], -1, Mode::kPacked, 3},
                                       {kFormLabels[10], -1, Mode::kPacked, 4},
                                       {kFormLabels[11], -1, Mode::kPacked, 5}};
      // Only the forms asked for are built (--only).
      std::vector<bool> need_tensor(4, false), need_packed(6, false);
      for (const Form& f : forms) {
        if (!wanted(f.label)) continue;
        if (f.mode == Mode::kPacked) {
          need_packed[f.packed] = true;
          if (f.packed < 2) need_tensor[f.packed] = true;  // Pack(tensor)
        } else {
          need_tensor[f.tensor] = true;
        }
      }
      std::vector<QuantizedTensor> tensors(4);
      int ti = 0;
      for (const auto& [scheme, gran, group] :
           {std::tuple<const char*, Granularity, int64_t>{
                "int8", Granularity::kChannel, 0},
            {"int4", Granularity::kGroup, 32},
            {"nf4", Granularity::kGroup, 64},
            {"kmeans4", Granularity::kChannel, 0}}) {
        if (!need_tensor[ti++]) continue;
        QuantConfig c;
        c.scheme = *ParseScheme(scheme);
        c.granularity = static_cast<int>(gran);
        c.group_size = group;
        c.method.method = Method::kMinMax;
        // int4 with f16 scales, lowbit's usual choice (packed: the f16 row
        // header); f32 elsewhere.
        c.scale_type =
            std::string(scheme) == "int4" ? ScaleType::kF16 : ScaleType::kF32;
        LB_ASSIGN_OR_RETURN(tensors[ti - 1],
                            Quantize(w.data(), Shape{s.rows, s.cols}, c, pool));
      }
      std::vector<PackedMatrix> packed(6);
      for (int i = 0; i < 2; ++i) {
        if (need_packed[i]) {
          LB_ASSIGN_OR_RETURN(packed[i], Pack(tensors[i]));
        }
      }
      int pi = 2;
      for (GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ4_K, GgmlType::kQ8_0,
                         GgmlType::kQ6_K}) {
        if (!need_packed[pi++]) continue;
        std::vector<uint8_t> blocks(
            static_cast<size_t>(s.rows * GetGgmlTypeInfo(t).RowBytes(s.cols)));
        QuantizeGgmlRows(t, w.data(), blocks.data(), s.rows, s.cols, nullptr);
        LB_ASSIGN_OR_RETURN(
            packed[pi - 1],
            PackGgml(static_cast<int>(t), blocks.data(), s.rows, s.cols));
      }
      for (const int64_t batch : o->batches) {
        std::vector<float> x(static_cast<size_t>(batch * s.cols)),
            y(static_cast<size_t>(batch * s.rows));
        for (float& v : x) v = g(rng);
        std::vector<double> tb;
        for (int k = 0; k < o->rounds; ++k) {
          const auto t0 = Clock::now();
          for (const auto& m : fw) {
            if (batch == 1) {
              cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(s.rows),
                          static_cast<int>(s.cols), 1.0f, m.data(),
                          static_cast<int>(s.cols), x.data(), 1, 0.0f, y.data(),
                          1);
            } else {  // Y (batch x rows) = X (batch x cols) W^T
              cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                          static_cast<int>(batch), static_cast<int>(s.rows),
                          static_cast<int>(s.cols), 1.0f, x.data(),
                          static_cast<int>(s.cols), m.data(),
                          static_cast<int>(s.cols), 0.0f, y.data(),
                          static_cast<int>(s.rows));
            }
          }
          tb.push_back(Seconds(t0) / fw.size());
        }
        const double t_blas = Median(tb);
        const double flops = 2.0 * static_cast<double>(n) * batch;
        for (const Form& f : forms) {
          const char* label = f.label;
          if (!wanted(label)) continue;
          // Batched products: every packed form; the tensors with f32
          // activations, and with int8 activations for int8 weights.
          if (batch > 1 &&
              ((f.mode == Mode::kInt8Act &&
                !MatMulQ8Supports(tensors[f.tensor])) ||
               (f.mode == Mode::kF32 && !MatMulSupports(tensors[f.tensor])))) {
            continue;
          }
          std::vector<double> tq;
          double bytes = 0;
          if (f.mode == Mode::kPacked) {
            const PackedMatrix& pm = packed[f.packed];
            bytes = static_cast<double>(pm.StoredBytes());
            const size_t copies = std::max<size_t>(
                2, (kStream + pm.data.size() - 1) / pm.data.size());
            std::vector<PackedMatrix> ps(copies, pm);
            for (int k = 0; k < o->rounds; ++k) {
              const auto t0 = Clock::now();
              for (const auto& m : ps) {
                LB_RETURN_IF_ERROR(
                    MatMulQ8(m, x.data(), batch, y.data(), pool, ws));
              }
              tq.push_back(Seconds(t0) / copies);
            }
          } else {
            const QuantizedTensor& q = tensors[f.tensor];
            const bool int_act = f.mode == Mode::kInt8Act;
            bytes = static_cast<double>(q.StoredBytes());
            const size_t copies = std::max<size_t>(
                2, (kStream + q.codes.size() - 1) / q.codes.size());
            std::vector<QuantizedTensor> qs(copies, q);
            for (int k = 0; k < o->rounds; ++k) {
              const auto t0 = Clock::now();
              for (const auto& m : qs) {
                if (batch == 1) {
                  LB_RETURN_IF_ERROR(
                      int_act ? MatVecQ8(m, x.data(), y.data(), pool, ws)
                              : MatVec(m, x.data(), y.data(), pool, ws));
                } else {
                  LB_RETURN_IF_ERROR(
                      int_act ? MatMulQ8(m, x.data(), batch, y.data(), pool, ws)
                              : MatMul(m, x.data(), batch, y.data(), pool, ws));
                }
              }
              tq.push_back(Seconds(t0) / copies);
            }
          }
          const double t = Median(tq), gbs = bytes / t / 1e9;
          const std::string shape = fmt::format("{}x{}", s.rows, s.cols);
          rows.push_back({{"shape", shape},
                          {"batch", batch},
                          {"weights", label},
                          {"weight_bytes", bytes},
                          {"ms", t * 1e3},
                          {"gbs", gbs},
                          {"fraction_of_bandwidth", gbs / bw},
                          {"gflops", flops / t / 1e9},
                          {"blas", batch == 1 ? "sgemv" : "sgemm"},
                          {"blas_ms", t_blas * 1e3},
                          {"blas_gflops", flops / t_blas / 1e9},
                          {"speedup_vs_blas", t_blas / t}});
          if (!o->json) {
            fmt::print(
                "{:<12} {:>5} {:<15} {:>9.3f} {:>8.1f} {:>10.0f}% {:>8.1f} "
                "{:>9.3f} {:>9.2f}x\n",
                shape, batch, label, t * 1e3, gbs, 100 * gbs / bw,
                flops / t / 1e9, t_blas * 1e3, t_blas / t);
          }
        }
      }
    }
    j["products"] = rows;
    if (o->json) {
      fmt::print("{}\n", j.dump(2));
    } else {
      fmt::print(
          "\n(BLAS: OpenBLAS sgemv at batch 1, sgemm above, on the f32 "
          "weights; batched kernels on {})\n",
          MatMulTarget());
    }
    return Status::Ok();
  };
}

}  // namespace lowbit::cli
