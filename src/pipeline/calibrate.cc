#include "pipeline/calibrate.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

#include "core/progress.h"
#include "eval/ocr.h"
#include "graph/session.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/onnx_import.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

bool IsImage(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), ::tolower);
  return e == ".png" || e == ".pgm" || e == ".ppm";
}

bool IsNpy(const fs::path& p) { return p.extension() == ".npy"; }

}  // namespace

Result<std::vector<std::string>> CalibSampleFiles(const std::string& dir,
                                                  const std::string& task) {
  const std::string where = "--calib " + dir;
  if (!task.empty() && task != "ocr") {
    return InvalidArgument("--calib-task " + task +
                           ": unknown task (ocr, or none for .npy samples)");
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return InvalidArgument(where + ": not a folder");
  }
  std::vector<std::string> npy, images;
  const fs::path labels = fs::path(dir) / "labels.tsv";
  if (task == "ocr" && fs::is_regular_file(labels, ec)) {
    LB_ASSIGN_OR_RETURN(auto lines, ReadOcrLabels(labels.string()));
    for (const OcrLabel& l : lines) {
      images.push_back((fs::path(dir) / l.file).string());
    }
  } else {
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (!e.is_regular_file()) continue;
      if (IsNpy(e.path())) npy.push_back(e.path().string());
      if (IsImage(e.path())) images.push_back(e.path().string());
    }
    if (ec) return InvalidArgument(where + ": " + ec.message());
    std::sort(npy.begin(), npy.end());
    std::sort(images.begin(), images.end());
  }
  if (task == "ocr") {
    if (images.empty()) {
      return InvalidArgument(where +
                             ": no line images (.png, .pgm, .ppm) for "
                             "--calib-task ocr");
    }
    return images;
  }
  if (npy.empty()) {
    return InvalidArgument(
        where + (images.empty()
                     ? ": no samples (.npy files, one model input each)"
                     : ": holds images but no .npy samples; give "
                       "--calib-task ocr to read line images"));
  }
  return npy;
}

Result<graph::Tensor> LoadCalibSample(const std::string& file,
                                      const std::string& task,
                                      int64_t ocr_pad_width) {
  if (task == "ocr") {
    LB_ASSIGN_OR_RETURN(Image img, ReadImage(file));
    return PreprocessOcrLine(img, ocr_pad_width);
  }
  return ReadNpy(file);
}

Result<CalibResult> CollectCalibStats(const CalibOptions& o) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  LB_ASSIGN_OR_RETURN(std::vector<std::string> files,
                      CalibSampleFiles(o.calib_dir, o.task));
  if (o.max_samples > 0 && static_cast<int64_t>(files.size()) > o.max_samples) {
    files.resize(static_cast<size_t>(o.max_samples));
  }
  LB_ASSIGN_OR_RETURN(auto g, ImportOnnx(o.model));
  if (g->inputs.size() != 1) {
    return InvalidArgument(o.model +
                           ": calibration feeds models with one "
                           "input; this one has " +
                           std::to_string(g->inputs.size()));
  }
  const std::string input = g->inputs[0].name;
  graph::CalibStatsCollector col;
  graph::SessionOptions so;
  so.threads = o.threads;
  so.fuse = false;  // layers keep their weights' names and own outputs
  so.observer = &col;
  auto session = graph::Session::Create(g, so);
  if (!session.ok()) return session.status().WithPrefix(o.model);
  Progress progress(static_cast<int64_t>(files.size()), "samples");
  double run_s = 0.0;
  for (const std::string& f : files) {
    LB_ASSIGN_OR_RETURN(graph::Tensor x, LoadCalibSample(f, o.task));
    const auto t1 = Clock::now();
    auto out = (*session)->Run({{input, x}});
    if (!out.ok()) {
      return out.status().WithPrefix(o.model + ": calibration sample " + f);
    }
    run_s += std::chrono::duration<double>(Clock::now() - t1).count();
    if (o.progress) progress.Step(fs::path(f).filename().string());
  }
  progress.Done();
  col.Finish();
  CalibResult r;
  r.layers = col.layers();
  r.info.model = fs::path(o.model).filename().string();
  r.info.samples = static_cast<int64_t>(files.size());
  r.info.mode = "fp32";
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.forward_seconds = run_s - col.seconds();
  int64_t used = 0;
  for (const auto& [name, s] : r.layers) used += s.rows > 0;
  r.report = {{"model", o.model},
              {"samples", r.info.samples},
              {"mode", r.info.mode},
              {"layers", used},
              {"seconds", r.seconds},
              {"forward_seconds", r.forward_seconds},
              {"statistics_seconds", col.seconds()}};
  if (used == 0) {
    return InvalidArgument(o.model +
                           ": no layer with a constant weight (Conv, Gemm, "
                           "MatMul) ran; there is nothing to calibrate");
  }
  return r;
}

Result<CalibResult> WriteModelStats(const CalibOptions& o,
                                    const std::string& out) {
  if (fs::path(out).extension() != ".safetensors") {
    return InvalidArgument("-o " + out +
                           ": statistics are written to .safetensors files");
  }
  LB_ASSIGN_OR_RETURN(CalibResult r, CollectCalibStats(o));
  LB_RETURN_IF_ERROR(WriteCalibStats(out, r.layers, r.info));
  r.report["output"] = out;
  return r;
}

}  // namespace lowbit
