// Calibration: the statistics of every weight layer of an ONNX model over
// sample inputs (graph/calib_stats.h), for `lowbit stats` and for
// `quantize --calib`. The samples are a folder of
//   - .npy files, each one value of the model's single input (shapes may
//     differ where the model allows it, e.g. text lines of any width); or
//   - line images (.png, .pgm, .ppm) with --calib-task ocr: PaddleOCR's
//     recognizer preprocessing (eval/ocr.h). When the folder holds a
//     labels.tsv (scripts/render_ocr_lines.sh), only the images it lists.
// Files are taken in name order, streamed: one sample in memory at a time.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/calib_stats.h"
#include "io/calib_stats_file.h"

namespace lowbit {

struct CalibOptions {
  std::string model;
  std::string calib_dir;
  std::string task;  // "" (.npy samples) or "ocr" (line images)
  int threads = 0;
  int64_t max_samples = 0;  // 0: all
  bool progress = true;     // a line per sample on stderr when a terminal
};

struct CalibResult {
  std::map<std::string, graph::LayerStats> layers;  // Finish()ed
  CalibInfo info;
  double seconds = 0.0;          // the whole collection
  double forward_seconds = 0.0;  // the same runs without statistics
  nlohmann::json report;
};

// The sample files of a calibration folder, in order (checked: the folder
// exists and holds samples of one kind). InvalidArgument names the folder.
Result<std::vector<std::string>> CalibSampleFiles(const std::string& dir,
                                                  const std::string& task);

// One sample as the model's input: the .npy file, or the line image
// preprocessed for task "ocr" (padded to `ocr_pad_width` as PaddleOCR pads
// what it reads, eval_ocr.h; 0: the resized width, as statistics take it).
Result<graph::Tensor> LoadCalibSample(const std::string& file,
                                      const std::string& task,
                                      int64_t ocr_pad_width = 0);

// Runs every sample through the model (no fusion) with the collector. Also
// times plain forward passes of the first samples, so that the report can
// show what the statistics cost. InvalidArgument / BadInput name the model,
// the folder or the sample file.
Result<CalibResult> CollectCalibStats(const CalibOptions& o);

// `lowbit stats`: CollectCalibStats, then the statistics file (temporary
// file + rename).
Result<CalibResult> WriteModelStats(const CalibOptions& o,
                                    const std::string& out);

}  // namespace lowbit
