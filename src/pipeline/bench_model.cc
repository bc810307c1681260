#include "pipeline/bench_model.h"

#include <cblas-openblas.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "graph/session.h"
#include "io/npy.h"
#include "io/onnx_import.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

double Median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

std::string FindRunner(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("LOWBIT_ORT_RUNNER")) return env;
#ifdef LOWBIT_SOURCE_DIR
  const fs::path p = fs::path(LOWBIT_SOURCE_DIR) / "tools/ort/run_npy.js";
  if (fs::exists(p)) return p.string();
#endif
  return "";
}

// Runs ONNX Runtime once (a Node process: session, `repeat` runs); the JSON
// it prints, or an error.
Result<nlohmann::json> RunOrt(const std::string& runner,
                              const BenchModelOptions& o,
                              const std::map<std::string, std::string>& files) {
  const fs::path deps =
      fs::path(runner).parent_path().parent_path().parent_path() / "node_deps" /
      "node_modules";
  std::string cmd = "NODE_PATH=" + Quote(deps.string()) + " node " +
                    Quote(runner) + " " +
                    Quote(o.ort_model.empty() ? o.model : o.ort_model) +
                    " --threads " + std::to_string(o.threads) + " --repeat " +
                    std::to_string(o.repeat) + " --json --no-write";
  for (const auto& [name, file] : files)
    cmd += " --input " + Quote(name + "=" + file);
  cmd += " 2>&1 </dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return IoError("cannot start node for ONNX Runtime");
  std::string out;
  char buf[4096];
  size_t k;
  while ((k = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, k);
  const int rc = ::pclose(p);
  if (rc != 0) {
    return IoError("ONNX Runtime (" + runner +
                   ") failed: " + out.substr(0, out.find('\n')));
  }
  try {
    return nlohmann::json::parse(out.substr(out.rfind('{')));
  } catch (const std::exception&) {
    return IoError("ONNX Runtime printed no timing: " + out.substr(0, 200));
  }
}

}  // namespace

Result<BenchModelResult> BenchModel(const BenchModelOptions& o) {
  using Clock = std::chrono::steady_clock;
  LB_ASSIGN_OR_RETURN(auto g, ImportOnnx(o.model));
  graph::SessionOptions so;
  so.threads = o.threads;
  so.fast = o.fast;
  auto made = graph::Session::Create(g, so);
  if (!made.ok()) return made.status().WithPrefix(o.model);
  graph::Session& s = **made;
  // Inputs: the given files, else seeded uniform [0, 1) values of --shape
  // (written to a temporary folder for ONNX Runtime).
  std::map<std::string, graph::Tensor> feeds;
  std::map<std::string, std::string> files = o.inputs;
  for (const auto& [name, path] : o.inputs) {
    LB_ASSIGN_OR_RETURN(feeds[name], ReadNpy(path));
  }
  const fs::path tmp = fs::temp_directory_path() /
                       ("lowbit-bench-" + std::to_string(::getpid()));
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (const graph::ValueInfo& v : s.inputs()) {
    if (feeds.count(v.name)) continue;
    Shape shape;
    if (auto it = o.shapes.find(v.name); it != o.shapes.end()) {
      shape = it->second;
    } else {
      for (int64_t d : v.dims) {
        if (d < 0) {
          return InvalidArgument(
              "input '" + v.name + "' has free dimensions: give --input " +
              v.name + "=FILE.npy or --shape " + v.name + "=d0,d1,...");
        }
        shape.push_back(d);
      }
    }
    graph::Tensor t = graph::Tensor::Zeros(DType::kF32, shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
    feeds[v.name] = t;
    fs::create_directories(tmp);
    const std::string f = (tmp / (v.name + ".npy")).string();
    LB_RETURN_IF_ERROR(WriteNpy(f, t));
    files[v.name] = f;
  }
  const std::string runner = o.ort ? FindRunner(o.ort_runner) : "";
  std::vector<double> ours, theirs;
  int64_t ort_rss = 0;
  std::string ort_note = runner.empty() ? "tools/ort/run_npy.js not found" : "";
  // One warm-up run (plans, buffers), not timed.
  {
    auto w = s.Run(feeds);
    if (!w.ok()) return w.status().WithPrefix(o.model);
  }
  for (int r = 0; r < std::max(1, o.rounds); ++r) {
    std::vector<double> t;
    for (int k = 0; k < std::max(1, o.repeat); ++k) {
      const auto t0 = Clock::now();
      auto res = s.Run(feeds);
      if (!res.ok()) return res.status().WithPrefix(o.model);
      t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    ours.push_back(Median(t));
    if (!runner.empty() && ort_note.empty()) {
      auto j = RunOrt(runner, o, files);
      if (!j.ok()) {
        ort_note = j.status().message();
      } else {
        std::vector<double> rt = (*j)["run_seconds"].get<std::vector<double>>();
        if (rt.size() > 1) rt.erase(rt.begin());  // its first run warms up
        theirs.push_back(Median(rt));
        ort_rss =
            std::max<int64_t>(ort_rss, (*j)["max_rss_bytes"].get<int64_t>());
      }
    }
  }
  std::error_code ec;
  fs::remove_all(tmp, ec);
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  const int64_t rss = static_cast<int64_t>(ru.ru_maxrss) * 1024;
  BenchModelResult res;
  const double med = Median(ours);
  auto [omin, omax] = std::minmax_element(ours.begin(), ours.end());
  res.report = {{"model", o.model},
                {"threads", s.pool().num_threads()},
                {"fast", o.fast},
                {"repeat", o.repeat},
                {"round_medians_seconds", ours},
                {"median_seconds", med},
                {"spread_seconds", {*omin, *omax}},
                {"peak_rss_bytes", rss},
                {"peak_activation_bytes", s.stats().peak_bytes}};
  res.text = fmt::format(
      "lowbit: median {:.2f} ms over {} rounds of {} runs (rounds {:.2f} .. "
      "{:.2f} ms), "
      "peak RSS {:.1f} MiB, activations {:.1f} MiB\n",
      1e3 * med, ours.size(), o.repeat, 1e3 * *omin, 1e3 * *omax,
      static_cast<double>(rss) / (1 << 20),
      static_cast<double>(s.stats().peak_bytes) / (1 << 20));
  if (!theirs.empty()) {
    const double om = Median(theirs);
    auto [tmin, tmax] = std::minmax_element(theirs.begin(), theirs.end());
    std::vector<double> ratios;
    for (size_t i = 0; i < theirs.size(); ++i)
      ratios.push_back(ours[i] / theirs[i]);
    auto [rmin, rmax] = std::minmax_element(ratios.begin(), ratios.end());
    res.report["ort"] = {{"model", o.ort_model.empty() ? o.model : o.ort_model},
                         {"round_medians_seconds", theirs},
                         {"median_seconds", om},
                         {"spread_seconds", {*tmin, *tmax}},
                         {"peak_rss_bytes", ort_rss}};
    res.report["ratio_to_ort"] = Median(ratios);
    res.report["ratio_spread"] = {*rmin, *rmax};
    if (!o.ort_model.empty())
      res.text += "ONNX Runtime runs " + o.ort_model + "\n";
    res.text += fmt::format(
        "ONNX Runtime: median {:.2f} ms (rounds {:.2f} .. {:.2f} ms), peak RSS "
        "{:.1f} MiB\n"
        "ratio to ONNX Runtime: {:.3f} (per round {:.3f} .. {:.3f})\n",
        1e3 * om, 1e3 * *tmin, 1e3 * *tmax,
        static_cast<double>(ort_rss) / (1 << 20), Median(ratios), *rmin, *rmax);
  } else {
    res.report["ort_skipped"] = ort_note;
    res.text += "ONNX Runtime not measured: " + ort_note + "\n";
  }
  return res;
}

}  // namespace lowbit
