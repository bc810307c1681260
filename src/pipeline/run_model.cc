#include "pipeline/run_model.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>

#include "graph/session.h"
#include "io/npy.h"
#include "io/onnx_import.h"
#include "kernels/qgemm.h"

namespace lowbit {

std::string OutputFileName(const std::string& output_name) {
  std::string s = output_name;
  for (char& ch : s) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
                    ch == '-';
    if (!ok) ch = '_';
  }
  if (s.empty() || s == "." || s == "..") s = "_" + s;
  return s + ".npy";
}

Result<RunModelResult> RunModel(const RunModelOptions& o) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  LB_ASSIGN_OR_RETURN(auto g, ImportOnnx(o.model));
  graph::SessionOptions so;
  so.threads = o.threads;
  so.fast = o.fast;
  so.profile = o.profile;
  auto session = graph::Session::Create(g, so);
  if (!session.ok()) return session.status().WithPrefix(o.model);
  graph::Session& s = **session;
  const double load_s =
      std::chrono::duration<double>(Clock::now() - t0).count();
  std::map<std::string, graph::Tensor> feeds;
  for (const auto& [name, path] : o.inputs) {
    LB_ASSIGN_OR_RETURN(feeds[name], ReadNpy(path));
  }
  std::vector<graph::Tensor> out;
  std::vector<double> times;
  for (int r = 0; r < std::max(1, o.repeat); ++r) {
    const auto t1 = Clock::now();
    auto res = s.Run(feeds);
    if (!res.ok()) return res.status().WithPrefix(o.model);
    times.push_back(std::chrono::duration<double>(Clock::now() - t1).count());
    out = std::move(res).value();
    // The profile leaves out the first run when there are more: it pays
    // one-time costs (oneDNN's kernel generation, first touches of buffers).
    if (r == 0 && o.repeat > 1) s.ResetProfile();
  }
  const int64_t profiled_runs =
      o.repeat > 1 ? static_cast<int64_t>(times.size()) - 1 : 1;
  // The folder is made only once the model has run: a refusal leaves nothing.
  std::error_code ec;
  std::filesystem::create_directories(o.output_dir, ec);
  if (!std::filesystem::is_directory(o.output_dir)) {
    return InvalidArgument("--output-dir " + o.output_dir +
                           ": not a folder and cannot be created");
  }
  RunModelResult result;
  nlohmann::json outs = nlohmann::json::array();
  for (size_t k = 0; k < out.size(); ++k) {
    const std::string& name = s.outputs()[k].name;
    const std::string file =
        (std::filesystem::path(o.output_dir) / OutputFileName(name)).string();
    LB_RETURN_IF_ERROR(WriteNpy(file, out[k]));
    outs.push_back({{"name", name},
                    {"file", file},
                    {"dtype", std::string(DTypeName(out[k].dtype()))},
                    {"shape", out[k].shape()}});
    result.text += fmt::format("{} {} -> {}\n", name, out[k].Describe(), file);
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  result.report = {
      {"model", o.model},
      {"outputs", outs},
      {"load_seconds", load_s},
      {"run_seconds", times},
      {"median_run_seconds", median},
      {"peak_activation_bytes", s.stats().peak_bytes},
      {"buffers", s.stats().buffers},
      {"buffer_bytes", s.stats().buffer_bytes},
      {"threads", s.pool().num_threads()},
      {"fast", o.fast},
      {"quantized_weights", s.stats().quantized_weights},
      {"fast_weights", s.stats().fast_weights},
      {"quantized_weight_bytes", s.stats().quantized_weight_bytes}};
  // Which integer kernel --fast's products ran on (kernels/qgemm.h).
  const char* kernel = QGemmKernelName(QGemmBestKernel());
  if (o.fast) result.report["fast_kernel"] = kernel;
  if (o.profile) {
    std::vector<std::pair<double, std::string>> ops;
    nlohmann::json prof = nlohmann::json::object();
    for (const auto& [op, e] : s.stats().op_seconds) {
      ops.emplace_back(e.first, op);
      prof[op] = {{"seconds", e.first}, {"calls", e.second}};
    }
    std::sort(ops.rbegin(), ops.rend());
    double total = 0;
    for (const auto& [sec, op] : ops) total += sec;
    for (const auto& [sec, op] : ops) {
      result.text += fmt::format("  {:<24} {:8.3f} ms per run  {:5.1f}%\n", op,
                                 1e3 * sec / profiled_runs,
                                 total > 0 ? 100.0 * sec / total : 0.0);
    }
    result.report["op_seconds"] = prof;
  }
  result.text += fmt::format(
      "ran {} in {:.2f} ms (median of {}), loaded in {:.1f} ms, peak "
      "activations {:.2f} MiB\n",
      o.model, 1e3 * median, times.size(), 1e3 * load_s,
      static_cast<double>(s.stats().peak_bytes) / (1 << 20));
  if (s.stats().quantized_weights > 0) {
    result.text += fmt::format(
        "{} weights kept quantized ({:.2f} MiB){}\n",
        s.stats().quantized_weights,
        static_cast<double>(s.stats().quantized_weight_bytes) / (1 << 20),
        o.fast ? fmt::format(", {} on int8 activations (--fast, the {} kernel)",
                             s.stats().fast_weights, kernel)
               : std::string(", decoded per product (exact)"));
  }
  return result;
}

}  // namespace lowbit
