// QuantizeModel: the whole `quantize` job on a model file, for the command,
// the engine, calibration and training alike. It reads the model (safetensors,
// GGUF or ONNX), selects tensors, quantizes each with its scheme, writes the
// result (temporary file + rename: nothing is left on failure) and reports the
// error of every tensor, measured on the codes in memory as they are written.
//
// safetensors: lowbit's schemes, written as lowbit's quantized safetensors.
// GGUF: ggml's block formats, streamed row chunk by row chunk (memory bounded
// by one tensor's mapped input), every key and non-weight tensor kept.
// ONNX: the weights of Conv, ConvTranspose, Gemm, MatMul (and Gather), one
// scale per output channel along the operator's channel axis, written as QDQ,
// a decode subgraph, MatMulNBits or floats (io/onnx_quantized.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "io/calib_stats_file.h"
#include "quant/config.h"

namespace lowbit {

struct QuantizeModelOptions {
  std::string model, out;
  // A lowbit scheme (int4, nf4, ...) or, for GGUF, a ggml type (q4_k, ...).
  std::string scheme;
  std::vector<std::string> rules;             // REGEX=SCHEME, first match wins
  std::vector<std::string> include, exclude;  // regexes on tensor names
  int64_t min_elements = 0;
  // Shape of lowbit's schemes (not GGUF): at most one of the three.
  bool per_tensor = false, per_channel = false;
  int64_t group_size = 0;
  bool symmetric = false, asymmetric = false;
  // Asymmetric int zero points: "code", "f16", or "auto": f16 for int2
  // (measured: the recognizer's int2 g32 GPTQ reads 83% with f16 zero points,
  // 8% with codes), code otherwise (QDQ and the integer kernels take them).
  std::string zero_point = "auto";
  // minmax, percentile:P, mse, or gptq (with --calib or --stats: GPTQ's
  // codes on the mse search's scales, weighted by the statistics).
  std::string method = "mse";
  // --method brecq (pipeline/brecq.h): Adam steps per block, samples per
  // step, the rounding regulariser's weight, Adam's step size (defaults
  // measured on the recognizer, docs/benchmarks.md).
  int brecq_iterations = 100;
  int64_t brecq_batch = 4;
  double brecq_lambda = 1.0;
  double brecq_lr = 0.05;
  // mse, or fisher (BRECQ's Fisher-weighted block error, with fp32's
  // decisions as labels, for models ending in a Softmax; measured no better
  // on the recognizer).
  std::string brecq_loss = "mse";
  // Where the learned rounding starts: "codes" (GPTQ's, each weight choosing
  // between its code and the neighbour towards the weight) or "weights"
  // (AdaRound's: the float weight, between the two nearest codes).
  std::string brecq_init = "codes";
  std::string scale_dtype = "auto";  // auto, f16, f32
  std::string importance;            // safetensors of per-column weights
  // Calibration (ONNX models): samples to collect statistics from on lowbit's
  // engine (pipeline/calibrate.h), or a statistics file from `lowbit stats`.
  // With either, every method's scale search is weighted by E[x^2] per
  // input column (unless --importance is given).
  std::string calib, calib_task, stats;
  int64_t calib_samples = 0;  // 0: all
  // Calibration passes (--calib): 1, every layer's inputs from the fp32
  // model; 2 and more, sequential: pass k takes each layer's inputs from the
  // model quantized with pass k - 1's statistics.
  int calib_passes = 1;
  // GPTQ's least-squares refit of the scales on the layer-output error
  // (quant/scale_refit.h); --no-gptq-refit keeps the search's scales.
  bool gptq_refit = true;
  // ONNX: input-channel equalization (quant/equalize.h) for the minmax,
  // percentile, mse and hqq fits: "on", "off", or "auto": on for asymmetric
  // int with f16 zero points in groups of at most 128, HQQ excepted (measured
  // on the
  // recognizer, data-free: int4 g32 98.2 -> 98.8%, int4 g128 46 -> 71%, int3
  // g32 8 -> 49% of characters; per channel it loses, 70 -> 45%).
  std::string equalize = "auto";
  int threads = 0;  // 0: all cores
  uint64_t seed = 0x10b17;
  // ONNX only.
  std::string onnx_format = "auto";  // auto, qdq, decode, float, matmulnbits
  bool gather = false;
  bool external_data = false;
  // Mixed precision (ONNX, with --calib): per-layer choice among candidate
  // specs (ConfigForSpec) minimising the measured output error within
  // target_bpw bits per quantized weight as stored (pipeline/sensitivity.h).
  double target_bpw = 0.0;  // 0: off
  std::vector<std::string> candidates;
  int64_t sensitivity_samples = 16;
  // Calibration samples the trial choices are run on (pipeline/
  // mixed_precision.h); 0: all.
  int64_t decision_samples = 0;
  // Chosen spec by tensor name (what the mixed-precision search fills);
  // before --rule and --scheme.
  std::map<std::string, std::string> spec_by_tensor;
};

// A scheme with an optional shape, as --candidates takes them:
// SCHEME[:gN|:channel|:tensor][:asym|:sym][:zf16|:zcode] ("int4:g32",
// "int8:channel", "int3:g32:asym"); without a suffix the command's own options
// apply.
Result<QuantConfig> ConfigForSpec(const QuantizeModelOptions& o,
                                  const std::string& spec);

// The calibration statistics the options name: --stats read, --calib
// collected on lowbit's engine, or null when neither is given.
Result<std::unique_ptr<CalibStatsFile>> CalibrationStats(
    const QuantizeModelOptions& o);

struct QuantizeModelResult {
  nlohmann::json report;  // per-tensor and total figures (`--json`)
  std::string text;       // the same as a table, for people
  int64_t quantized = 0;  // tensors quantized
  double seconds = 0.0;   // reading, quantizing, writing and measuring
};

// Runs the job. Every scheme named (default and rules) must suit the input's
// format, whether or not a tensor uses it. InvalidArgument / BadInput name
// the option or the file and tensor.
Result<QuantizeModelResult> QuantizeModel(const QuantizeModelOptions& o);

// The configuration of lowbit scheme `name` under the options (checked).
Result<QuantConfig> ConfigFor(const QuantizeModelOptions& o,
                              const std::string& name);

}  // namespace lowbit
