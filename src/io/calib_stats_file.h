// Calibration statistics files (`lowbit stats`, `quantize --stats`): a
// safetensors file, per layer (by weight name W):
//   W.xtx         f32 [groups, K, K]  E[x x^T] over the layer's input rows
//   W.x_abs_mean  f32 [groups, K]     E|x| per column
//   W.x_sq_mean   f32 [groups, K]     E[x^2] per column
//   W.y_mean      f32 [M]             mean of each output channel
//   W.y_sq_mean   f32 [M]             mean square of each output channel
// and the metadata key "lowbit.stats", a JSON object: version (1), model
// (file name), samples, mode ("fp32": every layer's inputs from the float
// model), and per layer op, node, rows (input rows seen per group), groups,
// cols, outputs. docs/formats.md §11.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/calib_stats.h"
#include "io/safetensors.h"

namespace lowbit {

struct CalibInfo {
  std::string model, mode = "fp32";
  int64_t samples = 0;
};

// Writes the collector's layers (after Finish()) to `path` (temporary file +
// rename). Layers that saw no input rows are left out.
Status WriteCalibStats(const std::string& path,
                       const std::map<std::string, graph::LayerStats>& layers,
                       const CalibInfo& info);

// One layer, read back (means, not sums).
struct CalibLayer {
  std::string weight, op, node;
  int64_t groups = 1, cols = 0, rows = 0, outputs = 0;
  std::vector<float> xtx;                    // groups x cols x cols
  std::vector<float> x_abs_mean, x_sq_mean;  // groups x cols
  std::vector<float> y_mean, y_sq_mean;      // outputs
};

class CalibStatsFile {
 public:
  // Reads and checks every layer: the metadata, each tensor's presence,
  // dtype and shape, finite values, a symmetric xtx. BadInput naming the file
  // and what is wrong.
  static Result<std::unique_ptr<CalibStatsFile>> Open(const std::string& path);
  // The same from statistics just collected (no file; path() is `origin`).
  static std::unique_ptr<CalibStatsFile> FromLayers(
      const std::map<std::string, graph::LayerStats>& layers,
      const CalibInfo& info, const std::string& origin);
  const std::string& path() const { return path_; }
  const CalibInfo& info() const { return info_; }
  // The layer of weight `name`, or null.
  const CalibLayer* Find(const std::string& name) const;
  const std::map<std::string, CalibLayer>& layers() const { return layers_; }

 private:
  std::string path_;
  CalibInfo info_;
  std::map<std::string, CalibLayer> layers_;
};

}  // namespace lowbit
