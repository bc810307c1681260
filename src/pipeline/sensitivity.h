// Sensitivity of an ONNX model's output to each weight's quantization, and
// the mixed-precision choice it enables (issue 14):
//   - every selected weight is quantized alone (with the method and the
//     calibration statistics, pipeline/quantize_layer.h) under each candidate
//     spec, its decoded values put in place of the float weight, and the
//     model run on calibration samples on lowbit's engine: the output error
//     is sum ||y_q - y||^2 / sum ||y||^2 over the samples and outputs;
//   - the bytes each candidate takes are those the ONNX writer stores;
//   - ChooseMixedPrecision: per layer one candidate, minimising the sum of
//     output errors (assumed additive) with the total bytes within
//     target_bpw bits per quantized weight: from the smallest candidate of
//     every layer, the upgrade of best error decrease per added byte that
//     still fits, until none fits.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "io/calib_stats_file.h"
#include "pipeline/quantize_model.h"

namespace lowbit {

struct LayerCost {
  std::string spec;
  int64_t stored_bytes = 0;   // in the written file
  double output_error = 0.0;  // relative squared error of the outputs
  double layer_error = -1.0;  // tr(D H D^T), -1 without statistics
  std::string method;         // what made the codes
};

struct LayerSensitivity {
  std::string weight, op;
  int64_t params = 0;
  std::vector<LayerCost> costs;  // one per candidate, in their order
};

struct SensitivityResult {
  std::vector<LayerSensitivity> layers;  // the model's order
  int64_t samples = 0;
  double seconds = 0.0;
  nlohmann::json report;
};

// o.model (ONNX), o.calib (samples; statistics collected from all of them
// unless o.stats is given), o.method, the selection options; the output
// error over the first o.sensitivity_samples samples. `candidates`: specs
// (ConfigForSpec).
// `stats`: statistics already at hand (then o.stats and collection are
// skipped), or null.
Result<SensitivityResult> MeasureSensitivity(
    const QuantizeModelOptions& o, const std::vector<std::string>& candidates,
    const CalibStatsFile* stats = nullptr);

struct MixedChoice {
  std::map<std::string, std::string> spec_by_tensor;
  int64_t bytes = 0, budget = 0, params = 0;
  double output_error = 0.0;  // the sum of the chosen layers' errors
};

// The choice within target_bpw (InvalidArgument naming the smallest bits
// per weight the candidates allow when even that does not fit). `allowed`:
// which candidates (by index) may be chosen; empty: all.
Result<MixedChoice> ChooseMixedPrecision(const SensitivityResult& s,
                                         double target_bpw,
                                         const std::vector<bool>& allowed = {});

}  // namespace lowbit
